"""`train(cfg, on_event, should_stop)`: the whole training run, top to bottom.

`fit` is the run itself, in the shape of torchvision's references/detection train.py:
`for epoch: train_one_epoch; evaluate when due; checkpoint`. `train` sets it up (engine.session) and
turns every way it can end into events: it never prints, never exits, checks `should_stop` every
iteration, and always ends with a FinishedEvent: "completed", "stopped" (last.pt written) or "failed"
(an ErrorEvent first). `resume` continues a run from checkpoints/last.pt, `extend_epochs` adds epochs
to it and `overrides` ({"train.lr": 1e-4}) change its settings.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from segstudio.base.errors import DataError, UserError, WeightsError
from segstudio.base.pace import Pace
from segstudio.engine import distributed as dist_utils
from segstudio.engine import rundir, val_loss
from segstudio.engine.checkpoint import UnhealthyModel, link_checkpoint
from segstudio.engine.ema import winning_metrics, with_ema_metrics
from segstudio.engine.evaluate import evaluate_model
from segstudio.engine.events import (
    CheckpointEvent,
    EpochEvent,
    ErrorEvent,
    EvalEvent,
    EvaluatingEvent,
    Event,
    FinishedEvent,
)
from segstudio.engine.loop import Clock, LoopState, NonFiniteLoss, Plan, StopRequested, train_one_epoch
from segstudio.engine.session import Run, RunLog, free_memory, set_up

OOM_ADVICE = ("CUDA ran out of memory; lower train.batch_size, turn on train.amp, or lower "
              "augment.image_size, then resume the run.")


def train(cfg, on_event: Callable[[Event], None], should_stop: Callable[[], bool], *,
          resume: str | None = None, extend_epochs: int = 0, overrides: dict | None = None,
          data=None) -> FinishedEvent:
    """Train as `cfg` says (or continue run `resume`); returns the FinishedEvent it also emits.

    With train.rollbacks, a diverged run goes on by itself from the last healthy checkpoint of its first
    divergence with a tenth of the learning rate (a resume with train.lr lowered, recorded in the run card),
    at most that many times. `data` replaces the dataset pipeline (tests and benchmarks pass synthetic data)."""
    rollbacks = Rollbacks()
    try:
        finished = attempt(cfg, on_event, should_stop, rollbacks, resume=resume, extend_epochs=extend_epochs,
                           overrides=overrides, data=data)
        while isinstance(finished, Rollback):
            finished = attempt(cfg, on_event, should_stop, rollbacks, resume=finished.run_dir, data=data,
                               overrides={**(overrides or {}), **finished.overrides})
        return finished
    finally:
        rollbacks.forget()


@dataclass
class Rollback:
    """A diverged attempt that goes on from the rollback origin with these settings."""
    run_dir: str
    overrides: dict


@dataclass
class Rollbacks:
    """The healthy checkpoint the first divergence went back to: later ones in the same session go back
    there too (the checkpoints an attempt wrote before diverging again may hold weights already harmed)."""
    origin: Path | None = None
    iteration: int = 0

    def go_back(self, checkpoints) -> int:
        """Make last.pt the origin's (kept in rollback.pt at the first divergence); -> its iteration."""
        if self.origin is None:
            self.origin = rundir.checkpoint_file(checkpoints.folder, "rollback")
            self.iteration = checkpoints.kept_iteration
            link_checkpoint(checkpoints.last, self.origin)
        else:
            link_checkpoint(self.origin, checkpoints.last)
        return self.iteration

    def forget(self) -> None:
        if self.origin is not None:
            self.origin.unlink(missing_ok=True)


