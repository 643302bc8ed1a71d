"""Setting a training run up: the run's config, data, model, optimiser, resumed state and run folder.

`set_up` does every step that can fail before any file is written: the run folder of a new run is
created last, so a run that cannot start leaves nothing behind; a resumed run's folder is locked first
(one writer at a time) and changed only once everything else succeeded.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from segstudio.base.config import Config, apply_overrides
from segstudio.base.errors import ConfigError, TrainingError
from segstudio.base.files import remove_stale_temps
from segstudio.base.locking import WriterLock, run_lock
from segstudio.engine import distributed as dist_utils
from segstudio.engine import rundir
from segstudio.engine.batch_size import resolve_batch_size
from segstudio.engine.checkpoint import CheckpointWriter, load_checkpoint, set_rng_state
from segstudio.engine.ema import ModelEMA, build_ema
from segstudio.engine.events import Event, FinishedEvent, StartedEvent, WarningEvent
from segstudio.engine.loop import LoopState, Plan, Step, grad_scaler, mixed_precision_available
from segstudio.engine.optim import build_optimizer, build_scheduler
from segstudio.engine.tensorboard_log import with_tensorboard
from segstudio.models.maskrcnn import build_model, describe_weights, settle_auto_weights

# What a resume may change: the optimiser, the schedule's length and evaluation. The rest fixes what
# the checkpoint holds (model, data, its order and split) and needs a new run.
RESUME_FIXED = ("data.", "augment.", "model.", "train.batch_size", "train.seed", "train.run_name", "train.runs_dir",
                "train.workers")


def pick_device(name: str) -> torch.device:
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise TrainingError('train.device is "cuda" but no CUDA GPU is available; set train.device = "auto" or "cpu".')
    if name == "mps" and not mps:
        raise TrainingError('train.device is "mps" but Metal is not available; set train.device = "auto" or "cpu".')
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class RunLog:
    """Events go to the caller and, once the run folder is open, to its metrics.jsonl; the ones before
    (pre-flight warnings) wait and are written first."""

    def __init__(self, on_event: Callable[[Event], None]):
        self.on_event = on_event
        self.run_dir: Path | None = None
        self._metrics = None   # the sink: rundir.MetricsLog, perhaps teed with TensorBoard
        self._pending: list[Event] | None = []

    def emit(self, event: Event) -> None:
        if self._metrics is not None:
            self._metrics.write(event.to_dict())
        elif self._pending is not None:
            self._pending.append(event)
        self.on_event(event)

    def warn(self, message: str) -> None:
        self.emit(WarningEvent(message))

    def open(self, run_dir: Path, sink) -> None:
        """Start writing every event to `sink` (metrics.jsonl and any extra sink, see `run_sink`; None on
        the other ranks under torchrun), the waiting ones first."""
        self.run_dir = run_dir
        if sink is not None:
            self._metrics = sink
            for event in self._pending:
                sink.write(event.to_dict())
        self._pending = None

    def finish(self, status: str, state: LoopState, message: str = "") -> FinishedEvent:
        best = state.best_metric if state.best_metric >= 0 else None
        event = FinishedEvent(status=status, run_dir=str(self.run_dir or ""), iteration=state.iteration,
                              epoch=state.epoch, best_metric=best, message=message)
        self.emit(event)
        return event

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


@dataclass
class Run:
    """A training run's collaborators once set up (its settings are `plan` and `cfg`, its progress a LoopState)."""
    cfg: Config
    plan: Plan
    data: object                  # engine.data.TrainData (tests pass an in-memory stand-in)
    model: torch.nn.Module        # unwrapped: evaluation and checkpoints
    step: Step
    checkpoints: CheckpointWriter
    log: RunLog
    dist: dist_utils.DistInfo
    lock: WriterLock | None
    ema: ModelEMA | None = None   # the moving average of the weights (train.ema)

    def close(self) -> None:
        if hasattr(self.data, "close"):
            self.data.close()
        if self.lock is not None:
            self.lock.release()


