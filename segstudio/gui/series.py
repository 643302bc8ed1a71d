"""What the Training tab draws and reads out from a run's events: one table that the live curves, the past
runs' overlays and the readout line all read. A new metric is one row here (Qt-free: the plots are chosen by
the key's group, "loss", "lr", "speed", "wait", "ap" or "val", in gui/curves.py).

The loss terms are not rows: their names come with the run (loss_classifier, loss_mask, ...), and each is
drawn raw and smoothed on the loss plot.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from segstudio.engine.events import EvalEvent, Event, IterationEvent


@dataclass(frozen=True)
class SeriesSpec:
    key: str                                     # "group:name": the plot and style (group), the legend (name)
    event: type[Event]                           # the events it is read from
    value: Callable[[Event], float | None]       # None: this event has no value for it
    past: bool = False                           # drawn for ticked past runs too (dashed, in the run's colour)
    readout: str = ""                            # the readout line's text for a value ("" : not read out)


SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("lr:lr", IterationEvent, lambda e: e.lr, past=True, readout="lr {:.2e}"),
    SeriesSpec("speed:images/s", IterationEvent, lambda e: e.images_per_s, past=True, readout="{:.1f} img/s"),
    SeriesSpec("wait:data wait", IterationEvent, lambda e: 100.0 * e.data_wait, past=True,
               readout="data wait {:.0f}%"),
    SeriesSpec("ap:box AP", EvalEvent, lambda e: e.metrics.get("bbox_map")),
    SeriesSpec("ap:mask AP", EvalEvent, lambda e: e.metrics.get("segm_map"), past=True),
    SeriesSpec("ap:mask AP50", EvalEvent, lambda e: e.metrics.get("segm_map_50")),
    SeriesSpec("val:validation", EvalEvent, lambda e: e.val_losses.get("loss")),
)


def points(event: Event) -> list[tuple[str, float]]:
    """(key, value) of every series this event has a value for."""
    out = []
    for spec in SERIES:
        if isinstance(event, spec.event):
            value = spec.value(event)
            if value is not None:
                out.append((spec.key, float(value)))
    return out


def readout(event: IterationEvent) -> str:
    """The line under the curves: the loss, every series that has a readout text (lr, speed, data wait), the
    GPU's memory, then the loss terms (the longest part: a narrow window cuts it, not the lr)."""
    rest = "   ".join(spec.readout.format(spec.value(event)) for spec in SERIES
                      if spec.readout and isinstance(event, spec.event) and spec.value(event) is not None)
    mem = f"   GPU {event.cuda_mem_mb:.0f} MB" if event.cuda_mem_mb else ""
    terms = "  ".join(f"{k.removeprefix('loss_')} {v:.3f}" for k, v in (event.losses or {}).items())
    return f"loss {event.loss:.4f}   {rest}{mem}   {terms}"