def attempt(cfg, on_event: Callable[[Event], None], should_stop: Callable[[], bool], rollbacks: Rollbacks, *,
            resume: str | None = None, extend_epochs: int = 0, overrides: dict | None = None,
            data=None) -> FinishedEvent | Rollback:
    """One set-up and fit, ended by a FinishedEvent, or by a Rollback (train.rollbacks)."""
    log = RunLog(_rank_zero(on_event))
    run, state = None, LoopState()
    try:
        run, state = set_up(cfg, log, resume=resume, extend_epochs=extend_epochs, overrides=overrides, data=data)
        return finish(run, state, "completed", fit(run, state, should_stop))
    except StopRequested:
        return stop(run, state)
    except (NonFiniteLoss, UnhealthyModel) as exc:
        if can_roll_back(run):
            return roll_back(exc, run, state, rollbacks)
        return fail(log, state, diverged(exc, run, state), run, keep_staged=False)
    except torch.cuda.OutOfMemoryError:
        free_memory(run.step if run else None)
        return fail(log, state, ErrorEvent(OOM_ADVICE, reason="oom"), run)
    except DataError as exc:
        return fail(log, state, ErrorEvent(str(exc), reason="data", rows=list(getattr(exc, "rows", []))), run)
    except UserError as exc:
        reason = "weights" if isinstance(exc, WeightsError) else "error"
        return fail(log, state, ErrorEvent(str(exc), reason=reason), run)
    except KeyboardInterrupt:
        fail(log, state, ErrorEvent("Training was interrupted; resume from last.pt.", reason="error"), run)
        raise
    except Exception as exc:  # noqa: BLE001 - a bug still ends the run with a terminal event
        return fail(log, state, ErrorEvent(f"Training failed with {type(exc).__name__}: {exc}; rerun with "
                                           "--debug and report the traceback.", reason="error",
                                           detail=traceback.format_exc()), run)
    finally:
        log.close()
        if run is not None:
            run.close()
        free_memory(None)
        dist_utils.shutdown()


def fit(run: Run, state: LoopState, should_stop: Callable[[], bool]) -> str:
    """Train from `state` to the end of the plan: each epoch, evaluate when due, checkpoint. Returns why the run
    ended before its last epoch ("" when it did not)."""
    plan, clock = run.plan, Clock()
    if plan.patience and plan.stop_on == "val_loss" and run.dist.enabled:
        run.log.warn("Early stopping on validation loss is off under torchrun (the validation loss is computed in "
                     "one process only); stop on mask_ap instead.")
    for epoch in range(state.epoch, plan.epochs):
        started = time.perf_counter()
        batches = run.data.train_batches(epoch, state.iteration - plan.epoch_start(epoch))
        for _ in train_one_epoch(run.step, state, batches, plan.epoch_end(epoch), plan.total_iters,
                                 run.log.emit, should_stop, clock):
            if run.ema is not None:
                run.ema.update(run.model)
            announce(run, run.checkpoints.write_staged())   # this iteration's sane loss vouches for it
            if checkpoint_due(state, plan):
                run.checkpoints.stage(state)
        if state.iteration < plan.epoch_start(epoch + 1):
            break   # max_iters ended the run inside this epoch
        run.log.emit(EpochEvent(epoch=epoch, iteration=state.iteration, mean_losses=state.epoch_means(),
                                duration_s=time.perf_counter() - started))
        metrics = evaluate(run, state, should_stop) if evaluation_due(state, plan) else None
        state.start_next_epoch()
        save(run, state, best=record(state, metrics))
        if early_stop_due(state, plan, evaluated=metrics is not None):
            return early_stop(run, state)
    if evaluation_due(state, plan):   # the run ended inside an epoch
        metrics = evaluate(run, state, should_stop)
        save(run, state, best=record(state, metrics))
    return ""


def record(state: LoopState, metrics: dict | None) -> bool:
    """Count an evaluation (mask AP for best.pt, validation loss for early stopping on it); True: a new best."""
    if metrics is None:
        return False
    state.record_val_loss(metrics.get("val_loss"))
    return state.record_evaluation(metrics.get("segm_map", -1.0))


def checkpoint_due(state: LoopState, plan: Plan) -> bool:
    """Every train.checkpoint_every iterations, except where the epoch's (or run's) own save follows."""
    return state.iteration % plan.checkpoint_every == 0 and state.iteration < plan.epoch_end(state.epoch)


