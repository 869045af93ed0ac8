"""Distillation through the trainer: its settings (refused without a teacher, omitted when unused, named in the
run), the people it may learn from, and a tiny run end to end that `doppelganger evaluate` reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from model.config import DISTILL_SETTINGS, TrainConfig
from model.data.lfw import read_people_file
from model.data.tasks import make_parts
from model.hashing import file_sha256
from model.networks import EmbeddingNet
from model.run import RunDir

TINY = ["--backbone", "small_cnn", "--dim", "8", "--image-size", "32", "--pairs-per-epoch", "64", "--batch-size", "16"]


def test_distillation_settings_need_a_teacher_and_are_left_out_without_one() -> None:
    plain = TrainConfig()
    assert all(getattr(plain, name) is None for name in DISTILL_SETTINGS) and plain.face_template is None
    assert not set(DISTILL_SETTINGS) & set(plain.to_dict()) and "teacher" not in plain.to_dict()
    for name in DISTILL_SETTINGS:
        with pytest.raises(ValueError, match=f"--{name.replace('_', '-')} applies to distillation only"):
            TrainConfig(**{name: 1.0 if name != "distill_distance" else "l2"})
    distilled = TrainConfig(protocol="devtrain", teacher="face_reid_0095", dim=256)
    assert {name: getattr(distilled, name) for name in DISTILL_SETTINGS} == DISTILL_SETTINGS
    assert distilled.face_template == "face_reid_0095"  # the student sees the teacher's aligned faces
    assert TrainConfig.from_saved(distilled.to_dict()) == distilled
    with pytest.raises(ValueError, match="not all 0"):
        TrainConfig(teacher="face_reid_0095", distill_embedding=0.0, distill_relation=0.0)
    with pytest.raises(ValueError, match="0 or more"):
        TrainConfig(teacher="face_reid_0095", distill_relation=-1.0)
    with pytest.raises(ValueError, match="--dataset lfw only"):
        TrainConfig(dataset="tt100k", teacher="face_reid_0095")


def test_the_metric_loss_and_its_settings_are_off_at_weight_0() -> None:
    off = TrainConfig(teacher="face_reid_0095")
    assert not off.uses_metric_loss and off.pairs is None and "pairs" not in off.to_dict()
    with pytest.raises(ValueError, match="--pairs sets the metric loss, which --metric-weight 0 switches off"):
        TrainConfig(teacher="face_reid_0095", pairs="pk")
    with pytest.raises(ValueError, match="leave --loss and --margin out"):
        TrainConfig(teacher="face_reid_0095", loss="triplet")
    on = TrainConfig(teacher="face_reid_0095", loss="triplet", metric_weight=0.5)
    assert on.uses_metric_loss and on.miner == "semi-hard" and on.to_dict()["metric_weight"] == 0.5
    assert TrainConfig.from_saved(off.to_dict()) == off and TrainConfig.from_saved(on.to_dict()) == on


def test_run_names_say_distilled_from_which_teacher_and_with_what() -> None:
    base = {"protocol": "devtrain", "min_images": 2, "dim": 256, "image_size": 96}
    assert (TrainConfig(**base, extra_data="celeba10k", teacher="face_reid_0095").default_run_name()
            == "lfwdevtrain2+celeba10k-distill-face_reid_0095-mobilenet_v2-d256-px96-s0")
    assert (TrainConfig(**base, teacher="runs/default/", distill_relation=0.0).default_run_name()
            == "lfwdevtrain2-distill-default-rel0-mobilenet_v2-d256-px96-s0")
    assert (TrainConfig(**base, teacher="face_reid_0095", distill_distance="l2", distill_embedding=2.0).default_run_name()
            == "lfwdevtrain2-distill-face_reid_0095-emb2-l2-mobilenet_v2-d256-px96-s0")
    assert (TrainConfig(**base, teacher="face_reid_0095", loss="triplet", metric_weight=1.0).default_run_name()
            == "lfwdevtrain2-distill-face_reid_0095-triplet-semi-hard-mobilenet_v2-d256-px96-s0")
    assert (TrainConfig(**base, teacher="face_reid_0095", metric_weight=0.1).default_run_name()
            == "lfwdevtrain2-distill-face_reid_0095-contrastive-mw0.1-mobilenet_v2-d256-px96-s0")
    assert TrainConfig(**base, face_template="face_reid_0095").default_run_name() == "lfwdevtrain2-contrastive-mobilenet_v2-aligned-d256-px96-s0"
    assert TrainConfig().default_run_name() == "lfw20-contrastive-mobilenet_v2-d64-s0"  # runs without a teacher: unchanged


@pytest.mark.slow
def test_devtrain_never_trains_on_devtest_people(data_dir: Path) -> None:
    """The student's training and validation people are DevTrain's (CelebA's with --extra-data): none of DevTest's."""
    devtest = set(read_people_file(data_dir / "lfw" / "peopleDevTest.txt"))
    devtrain = set(read_people_file(data_dir / "lfw" / "peopleDevTrain.txt"))
    assert devtest and devtrain and not devtest & devtrain
    parts = make_parts("lfw", data_dir, 2, 0, "devtrain")
    for name in ("train", "val"):
        people = {path.split("/")[0] for path in parts[name].paths}
        assert people <= devtrain and not people & devtest, name
    assert {path.split("/")[0] for path in parts["test"].paths} <= devtest
    assert not {p.split("/")[0] for p in parts["train"].paths} & {p.split("/")[0] for p in parts["val"].paths}


def _teacher_run(path: Path) -> RunDir:
    """An untrained small_cnn at 32 px, 16-d, as a run: a teacher with no weights file to fetch (``--epochs 0``)."""
    run = RunDir(path)
    run.write_config(TrainConfig(protocol="devtrain", backbone="small_cnn", pretrained=False, dim=16, image_size=32, epochs=0, min_images=10))
    run.checkpoints.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": -1}, run.checkpoint("best"))
    return run


@pytest.fixture(scope="module")
def distilled(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunDir]:
    """A small_cnn student (8-d: projected to its teacher's 16) distilled for one epoch of four batches, with the
    contrastive loss at weight 0.5."""
    root = tmp_path_factory.mktemp("distill")
    teacher = _teacher_run(root / "teacher")
    student = root / "student"
    assert main(["train", "--protocol", "devtrain", "--min-images", "10", "--teacher", str(teacher.path), "--metric-weight", "0.5",
                 "--epochs", "1", *TINY, "--out", str(student)]) == 0
    return student, teacher


@pytest.mark.slow
def test_a_distilled_run_records_its_teacher_and_terms(distilled: tuple[Path, RunDir]) -> None:
    student, teacher = distilled
    config = json.loads((student / "config.json").read_text())
    assert config["teacher"] == str(teacher.path) and config["metric_weight"] == 0.5 and config["pairs"] == "pk"  # the contrastive default
    assert "face_template" not in config  # its teacher sees LFW's frames
    assert json.loads((student / "teacher.json").read_text())["sha256"] == file_sha256(teacher.checkpoint("best"))
    [record] = [json.loads(line) for line in (student / "metrics.jsonl").read_text().splitlines()]
    for key in ("loss", "distill_embedding", "distill_relation", "metric_loss", "val_map_at_r", "pos_dist", "spread"):
        assert np.isfinite(record[key]), key
    assert "val_teacher_cos" not in record  # 8-d student, 16-d teacher: no common space to compare in
    # The teacher embedded the training and validation images, never a test (DevTest) one.
    from model.settings import get_settings

    [meta_file] = Path(get_settings().cache_dir).glob("teacher-teacher-*.json")
    cached = set(json.loads(meta_file.read_text())["paths"])
    split = json.loads((student / "split.json").read_text())["parts"]
    assert cached == set(split["train"]["paths"]) | set(split["val"]["paths"])
    assert not cached & set(split["test"]["paths"])


@pytest.mark.slow
def test_a_second_run_reads_the_teacher_from_its_cache(distilled: tuple[Path, RunDir], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The teacher ran once, for the first run: the next run with the same teacher never runs it."""
    import model.teacher

    _, teacher = distilled
    monkeypatch.setattr(model.teacher.Teacher, "embedder", lambda self, threads=0: pytest.fail("the teacher ran again"))
    assert main(["train", "--protocol", "devtrain", "--min-images", "10", "--teacher", str(teacher.path), "--distill-relation", "0",
                 "--epochs", "1", *TINY, "--dim", "16", "--out", str(tmp_path / "again")]) == 0
    [record] = [json.loads(line) for line in (tmp_path / "again" / "metrics.jsonl").read_text().splitlines()]
    assert "distill_relation" not in record and "metric_loss" not in record and -1 <= record["val_teacher_cos"] <= 1


@pytest.mark.slow
def test_a_distilled_run_is_evaluated_and_exported_like_any_run(distilled: tuple[Path, RunDir]) -> None:
    from model.inference import Embedder

    student, _ = distilled
    assert main(["evaluate", str(student), "--no-baselines"]) == 0
    result = json.loads((student / "eval.json").read_text())
    for key in ("lfw_view2_unseen_acc", "lfw_devtest_acc", "lfw62_knn1_acc", "map_at_r"):
        assert 0.0 <= result[key] <= 1.0, key
    assert "distilled from" in (student / "eval.md").read_text()
    embedder = Embedder.from_run(student, backend="onnx", threads=1)
    faces = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(embedder.embed(faces), Embedder.from_run(student, backend="torch", threads=1).embed(faces), atol=1e-4)


@pytest.mark.slow
def test_resuming_with_another_teacher_is_refused(distilled: tuple[Path, RunDir], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    student, teacher = distilled
    run = tmp_path / "student"
    shutil.copytree(student, run)
    torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": -1}, tmp_path / "other.pt")
    shutil.copy(tmp_path / "other.pt", teacher.checkpoint("best"))  # the teacher is retrained in place
    try:
        assert main(["train", "--resume", "--epochs", "2", "--out", str(run)]) == 2
        assert "was distilled from" in capsys.readouterr().err
    finally:
        torch.manual_seed(1)
        torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": -1}, teacher.checkpoint("best"))