def resume_config(run_dir: Path, extend_epochs: int, overrides: dict) -> Config:
    """The run's own config, with `extend_epochs` more epochs and the allowed `overrides` applied."""
    if extend_epochs < 0:
        raise ConfigError(f"--extend-epochs must be a positive number of epochs; got {extend_epochs}.")
    fixed = [key for key in overrides if key.startswith(RESUME_FIXED)]
    if fixed:
        raise ConfigError(f"{fixed[0]} cannot change when resuming (the checkpoint depends on it); start a new "
                          "run with --config and --set instead.")
    cfg = rundir.load_run_config(run_dir)
    if extend_epochs:
        cfg = apply_overrides(cfg, {"train.epochs": cfg.train.epochs + extend_epochs,
                                    "train.max_iters": 0})   # an extended run trains its new epochs in full
    return apply_overrides(cfg, overrides) if overrides else cfg


def set_up(cfg: Config, log: RunLog, *, resume: str | None = None, extend_epochs: int = 0,
           overrides: dict | None = None, data=None) -> tuple[Run, LoopState]:
    """Everything before the first iteration. Returns the run and the state it continues from."""
    overrides = dict(overrides or {})
    lock = checkpoint = run_dir = None
    try:
        if resume:
            run_dir = rundir.resolve_run(resume, cfg.train.runs_dir)
            lock = run_lock(run_dir).acquire() if _first_process() else None
            cfg = resume_config(run_dir, extend_epochs, overrides)
            checkpoint = load_checkpoint(rundir.checkpoint_path(run_dir, "last"))
        else:
            cfg = apply_overrides(cfg, overrides)   # a copy: the caller's config stays as it is
            if note := settle_auto_weights(cfg.model):
                log.warn(note)
        device = pick_device(cfg.train.device)
        dist = dist_utils.init_distributed(device.type)
        if dist.enabled and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True   # training crops have one size: tune convolutions once
        cfg = resolve_batch_size(cfg, device, log.warn)   # "auto": chosen now, recorded in the run card
        seed_everything(cfg.train.seed + dist.rank)
        if data is None:
            from segstudio.engine.train_data import build_train_data  # noqa: PLC0415
            split = rundir.read_split(run_dir) if run_dir else None
            data = build_train_data(cfg, split=split, warn=log.warn, dist=dist, emit=log.emit)
        cfg = dataclasses.replace(cfg, data=data.data_config)
        plan = Plan.from_config(cfg, data.iters_per_epoch)
        model, step = build_training(cfg, device, plan, load_weights=checkpoint is None, warn=log.warn)
        state = restore(checkpoint, model, step, cfg, log.warn) if checkpoint else LoopState()
        ema = build_ema(cfg, model, checkpoint, log.warn)
        if dist.enabled:
            ids = [device.index] if device.type == "cuda" else None
            step.model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if run_dir is None:
            run_dir, lock = _new_run_folder(cfg, dist)
        _open_run_folder(run_dir, cfg, data, state if checkpoint else None, log, dist,
                         changed=bool(checkpoint is None or extend_epochs or overrides))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    meta = {"class_names": list(data.class_names), "arch": cfg.model.arch, "image_size": int(cfg.augment.image_size)}
    checkpoints = CheckpointWriter(rundir.checkpoint_path(run_dir, "last").parent, model, step, meta,
                                   enabled=dist.is_main, kept_iteration=state.iteration if checkpoint else None,
                                   ema=ema)
    if ema is not None and checkpoint:
        checkpoints.weights = checkpoint.get("weights", checkpoints.weights)
    log.emit(StartedEvent(run_dir=str(run_dir), total_iters=plan.total_iters, iters_per_epoch=plan.iters_per_epoch,
                          epochs=plan.epochs, start_iteration=state.iteration, device=str(device),
                          train_images=len(data.train_rows), val_images=len(data.val_rows),
                          weights=describe_weights(cfg.model)))
    return Run(cfg, plan, data, model, step, checkpoints, log, dist, lock, ema), state