def evaluation_due(state: LoopState, plan: Plan) -> bool:
    """At the end of every eval.interval_epochs-th epoch and at the end of the run, once per state.
    Called when an epoch (or the run) has just ended, before the epoch counter moves on."""
    if state.last_eval_iteration == state.iteration:
        return False
    if state.iteration >= plan.total_iters:
        return True
    return bool(plan.eval_interval) and (state.epoch + 1) % plan.eval_interval == 0


def early_stop_due(state: LoopState, plan: Plan, evaluated: bool) -> bool:
    return evaluated and bool(plan.patience) and state.evals_without_gain_in(plan.stop_on) >= plan.patience


def early_stop(run: Run, state: LoopState) -> str:
    """Say why the run stops before its last epoch: a warning, the finished event's message and run.json."""
    plan = run.plan
    on_loss = plan.stop_on == "val_loss"
    what, best = (("validation loss did not fall", state.best_val_loss) if on_loss
                  else ("validation mask AP did not improve", state.best_metric))
    message = (f"Stopped early after epoch {state.epoch} (iteration {state.iteration}): {what} for {plan.patience} "
               f"evaluations (best {best:.4f}); best.pt holds the best mask AP, last.pt this epoch.")
    run.log.warn(message)
    if run.dist.is_main and getattr(run.log, "run_dir", None):
        rundir.note_in_run_card(run.log.run_dir, "early_stopped", {
            "metric": plan.stop_on, "patience": plan.patience, "best": best, "epoch": state.epoch,
            "iteration": state.iteration})
    return message


def evaluate(run: Run, state: LoopState, should_stop: Callable[[], bool]) -> dict | None:
    """Validation metrics (and their event), or None without a validation split."""
    if not run.data.val_rows:
        run.log.warn("The validation split is empty, so no AP was computed; raise data.val_fraction.")
        return None
    images = len(run.data.val_rows)
    if run.cfg.eval.max_images:
        images = min(images, run.cfg.eval.max_images)
    run.log.emit(EvaluatingEvent(epoch=state.epoch, iteration=state.iteration, images=images))
    single = not run.dist.enabled   # under torchrun every rank must reach the metric's gather

    def measure(model):
        found = evaluate_model(
            model, run.data.val_batches(), run.step.device, run.data.class_names, backend=run.cfg.eval.backend,
            score_threshold=run.cfg.eval.score_threshold, max_images=run.cfg.eval.max_images, amp=run.step.amp,
            should_stop=should_stop if single else None, progress=evaluation_progress(run, state, images))
        if single and should_stop():
            raise StopRequested()   # a cut-short evaluation is not a result; last.pt is written on the way out
        return found

    metrics, per_class, seconds = measure(run.model)
    val_losses = {}
    if single and run.cfg.eval.val_loss and not should_stop():
        val_losses = val_loss.validation_loss(run.model, run.data.val_batches(), run.step.device,
                                              max_images=run.cfg.eval.max_images, should_stop=should_stop,
                                              amp=run.step.amp)
    if single and should_stop():
        raise StopRequested()
    event = EvalEvent(epoch=state.epoch, iteration=state.iteration, metrics=metrics, per_class=per_class,
                      duration_s=seconds, val_losses=val_losses)
    if run.ema is not None:
        event = with_ema_metrics(event, run.ema, measure, run.checkpoints)
    run.log.emit(event)
    found = winning_metrics(event, run.checkpoints.weights)
    return {**found, "val_loss": val_losses["loss"]} if "loss" in val_losses else found


def evaluation_progress(run: Run, state: LoopState, images: int, every_s: float = 1.0) -> Callable[[int], None]:
    """How far an evaluation got, told to the window and the terminal about once a second (a long evaluation
    showed a full bar and nothing else for minutes); not written to metrics.jsonl."""
    started, pace = time.perf_counter(), Pace(every_s)   # the first call is always told

    def progress(done: int) -> None:
        if pace.due():
            run.log.on_event(EvaluatingEvent(epoch=state.epoch, iteration=state.iteration, images=images,
                                             done=min(done, images),
                                             elapsed_s=round(time.perf_counter() - started, 2)))
    return progress


