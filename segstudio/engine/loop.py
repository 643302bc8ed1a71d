"""One training step, one epoch of steps, and the counters a checkpoint saves.

The step never applies an update computed from a non-finite or exploding loss, or a non-finite gradient,
so the weights stay the last good ones. (A forward pass still updates BatchNorm's running statistics,
which is why a checkpoint is also checked before it is written: see checkpoint.check_healthy.)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch

from segstudio.engine import distributed as dist_utils
from segstudio.engine.events import Event, IterationEvent

# A loss above this is an explosion, not learning: Mask R-CNN's terms (cross-entropies, smooth L1 on box
# deltas, mask BCE) stay within single digits on any sane step; one step past it already ruins the weights.
EXPLODED_LOSS = 1e4


class NonFiniteLoss(Exception):
    def __init__(self, rows: list, losses: dict, what: str = "non-finite"):
        super().__init__(f"{what} loss on rows {rows}")
        self.rows, self.losses, self.what = rows, losses, what


class StopRequested(Exception):
    pass


@dataclass
class LoopState:
    """Everything about the run's progress that a checkpoint saves and a resume restores."""
    iteration: int = 0          # iterations done (global, continues across resume)
    epoch: int = 0              # the epoch in progress; it advances once the epoch's end is recorded
    best_metric: float = -1.0
    evals_without_gain: int = 0
    best_val_loss: float = math.inf    # early stopping on validation loss (eval.early_stopping_metric)
    val_loss_evals_without_gain: int = 0
    last_eval_iteration: int = 0       # the iteration the latest evaluation looked at
    epoch_loss_sums: dict = field(default_factory=dict)   # of the epoch in progress, so a resumed
    epoch_iterations: int = 0                             # epoch reports the mean of all its iterations

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "LoopState":
        known = {k: v for k, v in saved.items() if k in cls.__dataclass_fields__}
        # Checkpoints written before last_eval_iteration existed were all taken after their evaluation.
        known.setdefault("last_eval_iteration", int(saved.get("iteration", 0)))
        return cls(**known)

    def add_losses(self, losses: dict) -> None:
        self.iteration += 1
        self.epoch_iterations += 1
        for k, v in losses.items():
            self.epoch_loss_sums[k] = self.epoch_loss_sums.get(k, 0.0) + v

    def epoch_means(self) -> dict:
        return {k: v / max(self.epoch_iterations, 1) for k, v in self.epoch_loss_sums.items()}

    def start_next_epoch(self) -> None:
        self.epoch += 1
        self.epoch_loss_sums, self.epoch_iterations = {}, 0

    def record_evaluation(self, score: float) -> bool:
        """Count an evaluation's mask AP; True when it is a new best."""
        self.last_eval_iteration = self.iteration
        if score > self.best_metric:
            self.best_metric, self.evals_without_gain = score, 0
            return True
        self.evals_without_gain += 1
        return False

    def record_val_loss(self, loss: float | None) -> None:
        """Count an evaluation's validation loss (the sum of its terms); None when none was computed."""
        if loss is None:
            return
        if loss < self.best_val_loss:
            self.best_val_loss, self.val_loss_evals_without_gain = loss, 0
        else:
            self.val_loss_evals_without_gain += 1

    def evals_without_gain_in(self, metric: str) -> int:
        return self.val_loss_evals_without_gain if metric == "val_loss" else self.evals_without_gain


@dataclass(frozen=True)
class Plan:
    """How long the run is and when it evaluates and checkpoints, from the config and the data."""
    epochs: int
    iters_per_epoch: int
    total_iters: int
    checkpoint_every: int
    eval_interval: int          # epochs between evaluations; 0: only at the end
    patience: int               # evaluations without gain before early stopping; 0: never
    stop_on: str = "mask_ap"    # the metric early stopping watches: "mask_ap" or "val_loss"

    @classmethod
    def from_config(cls, cfg, iters_per_epoch: int) -> "Plan":
        total = iters_per_epoch * cfg.train.epochs
        if cfg.train.max_iters:
            total = min(total, cfg.train.max_iters)
        return cls(cfg.train.epochs, iters_per_epoch, total, cfg.train.checkpoint_every,
                   cfg.eval.interval_epochs, cfg.eval.early_stopping_patience, cfg.eval.early_stopping_metric)

    def epoch_start(self, epoch: int) -> int:
        return epoch * self.iters_per_epoch

    def epoch_end(self, epoch: int) -> int:
        """The iteration that ends `epoch` (or the run, when max_iters cuts the epoch short)."""
        return min((epoch + 1) * self.iters_per_epoch, self.total_iters)


@dataclass
class Step:
    """What one optimisation step needs."""
    model: torch.nn.Module      # the DDP wrapper under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: bool
    grad_clip: float


