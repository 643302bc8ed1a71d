"""The state of one training run: set-up, the epoch loop, evaluation, checkpoints and terminal events.

`engine.train.train` drives a Session and maps exceptions to events; this module holds the pieces.
"""
from __future__ import annotations

import dataclasses
import gc
import random
import time
from pathlib import Path

import numpy as np
import torch

from segstudio.config import validate
from segstudio.engine import distributed as dist_utils
from segstudio.engine import rundir
from segstudio.engine.checkpoint import (link_checkpoint, load_checkpoint, rng_state, save_checkpoint,
                                         set_rng_state)
from segstudio.engine.evaluate import evaluate_model
from segstudio.engine.events import (CheckpointEvent, EpochEvent, ErrorEvent, EvalEvent, EvaluatingEvent, Event,
                                     FinishedEvent, StartedEvent, WarningEvent)
from segstudio.engine.loop import LoopState, StepContext, StopRequested, run_epoch
from segstudio.engine.optim import build_optimizer, build_scheduler
from segstudio.engine.tensorboard_log import with_tensorboard
from segstudio.errors import TrainingError

CHECKPOINT_FORMAT = 1


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


class Session:
    def __init__(self, cfg, emit, should_stop, *, resume=None, extend_epochs=0, data=None):
        self.cfg, self._emit_out, self.should_stop = cfg, emit, should_stop
        self.resume, self.extend_epochs, self.data = resume, extend_epochs, data
        self.state = LoopState()
        self.run_dir: Path | None = None
        self.metrics_log = None
        self.model = self.ddp_model = self.ctx = None
        self.dist = dist_utils.DistInfo()
        self.finished: FinishedEvent | None = None
        self._pending: list[Event] = []
        self._last_saved: tuple | None = None   # (iteration, epoch, best metric) last.pt holds

    # ---- events -------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if self.metrics_log is not None:
            self.metrics_log.write(event.to_dict())
        elif self.dist.is_main:
            self._pending.append(event)   # warnings from pre-flight come before the run folder exists
        self._emit_out(event)

    def warn(self, message: str) -> None:
        self.emit(WarningEvent(message))

    # ---- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        checkpoint = self._load_resume() if self.resume else None
        cfg = self.cfg
        from segstudio.model import settle_auto_weights
        if checkpoint is None and (note := settle_auto_weights(cfg.model)):
            self.warn(note)
        self.device = pick_device(cfg.train.device)
        self.dist = dist_utils.init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True   # training crops have one size: tune convolutions once
        seed_everything(cfg.train.seed + self.dist.rank)
        if self.data is None:
            from segstudio.engine.data import build_train_data
            split = rundir.read_split(self.run_dir) if self.run_dir else None
            self.data = build_train_data(cfg, split=split, warn=self.warn, dist=self.dist, emit=self.emit)
        cfg.data.class_names = list(self.data.class_names)
        self._open_run_dir(None if checkpoint is None else int(checkpoint["state"]["iteration"]))
        self._build_model_and_optimizer(checkpoint)
        self._started()

    def _load_resume(self) -> dict:
        self.run_dir = rundir.resolve_run(self.resume, self.cfg.train.runs_dir)
        self.cfg = rundir.load_run_config(self.run_dir)
        checkpoint = load_checkpoint(rundir.checkpoint_path(self.run_dir, "last"))
        if self.extend_epochs:
            self.cfg.train.epochs += int(self.extend_epochs)
            self.cfg.train.max_iters = 0   # an extended run trains its new epochs in full
            validate(self.cfg)
        return checkpoint

    def _open_run_dir(self, resumed_at: int | None) -> None:
        """Create (or reopen) the run folder; on resume, cut metrics.jsonl back to the checkpoint's iteration."""
        if self.run_dir is None and self.dist.is_main:
            self.run_dir = rundir.new_run_dir(self.cfg.train.runs_dir, self.cfg.train.run_name)
        if self.dist.enabled:
            holder = [str(self.run_dir) if self.run_dir else ""]
            torch.distributed.broadcast_object_list(holder, src=0)
            self.run_dir = Path(holder[0])
        if self.dist.is_main:
            if not self.resume or self.extend_epochs:
                rundir.write_run_card(self.run_dir, self.cfg, self.data.run_info(), self.data.split_dict())
            if resumed_at is not None:
                rundir.drop_metrics_after(self.run_dir, resumed_at)
            self.metrics_log = with_tensorboard(rundir.MetricsLog(self.run_dir), self.run_dir,
                                                self.cfg.train.tensorboard, resumed_at)
            for event in self._pending:
                self.metrics_log.write(event.to_dict())
            self._pending.clear()

    def _totals(self) -> tuple[int, int]:
        ipe = self.data.iters_per_epoch
        total = ipe * self.cfg.train.epochs
        if self.cfg.train.max_iters:
            total = min(total, self.cfg.train.max_iters)
        return ipe, total

    def _build_model_and_optimizer(self, checkpoint: dict | None) -> None:
        from segstudio.model import build_model

        cfg = self.cfg
        self.model = build_model(cfg.model, len(self.data.class_names) + 1, cfg.augment.image_size,
                                 load_weights=checkpoint is None)
        if getattr(self.model, "pretrained_skipped", 0):
            self.warn(f"{self.model.pretrained_skipped} pretrained tensors did not fit this model and start "
                      "from scratch; for COCO weights set model.fpn_channels = 256 and the mask head to 4 x 256.")
        self.model.to(self.device)
        optimizer = build_optimizer(self.model, cfg.train)
        ipe, total = self._totals()
        scheduler = build_scheduler(optimizer, cfg.train, ipe, total)
        amp = bool(cfg.train.amp and self.device.type == "cuda")
        scaler = torch.amp.GradScaler(self.device.type, enabled=amp)
        if checkpoint is not None:
            self._restore(checkpoint, optimizer, scheduler, scaler)
        self.ddp_model = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.ctx = StepContext(self.ddp_model, optimizer, scheduler, scaler, self.device, amp,
                               cfg.train.grad_clip, total, self.emit, self.should_stop,
                               after_step=self._after_step, start_iteration=self.state.iteration)

    def _restore(self, checkpoint: dict, optimizer, scheduler, scaler) -> None:
        try:
            self.model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            if checkpoint.get("scaler"):
                scaler.load_state_dict(checkpoint["scaler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise TrainingError(f"The checkpoint of run {self.run_dir} does not fit its config "
                                f"({type(exc).__name__}); start a new run instead of resuming.") from None
        self.state = LoopState(**checkpoint["state"])
        set_rng_state(checkpoint.get("rng", {}))

    def _started(self) -> None:
        from segstudio.model import describe_weights
        ipe, total = self._totals()
        self.emit(StartedEvent(run_dir=str(self.run_dir), total_iters=total, iters_per_epoch=ipe,
                               epochs=self.cfg.train.epochs, start_iteration=self.state.iteration,
                               device=str(self.device), train_images=len(self.data.train_rows),
                               val_images=len(self.data.val_rows), weights=describe_weights(self.cfg.model)))

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        cfg, state = self.cfg, self.state
        ipe, total = self._totals()
        evaluated_at = state.iteration   # nothing new to evaluate unless iterations run
        while state.epoch < cfg.train.epochs and state.iteration < total:
            epoch = state.epoch
            evaluated_at = -1
            skip = max(state.iteration - epoch * ipe, 0)
            started = time.perf_counter()
            means = run_epoch(self.ctx, state, self.data.train_batches(epoch, skip), ipe - skip)
            if state.iteration >= (epoch + 1) * ipe:
                state.epoch = epoch + 1
            self.emit(EpochEvent(epoch=epoch, iteration=state.iteration, mean_losses=means,
                                 duration_s=time.perf_counter() - started))
            interval = cfg.eval.interval_epochs
            if interval and state.epoch % interval == 0 and state.epoch > epoch:
                evaluated_at = state.iteration
                if self.evaluate(epoch):
                    self.save_last()
                    return
            self.save_last()
            if state.epoch == epoch:   # max_iters ended the run inside an epoch
                break
        if evaluated_at != state.iteration:
            self.evaluate(max(state.epoch - 1, 0))
            self.save_last()

    def _after_step(self, state: LoopState) -> None:
        if state.iteration % self.cfg.train.checkpoint_every == 0:
            self.save_last()

    def evaluate(self, epoch: int) -> bool:
        """Validate, keep best.pt, and say whether early stopping ends the run."""
        if not self.data.val_rows:
            self.warn("The validation split is empty, so no AP was computed; raise data.val_fraction.")
            return False
        images = len(self.data.val_rows)
        if self.cfg.eval.max_images:
            images = min(images, self.cfg.eval.max_images)
        self.emit(EvaluatingEvent(epoch=epoch, iteration=self.state.iteration, images=images))
        metrics, per_class, seconds = evaluate_model(
            self.model, self.data.val_batches(), self.device, self.data.class_names,
            backend=self.cfg.eval.backend, score_threshold=self.cfg.eval.score_threshold,
            max_images=self.cfg.eval.max_images, amp=self.ctx.amp,
            # Under torchrun every rank must reach the metric's gather, so only one process may cut it short.
            should_stop=None if self.dist.enabled else self.should_stop)
        if not self.dist.enabled and self.should_stop():
            raise StopRequested()   # a cut-short evaluation is not a result; last.pt is written on the way out
        state = self.state
        self.emit(EvalEvent(epoch=epoch, iteration=state.iteration, metrics=metrics, per_class=per_class,
                            duration_s=seconds))
        score = metrics.get("segm_map", -1.0)
        if score > state.best_metric:
            state.best_metric, state.evals_without_gain = score, 0
            self.save_best()
        else:
            state.evals_without_gain += 1
        patience = self.cfg.eval.early_stopping_patience
        if patience and state.evals_without_gain >= patience:
            self.warn(f"Early stopping: validation mask AP did not improve for {patience} evaluations.")
            return True
        return False

    # ---- checkpoints and the end ----------------------------------------------------------------
    def checkpoint_state(self) -> dict:
        ctx = self.ctx
        return {"format": CHECKPOINT_FORMAT, "model": self.model.state_dict(),
                "optimizer": ctx.optimizer.state_dict(), "scheduler": ctx.scheduler.state_dict(),
                "scaler": ctx.scaler.state_dict(), "state": dataclasses.asdict(self.state),
                "rng": rng_state(), "class_names": list(self.data.class_names),
                "arch": self.cfg.model.arch, "image_size": int(self.cfg.augment.image_size)}

    def _save(self, which: str) -> None:
        if not self.dist.is_main or self.ctx is None:
            return
        path = rundir.checkpoint_path(self.run_dir, which)
        save_checkpoint(self.checkpoint_state(), path)
        self.emit(CheckpointEvent(path=str(path), which=which, iteration=self.state.iteration,
                                  epoch=self.state.epoch))

    def save_last(self) -> None:
        """Write last.pt unless it already holds this very state (an evaluation that found a new best)."""
        key = (self.state.iteration, self.state.epoch, self.state.best_metric)
        if key != self._last_saved:
            self._save("last")
            self._last_saved = key

    def save_best(self) -> None:
        """best.pt is last.pt at the same moment: write last.pt, then link best.pt to it (one ~180 MB
        write instead of two; a later last.pt is a new file renamed into place, so best.pt keeps its own)."""
        if not self.dist.is_main or self.ctx is None:
            return
        self.save_last()
        path = rundir.checkpoint_path(self.run_dir, "best")
        link_checkpoint(rundir.checkpoint_path(self.run_dir, "last"), path)
        self.emit(CheckpointEvent(path=str(path), which="best", iteration=self.state.iteration,
                                  epoch=self.state.epoch))

    def finish(self, status: str, message: str = "") -> FinishedEvent:
        if self.run_dir is not None and self.dist.is_main and hasattr(self.data, "finish_checks"):
            self.data.finish_checks(self.run_dir)   # the pre-flight report: the sample + every row read
        best = self.state.best_metric if self.state.best_metric >= 0 else None
        event = FinishedEvent(status=status, run_dir=str(self.run_dir or ""), iteration=self.state.iteration,
                              epoch=self.state.epoch, best_metric=best, message=message)
        self.finished = event
        self.emit(event)
        return event

    def fail(self, error: ErrorEvent) -> FinishedEvent:
        self.emit(error)
        return self.finish("failed", error.message)

    def free_memory(self) -> None:
        if self.ctx is not None:
            self.ctx.optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def close(self) -> None:
        if self.data is not None and hasattr(self.data, "close"):
            self.data.close()
        if self.metrics_log is not None:
            self.metrics_log.close()
            self.metrics_log = None
        self.model = self.ddp_model = self.ctx = None
        self.free_memory()
        dist_utils.shutdown()
