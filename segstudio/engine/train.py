"""`train(cfg, on_event, should_stop)`: the whole training run as one plain function.

It reports through events (never prints, never exits), checks `should_stop` every iteration, and always
ends with a FinishedEvent: "completed", "stopped" (last.pt written) or "failed" (with an ErrorEvent
first). A run lives in runs/<name>/; `resume` continues one from checkpoints/last.pt and
`extend_epochs` adds epochs to it.
"""
from __future__ import annotations

import traceback
from typing import Callable

import torch

from segstudio.engine import distributed as dist_utils
from segstudio.engine.events import ErrorEvent, Event, FinishedEvent
from segstudio.engine.loop import NonFiniteLoss, StopRequested
from segstudio.engine.session import Session
from segstudio.errors import DataError, TrainingError, UserError

OOM_ADVICE = ("CUDA ran out of memory; lower train.batch_size, turn on train.amp, or lower "
              "augment.image_size, then resume the run.")


def _forwarder(on_event: Callable[[Event], None]):
    """Events go to the caller on rank 0 only (one progress bar, one metrics file under torchrun)."""
    def emit(event: Event) -> None:
        if not dist_utils.active() or torch.distributed.get_rank() == 0:
            on_event(event)
    return emit


def train(cfg, on_event: Callable[[Event], None], should_stop: Callable[[], bool], *,
          resume: str | None = None, extend_epochs: int = 0, data=None) -> FinishedEvent:
    """Train as `cfg` says (or continue run `resume`); returns the FinishedEvent it also emits.

    `data` replaces the dataset pipeline (tests and benchmarks pass synthetic data)."""
    emit = _forwarder(on_event)
    session = Session(cfg, emit, should_stop, resume=resume, extend_epochs=extend_epochs, data=data)
    try:
        session.setup()
        session.run()
        return session.finish("completed")
    except StopRequested:
        session.save_last()
        return session.finish("stopped", "Stopped on request; resume with --resume.")
    except NonFiniteLoss as exc:
        rows = exc.rows
        msg = (f"The loss became non-finite at iteration {session.state.iteration + 1} on rows {rows}; "
               "lower train.lr, raise train.warmup_iters or set train.grad_clip, then resume from last.pt.")
        return session.fail(ErrorEvent(msg, reason="nan", rows=rows))
    except torch.cuda.OutOfMemoryError:
        session.free_memory()
        return session.fail(ErrorEvent(OOM_ADVICE, reason="oom"))
    except DataError as exc:
        return session.fail(ErrorEvent(str(exc), reason="data", rows=list(getattr(exc, "rows", []))))
    except TrainingError as exc:
        reason = "weights" if "weights" in str(exc).lower() else "error"
        return session.fail(ErrorEvent(str(exc), reason=reason))
    except UserError as exc:
        return session.fail(ErrorEvent(str(exc), reason="error"))
    except KeyboardInterrupt:
        session.fail(ErrorEvent("Training was interrupted; resume from last.pt.", reason="error"))
        raise
    except Exception as exc:  # noqa: BLE001 - a bug still ends the run with a terminal event
        detail = traceback.format_exc()
        return session.fail(ErrorEvent(f"Training failed with {type(exc).__name__}: {exc}; "
                                       "rerun with --debug and report the traceback.",
                                       reason="error", detail=detail))
    finally:
        session.close()