def _first_process() -> bool:
    """Rank 0 under torchrun (before the process group exists), or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def build_training(cfg: Config, device: torch.device, plan: Plan, load_weights: bool, warn) -> tuple:
    """The model (unwrapped) and what one optimisation step needs."""
    model = build_model(cfg.model, len(cfg.data.class_names) + 1, cfg.augment.image_size, load_weights=load_weights)
    if getattr(model, "pretrained_skipped", 0):
        warn(f"{model.pretrained_skipped} pretrained tensors did not fit this model and start from scratch; "
             "for COCO weights set model.fpn_channels = 256 and the mask head to 4 x 256.")
    model.to(device)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train, plan.iters_per_epoch, plan.total_iters)
    amp = bool(cfg.train.amp) and mixed_precision_available(device)
    return model, Step(model, optimizer, scheduler, grad_scaler(device, amp), device, amp, cfg.train.grad_clip)


def restore(checkpoint: dict, model: torch.nn.Module, step: Step, cfg: Config, warn) -> LoopState:
    """Load a checkpoint into the model, optimiser, scheduler and RNGs; the config's optimiser settings
    (perhaps changed for this resume) win over the saved ones. Returns the saved LoopState."""
    try:
        model.load_state_dict(checkpoint["model"])
        if _same_optimizer(checkpoint["optimizer"], step.optimizer):
            step.optimizer.load_state_dict(checkpoint["optimizer"])
        else:
            warn("train.optimizer changed, so the optimiser's state (momentum, moments) starts afresh.")
        step.scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("scaler"):
            step.scaler.load_state_dict(checkpoint["scaler"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise TrainingError(f"The checkpoint does not fit the run's config ({type(exc).__name__}); start a new "
                            "run instead of resuming.") from None
    apply_optimiser_settings(step, cfg)
    set_rng_state(checkpoint.get("rng", {}))
    return LoopState.from_checkpoint(checkpoint["state"])


def _same_optimizer(saved: dict, optimizer: torch.optim.Optimizer) -> bool:
    """Whether a saved optimizer state_dict comes from the same kind of optimizer (AdamW keeps betas)."""
    groups = saved.get("param_groups") or [{}]
    return ("betas" in groups[0]) == ("betas" in optimizer.param_groups[0])


def apply_optimiser_settings(step: Step, cfg: Config) -> None:
    """Set lr, weight decay and momentum from the config on a restored optimiser and schedule (the saved
    ones came with the state dicts). With unchanged settings this recomputes exactly the saved values."""
    train = cfg.train
    scheduler = step.scheduler
    scheduler.base_lrs = [train.lr for _ in step.optimizer.param_groups]
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for i, group in enumerate(step.optimizer.param_groups):
        group["initial_lr"] = train.lr
        group["lr"] = train.lr * factor
        group["weight_decay"] = train.weight_decay if i == 0 else 0.0
        if "momentum" in group:
            group["momentum"] = train.momentum
    step.grad_clip = train.grad_clip


def _new_run_folder(cfg: Config, dist) -> tuple[Path, WriterLock | None]:
    """Create (rank 0) and lock the new run's folder; every rank learns its path."""
    run_dir = lock = None
    if dist.is_main:
        run_dir = rundir.new_run_dir(cfg.train.runs_dir, cfg.train.run_name)
        lock = run_lock(run_dir).acquire()
    if dist.enabled:
        holder = [str(run_dir) if run_dir else ""]
        torch.distributed.broadcast_object_list(holder, src=0)
        run_dir = Path(holder[0])
    return run_dir, lock


def _open_run_folder(run_dir: Path, cfg: Config, data, resumed: LoopState | None, log: RunLog, dist,
                     changed: bool) -> None:
    """Write the run card when the config is new or changed, clear a killed run's leftovers, cut
    metrics.jsonl back to the resumed state, and start logging there."""
    if dist.is_main:
        try:
            remove_stale_temps(run_dir)
            remove_stale_temps(rundir.checkpoint_path(run_dir).parent)
            if changed:
                rundir.write_run_card(run_dir, cfg, data.run_info(), data.split_dict())
            if resumed is not None:
                rundir.cut_metrics_to(run_dir, resumed)
        except BaseException:
            if resumed is None:
                shutil.rmtree(run_dir, ignore_errors=True)   # a new run that could not start leaves nothing
            raise
    log.open(run_dir, run_sink(run_dir, cfg, resumed) if dist.is_main else None)


def run_sink(run_dir: Path, cfg: Config, resumed: LoopState | None):
    """Where the run's events are written: metrics.jsonl, plus TensorBoard's event files when enabled
    (another sink goes here too)."""
    return with_tensorboard(rundir.MetricsLog(run_dir), run_dir, cfg.train.tensorboard,
                            None if resumed is None else resumed.iteration)


def free_memory(step: Step | None) -> None:
    if step is not None:
        step.optimizer.zero_grad(set_to_none=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
