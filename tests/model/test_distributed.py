"""Distributed training: the sampler, the process group, and two gloo processes on the CPU under torchrun that
train exactly as one process does on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model.config import TrainConfig
from model.distributed import ProcessGroup, select_device
from model.samplers import DistributedBatchSampler, PKSampler
from model.train import build_sampler, gathers_batch

WORKER = Path(__file__).with_name("distributed_worker.py")
REPO = Path(__file__).resolve().parents[2]


def torchrun(*args: str, nproc: int = 2, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node nproc ARGS`` with this interpreter, one thread per process."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


# --- the distributed PK sampler ---------------------------------------------------------------------------------

def test_every_rank_gets_whole_pk_batches_of_one_shared_stream() -> None:
    labels = np.repeat(np.arange(20), 5)
    base = PKSampler(labels, p=4, k=3, batches_per_epoch=6, seed=1)
    ranks = [DistributedBatchSampler(base, r, 3) for r in range(3)]
    every = base.batches(0)
    for r, sampler in enumerate(ranks):
        mine = sampler.batches(0)
        assert len(mine) == len(sampler) == 2
        for step, rows in enumerate(mine):
            np.testing.assert_array_equal(rows, every[step * 3 + r])
            counts = np.unique(labels[rows], return_counts=True)[1]
            assert len(counts) == 4 and set(counts) == {3}  # P classes x K images on this rank
    for step, global_rows in enumerate(ranks[0].global_batches(0)):
        np.testing.assert_array_equal(global_rows, np.concatenate([s.batches(0)[step] for s in ranks]))
    assert not np.array_equal(ranks[0].batches(1)[0], ranks[0].batches(0)[0])  # a new stream each epoch


def test_ranks_get_the_same_number_of_steps() -> None:
    base = PKSampler(np.repeat(np.arange(10), 4), p=2, k=2, batches_per_epoch=7, seed=0)
    assert [len(DistributedBatchSampler(base, r, 2).batches(0)) for r in range(2)] == [3, 3]
    with pytest.raises(ValueError, match="rank 2"):
        DistributedBatchSampler(base, 2, 2)


@pytest.mark.parametrize("loss", ["triplet", "contrastive", "cosface"])
def test_a_distributed_epoch_covers_as_many_images_in_fewer_steps(loss: str) -> None:
    labels = np.repeat(np.arange(30), 6)
    config = TrainConfig(loss=loss, batch_size=16, pairs_per_epoch=128, images_per_class=None if loss == "contrastive" else 4)
    single = build_sampler(config, labels)
    ranks = [build_sampler(config, labels, ProcessGroup(rank=r, world_size=2)) for r in range(2)]
    assert len(single.batches(0)) == 8
    assert [len(s.batches(0)) for s in ranks] == [4, 4]
    assert {len(rows) for s in ranks for rows in s.batches(0)} == {32}  # every rank a whole batch of 2 x 16 images


def test_the_miners_and_all_pairs_see_the_gathered_batch() -> None:
    assert gathers_batch(TrainConfig(loss="triplet"))
    assert gathers_batch(TrainConfig(loss="contrastive", pairs="batch"))
    assert not gathers_batch(TrainConfig(loss="contrastive", pairs="drawn"))
    assert not gathers_batch(TrainConfig(loss="cosface"))


# --- the process group and the device ---------------------------------------------------------------------------

def test_a_single_process_group_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    group = ProcessGroup.from_environment("gloo")
    assert group == ProcessGroup() and group.is_main and not group.distributed
    x = torch.randn(3, 2, requires_grad=True)
    assert group.gather(x) is x and group.all_objects("a") == ["a"]
    group.barrier()
    group.close()


def test_a_world_size_without_torchrun_says_how_to_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        ProcessGroup.from_environment("gloo")


def test_device_selection() -> None:
    assert select_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert select_device("auto").type == "cuda"
    else:
        assert select_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="no CUDA GPU"):
            select_device("cuda")
    with pytest.raises(ValueError, match="not one of"):
        select_device("tpu")


# --- two processes with gloo ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("loss", "miner"),
    [("triplet", "batch-hard"), ("triplet", "semi-hard"), ("cosface", None), ("contrastive", None)],
)
def test_two_processes_train_exactly_like_one_on_the_global_batch(tmp_path: Path, loss: str, miner: str | None) -> None:
    common = ["--out", str(tmp_path), "--loss", loss, *(["--miner", miner] if miner else []), "--steps", "3"]
    torchrun(str(WORKER), *common)
    subprocess.run([sys.executable, str(WORKER), *common, "--reference", "--world-size", "2"],
                   cwd=REPO, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    rank0, rank1, reference = (torch.load(tmp_path / f"weights-{n}.pt") for n in ("0", "1", "reference"))
    assert len(rank0) == len(reference) == 3
    initial_change = 0.0
    for step, (w0, w1, ref) in enumerate(zip(rank0, rank1, reference)):
        assert w0.keys() == ref.keys()
        for name in w0:
            assert torch.equal(w0[name], w1[name]), f"step {step}: the ranks disagree on {name}"
            torch.testing.assert_close(w0[name], ref[name], rtol=1e-4, atol=1e-5, msg=f"step {step}: {name}")
        if step == 0:
            initial_change = max(float((rank0[1][n] - w0[n]).abs().max()) for n in w0)
    assert initial_change > 1e-4  # the steps did move the weights


def test_rank_zero_alone_writes_the_run_and_it_resumes(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny = ["--dataset", "lfw", "--min-images", "20", "--backbone", "small_cnn", "--dim", "8", "--image-size", "32",
            "--pairs-per-epoch", "64", "--batch-size", "16", "--loss", "triplet", "--miner", "semi-hard"]
    result = torchrun("-m", "app.cli", "train", *tiny, "--epochs", "1", "--out", str(run))
    assert result.stdout.count("training lfw20-triplet-semi-hard") == 1  # printed once, by rank 0
    assert "2 processes, cpu, float32" in result.stdout
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]
    assert (run / "checkpoints" / "best.pt").exists()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert len(state["rng_per_rank"]) == 2
    assert not any(k.startswith("module.") for k in state["model"])  # loads without DDP

    torchrun("-m", "app.cli", "train", "--resume", "--epochs", "2", "--out", str(run))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    # fit() ends by comparing every rank's weights and fails if they differ, so both launches ending well means
    # the ranks trained in step (DDP wrapped the network, CosFace-style extra weights were averaged).
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2  # one writer per launch, rank 0's


def test_a_resumed_schedule_follows_the_epochs_not_the_saved_step_count() -> None:
    """Resuming on another number of processes changes the steps per epoch: the learning rate must be the one of
    the epoch reached, not of the saved step count (which would be half-way through, or past, the schedule)."""
    from model.train import lr_schedule, move_schedule

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([weight], lr=1e-3)
    schedule = lr_schedule(total_steps=100, warmup_steps=10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    saved = {**scheduler.state_dict(), "last_epoch": 90}  # 2 processes' steps, 1 process resumes at step 45
    scheduler.load_state_dict(saved)
    move_schedule(scheduler, schedule, 45)
    assert scheduler.last_epoch == 45
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * schedule(45))
    assert scheduler.get_last_lr() == [optimizer.param_groups[0]["lr"]]
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * schedule(46))
