"""TensorBoard event files next to metrics.jsonl: the same event records, as scalars.

An event sink like `rundir.MetricsLog` (`write(record)`, `close()`), written into the run folder so
`tensorboard --logdir runs/` shows one curve set per run. It is used only when the optional
`tensorboard` package is installed and `train.tensorboard` is on; otherwise `with_tensorboard` returns
the metrics log unchanged.
"""
from __future__ import annotations

import math
import os

TB_FLUSH_S = 15   # how stale the curves in a running TensorBoard may be


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401, PLC0415
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class TensorBoardLog:
    """Scalars per iteration (every loss term, lr, images/s, data wait), epoch means and validation APs."""

    def __init__(self, run_dir: str | os.PathLike, resumed_at: int | None = None):
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415

        # On resume, drop what the killed run logged after its checkpoint: those iterations run again.
        purge = None if resumed_at is None else int(resumed_at) + 1
        self._writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge, flush_secs=TB_FLUSH_S)

    def _scalars(self, prefix: str, values: dict, step: int) -> None:
        for key, value in values.items():
            number = _number(value)
            if number is not None:
                self._writer.add_scalar(f"{prefix}/{key}", number, step)

    def write(self, record: dict) -> None:
        kind, step = record.get("event"), record.get("iteration")
        if kind == "iteration":
            self._scalars("loss", {"total": record["loss"], **record["losses"]}, step)
            self._scalars("train", {"lr": record["lr"], "images_per_s": record["images_per_s"],
                                    "data_wait": record["data_wait"],
                                    "cuda_mem_mb": record.get("cuda_mem_mb", 0.0)}, step)
        elif kind == "epoch":
            self._scalars("epoch_mean", record["mean_losses"], step)
        elif kind == "eval":
            self._scalars("val", record["metrics"], step)
            if record.get("val_losses"):
                self._scalars("val_loss", record["val_losses"], step)
            for name, aps in (record.get("per_class") or {}).items():
                self._scalars(f"val_class/{name}", aps, step)
        elif kind == "finished":
            self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class _Tee:
    """Several sinks behind the one `write`/`close` the session calls."""

    def __init__(self, *sinks):
        self.sinks = sinks

    def write(self, record: dict) -> None:
        for sink in self.sinks:
            sink.write(record)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def with_tensorboard(metrics_log, run_dir, enabled: bool, resumed_at: int | None = None):
    """`metrics_log`, plus TensorBoard event files when enabled and the package is installed."""
    if not enabled or not tensorboard_available():
        return metrics_log
    try:
        return _Tee(metrics_log, TensorBoardLog(run_dir, resumed_at))
    except Exception:  # noqa: BLE001 - a broken optional install must not stop the run; metrics.jsonl has it all
        return metrics_log
