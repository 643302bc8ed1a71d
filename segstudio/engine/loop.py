"""One training step and one epoch of steps, with timing, stop checks and non-finite-loss guard.

The step never applies an update computed from a non-finite loss or gradient, so the weights (and any
checkpoint written from them) stay the last good ones.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

from segstudio.engine import distributed as dist_utils
from segstudio.engine.events import IterationEvent


class NonFiniteLoss(Exception):
    def __init__(self, rows: list, losses: dict):
        super().__init__(f"non-finite loss on rows {rows}")
        self.rows, self.losses = rows, losses


class StopRequested(Exception):
    pass


@dataclass
class LoopState:
    """Counters that a checkpoint saves and a resume restores."""
    iteration: int = 0          # iterations done (global, continues across resume)
    epoch: int = 0              # current 0-based epoch
    best_metric: float = -1.0
    evals_without_gain: int = 0


@dataclass
class StepContext:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: bool
    grad_clip: float
    total_iters: int
    on_event: Callable
    should_stop: Callable[[], bool]
    after_step: Callable[[LoopState], None] = lambda state: None   # checkpoint every N, etc.
    started: float = field(default_factory=time.perf_counter)
    start_iteration: int = 0
    ema_step_s: float = 0.0


def batch_rows(targets: list) -> list:
    return [int(t["image_id"]) for t in targets if "image_id" in t]


def to_device(images: list, targets: list, device: torch.device):
    non_blocking = device.type == "cuda"
    images = [img.to(device, non_blocking=non_blocking) for img in images]
    targets = [{k: v.to(device, non_blocking=non_blocking) for k, v in t.items()} for t in targets]
    return images, targets


def train_step(ctx: StepContext, images: list, targets: list) -> dict:
    """Forward, backward, update. Returns the loss terms as floats; raises NonFiniteLoss before updating."""
    images, targets = to_device(images, targets, ctx.device)
    with torch.autocast(ctx.device.type, enabled=ctx.amp):
        loss_dict = ctx.model(images, targets)
    loss = sum(loss_dict.values())
    # One device sync for all the terms (the events need them as plain floats anyway).
    values = dict(zip(loss_dict, torch.stack([v.detach().float() for v in loss_dict.values()]).tolist()))
    finite = math.isfinite(sum(values.values()))
    if not dist_utils.all_true(finite):
        raise NonFiniteLoss(batch_rows(targets), values)
    ctx.optimizer.zero_grad(set_to_none=True)
    ctx.scaler.scale(loss).backward()
    if ctx.grad_clip > 0:
        ctx.scaler.unscale_(ctx.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(ctx.model.parameters(), ctx.grad_clip)
        if not ctx.amp and not dist_utils.all_true(bool(torch.isfinite(norm))):
            ctx.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(batch_rows(targets), values)
    ctx.scaler.step(ctx.optimizer)
    ctx.scaler.update()
    ctx.scheduler.step()
    return values


def _cuda_mem_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0


def run_epoch(ctx: StepContext, state: LoopState, batches: Iterable, iters_per_epoch: int) -> dict:
    """Train over `batches` until the epoch or total_iters ends; StopRequested when asked to stop.

    Returns the mean of each loss term over the epoch's iterations."""
    sums: dict = {}
    count = 0
    lr_now = ctx.optimizer.param_groups[0]["lr"]
    iterator = iter(batches)
    while state.iteration < ctx.total_iters and count < iters_per_epoch:
        if dist_utils.any_true(ctx.should_stop()):
            raise StopRequested()
        t0 = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            break
        images, targets = batch[0], batch[1]
        if not images:   # every row of the batch had an error and was skipped (data.bad_rows = "skip")
            state.iteration += 1
            count += 1
            continue
        t1 = time.perf_counter()
        losses = train_step(ctx, images, targets)
        t2 = time.perf_counter()
        state.iteration += 1
        count += 1
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        _report_iteration(ctx, state, losses, lr_now, len(images), t1 - t0, t2 - t0)
        lr_now = ctx.optimizer.param_groups[0]["lr"]
        ctx.after_step(state)
    return {k: v / max(count, 1) for k, v in sums.items()}


def _report_iteration(ctx: StepContext, state: LoopState, losses: dict, lr: float, n_images: int,
                      wait_s: float, step_s: float) -> None:
    world = dist_utils.world_size()
    ctx.ema_step_s = step_s if ctx.ema_step_s == 0 else 0.9 * ctx.ema_step_s + 0.1 * step_s
    elapsed = time.perf_counter() - ctx.started
    ctx.on_event(IterationEvent(
        iteration=state.iteration, epoch=state.epoch, total_iters=ctx.total_iters, losses=losses,
        loss=sum(losses.values()), lr=lr, images_per_s=n_images * world / max(step_s, 1e-9),
        data_wait=wait_s / max(step_s, 1e-9), elapsed_s=elapsed,
        eta_s=ctx.ema_step_s * (ctx.total_iters - state.iteration), cuda_mem_mb=_cuda_mem_mb(ctx.device)))
