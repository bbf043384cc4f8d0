"""Data-parallel training across processes started by ``torchrun`` (one per GPU; gloo on CPU for tests).

Every rank draws the same global batch for a step (the draws are functions of ``(seed, step)``), works on
its contiguous slice of it, and gathers the other ranks' features so the contrastive loss sees the whole
batch as negatives -- the loss and its gradient are those of a single process on the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel ranks (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, which evaluates and writes checkpoints and outputs."""
        return self.rank == 0

    def part(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (``n`` must divide evenly)."""
        if n % self.size:
            raise ValueError(f"batch of {n} does not split evenly over {self.size} training processes")
        k = n // self.size
        return slice(self.rank * k, (self.rank + 1) * k)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """All ranks' ``x`` concatenated in rank order; gradients flow only into this rank's own slot."""
        if self.size == 1:
            return x
        parts = [torch.empty_like(x) for _ in range(self.size)]
        dist.all_gather(parts, x.detach().contiguous())
        parts[self.rank] = x
        return torch.cat(parts)

    def shared(self, p: torch.Tensor, passes: int = 1) -> torch.Tensor:
        """A parameter that every rank's every backward pass sees whole (the logit scale): same value, with
        its gradient split over the ``size * passes`` backward passes of a step, so that their sum
        (over micro-batches) averaged over ranks (by DDP) is the single-process gradient."""
        n = self.size * passes
        if n == 1:
            return p
        return p / n + p.detach() * (1 - 1 / n)

    def barrier(self) -> None:
        """Wait for every rank (nothing to do with one process)."""
        if self.size > 1:
            dist.barrier()


def from_env() -> World:
    """The world ``torchrun`` describes in the environment; a single process when there is none."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return World(rank, size, local)


def local_device(world: World, device: torch.device) -> torch.device:
    """Each rank's own GPU when training on CUDA with several ranks (the device itself otherwise)."""
    if world.size > 1 and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """The model under DistributedDataParallel when there are several ranks (the model itself otherwise)."""
    if world.size == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shutdown() -> None:
    """Destroy the process group if one was started."""
    if dist.is_initialized():
        dist.destroy_process_group()