def mixed_precision_available(device: torch.device) -> bool:
    """Whether train.amp takes effect on `device`: float16 with a gradient scaler on CUDA; bfloat16 on a
    CPU with native bfloat16 arithmetic (AVX-512 BF16 or AMX), where steps are cheaper (README, "The default
    recipe"). Other CPUs would emulate bfloat16, slower than float32, so amp stays off there."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    native = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check is not None and check() for check in native)


def grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """float16 needs its loss scaled; bfloat16 keeps float32's range, so a CPU step runs without."""
    return torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")


class Clock:
    """Elapsed time and a smoothed step time, for the speed and ETA each iteration reports."""

    def __init__(self):
        self.started = time.perf_counter()
        self.ema_step_s = 0.0

    def tick(self, step_s: float) -> None:
        self.ema_step_s = step_s if self.ema_step_s == 0 else 0.9 * self.ema_step_s + 0.1 * step_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def batch_rows(targets: list) -> list:
    return [int(t["image_id"]) for t in targets if "image_id" in t]


def to_device(images: list, targets: list, device: torch.device):
    non_blocking = device.type == "cuda"
    images = [img.to(device, non_blocking=non_blocking) for img in images]
    targets = [{k: v.to(device, non_blocking=non_blocking) for k, v in t.items()} for t in targets]
    return images, targets


def _loss_problem(total: float) -> str:
    if not math.isfinite(total):
        return "non-finite"
    return "exploding" if total > EXPLODED_LOSS else ""


def train_step(step: Step, images: list, targets: list) -> dict:
    """Forward, backward, update. Returns the loss terms as floats; raises NonFiniteLoss before updating."""
    images, targets = to_device(images, targets, step.device)
    with torch.autocast(step.device.type, enabled=step.amp):
        loss_dict = step.model(images, targets)
    loss = sum(loss_dict.values())
    # One device sync for all the terms (the events need them as plain floats anyway).
    values = dict(zip(loss_dict, torch.stack([v.detach().float() for v in loss_dict.values()]).tolist()))
    problem = _loss_problem(sum(values.values()))
    if not dist_utils.all_true(not problem):
        raise NonFiniteLoss(batch_rows(targets), values, problem or "non-finite")
    step.optimizer.zero_grad(set_to_none=True)
    step.scaler.scale(loss).backward()
    if step.grad_clip > 0:
        step.scaler.unscale_(step.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(step.model.parameters(), step.grad_clip)
        if not step.scaler.is_enabled() and not dist_utils.all_true(bool(torch.isfinite(norm))):
            step.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(batch_rows(targets), values)
    step.scaler.step(step.optimizer)
    step.scaler.update()
    step.scheduler.step()
    return values


def train_one_epoch(step: Step, state: LoopState, batches: Iterable, until: int, total_iters: int,
                    emit: Callable[[Event], None], should_stop: Callable[[], bool], clock: Clock) -> Iterator[int]:
    """Train on `batches` until `state.iteration` reaches `until` (the epoch's end or the run's last
    iteration), yielding the iteration number after each step so the caller can checkpoint between steps.
    Raises StopRequested at an iteration boundary when asked to stop."""
    if state.iteration >= until:
        return   # nothing left of this epoch (a resume from its last checkpoint): start no loader
    lr = step.optimizer.param_groups[0]["lr"]
    iterator = iter(batches)
    while state.iteration < until:
        if dist_utils.any_true(should_stop()):
            raise StopRequested()
        t0 = time.perf_counter()
        try:
            images, targets = next(iterator)[:2]
        except StopIteration:
            return
        if not images:   # every row of the batch had an error and was skipped (data.bad_rows = "skip")
            state.iteration += 1
            yield state.iteration
            continue
        t1 = time.perf_counter()
        losses = train_step(step, images, targets)
        t2 = time.perf_counter()
        state.add_losses(losses)
        clock.tick(t2 - t0)
        emit(_iteration_event(state, total_iters, losses, lr, len(images), t1 - t0, t2 - t0, clock, step.device))
        lr = step.optimizer.param_groups[0]["lr"]
        yield state.iteration


def _cuda_mem_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0


def _iteration_event(state: LoopState, total_iters: int, losses: dict, lr: float, n_images: int,
                     wait_s: float, step_s: float, clock: Clock, device: torch.device) -> IterationEvent:
    world = dist_utils.world_size()
    return IterationEvent(
        iteration=state.iteration, epoch=state.epoch, total_iters=total_iters, losses=losses,
        loss=sum(losses.values()), lr=lr, images_per_s=n_images * world / max(step_s, 1e-9),
        data_wait=wait_s / max(step_s, 1e-9), elapsed_s=clock.elapsed(),
        eta_s=clock.ema_step_s * (total_iters - state.iteration), cuda_mem_mb=_cuda_mem_mb(device))
