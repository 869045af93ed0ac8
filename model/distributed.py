"""Training in several processes with PyTorch's distributed data parallel, as launched by ``torchrun``.

``torchrun --nproc-per-node N`` (and ``--nnodes M`` with a rendezvous for several machines) starts N processes
and tells each its place through the environment: ``RANK`` (0 .. WORLD_SIZE - 1 over every machine),
``WORLD_SIZE`` and ``LOCAL_RANK`` (the process's number on its machine, which picks its GPU).
``ProcessGroup.from_environment`` reads them and joins the group: NCCL between GPUs, gloo on CPUs. Without
them it is a single process, and every method here is a no-op, so the training code reads the same either way.

Each rank embeds its own batch. ``gather`` concatenates the ranks' embeddings in rank order with
``torch.distributed.nn.functional.all_gather``, whose backward pass sends each rank the gradient of its own
slice summed over the ranks: when every rank computes the same loss on the gathered batch, that sum is
``WORLD_SIZE`` times the single-process gradient, and DistributedDataParallel's averaging brings it back to
exactly the gradient a single process would compute on the whole gathered batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the training processes: ``rank`` of ``world_size``, ``local_rank`` on its
    machine. The default is a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, writes metrics and saves checkpoints."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, backend: str, timeout_minutes: float = 30.0) -> "ProcessGroup":
        """Join the process group that ``torchrun`` describes in the environment, or stay a single process when
        ``WORLD_SIZE`` is unset or 1. ``backend``: ``"nccl"`` for GPUs, ``"gloo"`` for CPUs."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        missing = [name for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise ValueError(
                f"WORLD_SIZE is {world_size} but {', '.join(missing)} is not set: launch several processes with "
                "torchrun (e.g. torchrun --nproc-per-node 2 -m app.cli train ...), which sets them all"
            )
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=int(os.environ["LOCAL_RANK"]))

    def close(self) -> None:
        """Leave the process group (every rank must call it)."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait until every rank gets here (rank 0 writing a file the others then read, say)."""
        if self.distributed:
            dist.barrier()

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor`` (same shape on each) concatenated along dimension 0 in rank order. Gradients
        flow back to each rank's own slice (summed over the ranks that used it)."""
        if not self.distributed:
            return tensor
        if tensor.requires_grad:
            from torch.distributed.nn.functional import all_gather

            return torch.cat(all_gather(tensor), dim=0)
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of ``values`` over the ranks (a copy; for logging figures)."""
        if not self.distributed:
            return values
        values = values.detach().clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.world_size

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Average the gradients of ``parameters`` over the ranks, for parameters that live outside the
        DistributedDataParallel module (CosFace's class weights, say)."""
        if not self.distributed:
            return
        for parameter in parameters:
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
                parameter.grad /= self.world_size

    def broadcast(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Give every rank rank 0's values of ``parameters`` (those outside the DistributedDataParallel module)."""
        if not self.distributed:
            return
        with torch.no_grad():
            for parameter in parameters:
                dist.broadcast(parameter.data, src=0)

    def all_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (any picklable value), in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def select_device(name: str, group: ProcessGroup = ProcessGroup()) -> torch.device:
    """``"auto"``: this rank's GPU (``cuda:LOCAL_RANK``) when CUDA is available, else the CPU; ``"cuda"``
    insists on a GPU and says so when there is none; ``"cpu"`` is the CPU."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu (or auto)")
    index = group.local_rank
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"local rank {index} has no GPU of its own: this machine has {torch.cuda.device_count()}; start at most "
            f"that many processes per machine (torchrun --nproc-per-node)"
        )
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def backend_for(device_name: str) -> str:
    """The collective backend for a device choice: NCCL for GPUs, gloo for CPUs."""
    gpu = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    return "nccl" if gpu else "gloo"