def save(run: Run, state: LoopState, best: bool = False) -> None:
    """last.pt (and best.pt) for `state` now."""
    announce(run, run.checkpoints.save(state, best=best))


def announce(run: Run, written: list) -> None:
    for which, path, state in written:
        run.log.emit(CheckpointEvent(path=str(path), which=which, iteration=state.iteration, epoch=state.epoch,
                                     weights=run.checkpoints.weights))


def stop(run: Run, state: LoopState) -> FinishedEvent:
    try:
        save(run, state)
    except UnhealthyModel as exc:
        return fail(run.log, state, diverged(exc, run, state), run, keep_staged=False)
    return finish(run, state, "stopped", "Stopped on request; resume with --resume.")


def can_roll_back(run: Run | None) -> bool:
    """train.rollbacks left, a healthy last.pt, and one process (under torchrun only rank 0 keeps last.pt)."""
    return (run is not None and run.cfg.train.rollbacks > 0 and run.checkpoints.kept_iteration is not None
            and not run.dist.enabled)


def roll_back(exc: Exception, run: Run, state: LoopState, rollbacks: Rollbacks) -> Rollback:
    """Go back to the rollback origin and say so; the caller resumes with a tenth of the learning rate."""
    lr, left = run.cfg.train.lr / 10, run.cfg.train.rollbacks - 1
    iteration = rollbacks.go_back(run.checkpoints)
    what = diverged_message(exc, run, state).split(";")[0]
    run.log.warn(f"{what}; going back to iteration {iteration} with train.lr={lr:g} "
                 f"({left} more rollback{'s' if left != 1 else ''} allowed).")
    return Rollback(str(run.log.run_dir), {"train.lr": lr, "train.rollbacks": left})


def diverged(exc: Exception, run: Run | None, state: LoopState) -> ErrorEvent:
    return ErrorEvent(diverged_message(exc, run, state), reason="nan", rows=getattr(exc, "rows", []))


def diverged_message(exc: Exception, run: Run | None, state: LoopState) -> str:
    if isinstance(exc, NonFiniteLoss):
        what = f"The loss became {exc.what} at iteration {state.iteration + 1} on rows {exc.rows}"
    else:
        what = f"The model diverged by iteration {state.iteration} ({exc})"
    kept = run.checkpoints.kept_iteration if run else None
    lr = run.cfg.train.lr if run else 0.0
    if kept is None:
        return (f"{what}; no checkpoint was kept, so start again with a lower train.lr (e.g. {lr / 10:g}), "
                "a larger train.warmup_iters or train.grad_clip.")
    return (f"{what}; {run.checkpoints.last} still holds iteration {kept}, the last healthy state: resume it "
            f"with a lower learning rate (segstudio train --resume {run.log.run_dir} --set train.lr={lr / 10:g}, "
            "or the window's Resume with the form's settings).")


def fail(log: RunLog, state: LoopState, error: ErrorEvent, run: Run | None = None,
         keep_staged: bool = True) -> FinishedEvent:
    """End with `error`. A run that failed for reasons other than divergence (`keep_staged`) first writes
    the checkpoint it had staged: its weights are not in question."""
    if run is not None and keep_staged:
        announce(run, run.checkpoints.write_staged())
    log.emit(error)
    if run is None:
        return log.finish("failed", state, error.message)
    return finish(run, state, "failed", error.message)


def finish(run: Run, state: LoopState, status: str, message: str = "") -> FinishedEvent:
    """The terminal event, after the rows' check report (the pre-flight's sample + every row read)."""
    if run.dist.is_main and hasattr(run.data, "finish_checks"):
        run.data.finish_checks(run.log.run_dir)
    return run.log.finish(status, state, message)


def _rank_zero(on_event: Callable[[Event], None]) -> Callable[[Event], None]:
    """Events go to the caller on rank 0 only (one progress bar, one metrics file under torchrun)."""
    def emit(event: Event) -> None:
        if not dist_utils.active() or torch.distributed.get_rank() == 0:
            on_event(event)
    return emit
