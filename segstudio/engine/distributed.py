"""torchrun support: process group from RANK/WORLD_SIZE, rank checks and collective flags.

Without torchrun every helper degrades to the single-process answer at no cost.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (nccl on CUDA, gloo otherwise); no-op without it."""
    if not launched_by_torchrun():
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local)


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def _reduce_flag(flag: bool, op) -> bool:
    if not active():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=op)
    return bool(t.item())


def any_true(flag: bool) -> bool:
    """True on every rank when any rank says True (a stop on one rank stops them all together)."""
    return _reduce_flag(flag, dist.ReduceOp.MAX)


def all_true(flag: bool) -> bool:
    return _reduce_flag(flag, dist.ReduceOp.MIN)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
