"""Small dataclasses the engine reports through its `on_event` callback.

The CLI turns them into a progress bar and log lines, the window into curves and status; both append
`event.to_dict()` to metrics.jsonl, and `Event.from_dict` turns a record back into the same typed event
(the window draws live and past runs from the same objects). Events carry plain Python numbers and strings
only (never tensors), so they can cross threads and be serialised as they are.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

_KINDS: dict[str, type] = {}   # "iteration" -> IterationEvent, ... (every subclass registers itself)


@dataclass
class Event:
    KIND: ClassVar[str] = ""   # the record's "event" value; by default the class name without "Event", lower

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _KINDS[cls.kind_name()] = cls

    @classmethod
    def kind_name(cls) -> str:
        return cls.__dict__.get("KIND") or cls.__name__.removesuffix("Event").lower()

    @property
    def kind(self) -> str:
        return self.kind_name()

    def to_dict(self) -> dict:
        return {"event": self.kind, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(record: dict) -> Event | None:
        """The typed event of a metrics.jsonl record (fields it does not know are ignored); None for a record
        of another kind, or one that lacks a field its kind needs."""
        cls = _KINDS.get(record.get("event", ""))
        if cls is None:
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in record.items() if k in names})
        except TypeError:
            return None


def events_from(records) -> list[Event]:
    """The typed events of metrics.jsonl records, in order, skipping what is not an event."""
    return [e for e in map(Event.from_dict, records) if e is not None]


@dataclass
class StartedEvent(Event):
    run_dir: str
    total_iters: int
    iters_per_epoch: int
    epochs: int
    start_iteration: int = 0
    device: str = "cpu"
    train_images: int = 0
    val_images: int = 0
    weights: str = ""         # what the model starts from, e.g. "COCO weights <file>"


@dataclass
class IterationEvent(Event):
    iteration: int            # 1-based global iteration (continues across resume)
    epoch: int                # 0-based epoch the iteration belongs to
    total_iters: int
    losses: dict              # every loss term, floats
    loss: float               # their sum
    lr: float
    images_per_s: float
    data_wait: float          # share of the step spent waiting for data, 0..1
    elapsed_s: float
    eta_s: float
    cuda_mem_mb: float = 0.0


@dataclass
class EpochEvent(Event):
    epoch: int
    iteration: int
    mean_losses: dict
    duration_s: float


@dataclass
class EvaluatingEvent(Event):
    """Validation starts (it can take a while after the last iteration: the window says so), and how far it
    got (done > 0: sent to the window and the terminal every second or so, not written to metrics.jsonl)."""
    epoch: int
    iteration: int
    images: int
    done: int = 0
    elapsed_s: float = 0.0


@dataclass
class EvalEvent(Event):
    epoch: int
    iteration: int
    metrics: dict             # bbox_map, bbox_map_50, bbox_map_75, segm_map, ...
    per_class: dict = field(default_factory=dict)   # class name -> {"bbox_ap": x, "segm_ap": y}
    duration_s: float = 0.0
    val_losses: dict = field(default_factory=dict)  # "loss" (total), "loss_classifier", ... on the val split
    weights: str = "model"    # whose metrics these are: "model", or "ema" (train.ema: the moving average)
    model_metrics: dict = field(default_factory=dict)   # with train.ema: the trained weights' own metrics


@dataclass
class CheckpointEvent(Event):
    path: str
    which: str                # "last" or "best"
    iteration: int
    epoch: int
    weights: str = "model"    # which weights inference loads from it: "model", or "ema" (the moving average)


@dataclass
class WarningEvent(Event):
    message: str


@dataclass
class BadRowEvent(Event):
    """A row with an error met while training reads it (the pre-flight checked only a sample up front)."""
    KIND: ClassVar[str] = "bad_row"
    row: int
    message: str              # one sentence naming the row and its problem
    action: str               # "skipped" (data.bad_rows = "skip") or "stopped"
    skipped: int = 0          # rows this run has skipped so far


@dataclass
class ErrorEvent(Event):
    message: str              # one sentence: what happened, what to do
    reason: str = "error"     # "nan", "oom", "data", "weights", "error"
    rows: list = field(default_factory=list)
    detail: str = ""          # traceback of an unexpected failure (for --debug and bug reports)


@dataclass
class FinishedEvent(Event):
    status: str               # "completed", "stopped" or "failed"
    run_dir: str
    iteration: int
    epoch: int
    best_metric: float | None = None
    message: str = ""


def format_duration(seconds: float) -> str:
    """Seconds as h:mm:ss (an ETA or an elapsed time, for the terminal and the window alike)."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
