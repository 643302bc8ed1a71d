"""The learning-rate range test: a short training sweep with an exponentially growing learning rate.

From `start` to `end` over `iters` steps (lr_k = start * (end / start) ** (k / (iters - 1))), on the
user's data and a copy of the model the config starts from, with the config's optimiser. The loss is
smoothed (an exponential average with bias correction, beta = SMOOTHING) and the sweep stops early once
the smoothed loss passes DIVERGED times its minimum or a loss is not finite. Nothing is written: no run
folder, no checkpoint; the model given to `lr_sweep` is not changed.

The suggestion (RULE): the learning rate where the smoothed loss falls fastest against log(lr), i.e. the
most negative slope d(smoothed loss) / d(log10 lr), ignoring the first SKIP_START points (the average
is still settling) and the last SKIP_END (divergence), fewer in a sweep of under 25 points (one that
diverged early). The lr of the lowest smoothed loss, divided by 10, is reported beside it (the other
common rule).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from segstudio.base.errors import ConfigError
from segstudio.engine.loop import NonFiniteLoss, Plan, Step, grad_scaler, train_step
from segstudio.engine.optim import build_optimizer

SMOOTHING = 0.9
DIVERGED = 4.0
SKIP_START, SKIP_END = 5, 2
MIN_POINTS = 4
RULE = "steepest descent of the smoothed loss against log(lr)"


@dataclass
class LrSweep:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None      # None: too few points to judge
    min_loss_lr: float | None     # the lr of the lowest smoothed loss
    rule: str = RULE
    stopped: str = ""             # why the sweep ended before `end` ("diverged", "cancelled"), or ""

    def table(self, every: int = 5) -> list[tuple[float, float, float]]:
        """(lr, loss, smoothed loss) for every `every`-th step and the last."""
        rows = list(zip(self.lrs, self.losses, self.smoothed))
        return [r for i, r in enumerate(rows) if i % every == 0 or i == len(rows) - 1]


def suggest_lr(lrs: list[float], smoothed: list[float]) -> float | None:
    """RULE applied to a sweep's points; None when there are too few of them."""
    n = len(lrs)
    skip_start, skip_end = min(SKIP_START, n // 5), min(SKIP_END, n // 10)   # short sweeps skip less
    if n - skip_start - skip_end < MIN_POINTS:
        return None
    x = np.log10(np.asarray(lrs, dtype=float))
    y = np.asarray(smoothed, dtype=float)
    slope = np.gradient(y, x)
    window = slope[skip_start:n - skip_end]
    return float(lrs[skip_start + int(np.argmin(window))])


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Exponential average with bias correction (the first values are not pulled towards 0)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** i))
    return out


def lr_sweep(model: torch.nn.Module, train_cfg, batches: Callable[[], object], device: torch.device, *,
             start: float = 1e-6, end: float = 1.0, iters: int = 80, amp: bool = False,
             on_progress: Callable[[int, int, float, float], None] = lambda i, n, lr, loss: None,
             should_stop: Callable[[], bool] = lambda: False) -> LrSweep:
    """Sweep on a copy of `model`; `batches()` gives a fresh iterable of (images, targets, ...) batches
    (called again when one runs out). `on_progress(step, iters, lr, loss)` after each step."""
    work = copy.deepcopy(model).to(device).train()
    optimizer = build_optimizer(work, train_cfg)
    for group in optimizer.param_groups:
        group["lr"] = start
    ratio = (end / start) ** (1.0 / max(iters - 1, 1))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: ratio ** k)
    step = Step(work, optimizer, scheduler, grad_scaler(device, amp), device, amp,
                train_cfg.grad_clip)
    lrs, losses, stopped = [], [], ""
    source = iter(batches())
    while len(lrs) < iters:
        if should_stop():
            stopped = "cancelled"
            break
        batch = next(source, None)
        if batch is None:
            source = iter(batches())
            continue
        images, targets = batch[:2]
        if not images:
            continue
        lr = optimizer.param_groups[0]["lr"]
        try:
            loss = sum(train_step(step, images, targets).values())
        except NonFiniteLoss:
            stopped = "diverged"
            break
        lrs.append(lr)
        losses.append(float(loss))
        on_progress(len(lrs), iters, lr, float(loss))
        smoothed = smooth(losses)
        if len(smoothed) > SKIP_START and (not math.isfinite(smoothed[-1]) or smoothed[-1] > DIVERGED * min(smoothed)):
            stopped = "diverged"
            break
    smoothed = smooth(losses)
    best = int(np.argmin(smoothed)) if smoothed else None
    return LrSweep(lrs, losses, smoothed, suggest_lr(lrs, smoothed),
                   lrs[best] / 10 if best is not None else None, stopped=stopped)


def find_lr(cfg, *, data=None, start: float = 1e-6, end: float = 1.0, iters: int = 80,
            warn: Callable[[str], None] = lambda m: None, **progress) -> LrSweep:
    """The range test for the run `cfg` would start: its data (or `data`), model and optimiser; nothing
    is written to train.runs_dir."""
    from segstudio.engine.session import build_training, pick_device, seed_everything  # noqa: PLC0415
    from segstudio.models.maskrcnn import settle_auto_weights  # noqa: PLC0415

    if not 0 < start < end:
        raise ConfigError(f"The sweep needs 0 < start < end; got {start:g} .. {end:g}.")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model))   # settle_auto_weights changes it
    if note := settle_auto_weights(cfg.model):
        warn(note)
    device = pick_device(cfg.train.device)
    seed_everything(cfg.train.seed)
    own_data = data is None
    if own_data:
        from segstudio.engine.train_data import build_train_data  # noqa: PLC0415
        data = build_train_data(cfg, warn=warn)
    try:
        cfg = dataclasses.replace(cfg, data=data.data_config)
        plan = Plan.from_config(cfg, data.iters_per_epoch)
        model, step = build_training(cfg, device, plan, load_weights=True, warn=warn)
        epochs = iter(range(10**9))
        return lr_sweep(model, cfg.train, lambda: data.train_batches(next(epochs)), device, start=start, end=end,
                        iters=iters, amp=step.amp, **progress)
    finally:
        if own_data and hasattr(data, "close"):
            data.close()
