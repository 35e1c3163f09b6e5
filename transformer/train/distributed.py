"""Distributed data parallel through ``torchrun`` (PyTorch's own launcher and
engine).

``torchrun --nproc_per_node=N -m transformer train CONFIG`` starts N processes
and sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`init_distributed`
reads them, and a plain ``python -m transformer train`` is simply world size 1.
Backend: NCCL on CUDA, gloo on CPU.

Every rank reads the same global list of batches and takes every N-th one
(:class:`transformer.data.TokenBatchSampler`), so N processes with ``grad_accum
= g`` see exactly the batches one process sees with ``grad_accum = N·g``. Only
rank 0 writes checkpoints, metrics and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(use_cuda: bool) -> DistInfo:
    """Join the process group that torchrun describes in the environment (no-op
    for one process)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(
        int(os.environ["RANK"]),
        world_size,
        int(os.environ.get("LOCAL_RANK", "0")),
    )
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info


def all_reduce_sum(tensor: Tensor, info: DistInfo) -> Tensor:
    """Sum ``tensor`` over ranks (in place) and return it."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
