"""How the window's process shares its CPU and memory with a training run: garbage-collector freezes around
runs (a full collection walking the heap froze the window for hundreds of milliseconds), the training thread's
lower CPU priority, and importing the evaluation's libraries during a run's set-up. Process-wide policy, kept
apart from the thread machinery in gui/workers.py; no Qt here.
"""
from __future__ import annotations

import gc
import os
import sys
import threading


def calm_gc(collect: bool = False) -> None:
    """Move every object alive now into the GC's permanent generation.

    A full (generation 2) collection walks every tracked object; with torch, a model and the window
    loaded that took 280-420 ms here, and whichever thread triggers it holds the GIL, so the window froze.
    Called once the window is built; objects alive then are mostly long-lived, and refcounting still
    frees them. Runs use `hold_full_collections` / `release_gc`.
    """
    if collect:  # a full collection first (at start-up only: it is itself one of those long pauses)
        gc.collect()
    gc.freeze()


_SAVED_THRESHOLDS: tuple | None = None


def hold_full_collections() -> None:
    """Called on the GUI thread as a run starts: everything alive now is frozen (cheap: a list splice), and
    automatic full collections are held off until `release_gc`, so none walks the run's objects mid-run.
    The run's own objects are NOT frozen, so cycles among them can still be collected at the end."""
    global _SAVED_THRESHOLDS
    gc.freeze()
    if _SAVED_THRESHOLDS is None:
        _SAVED_THRESHOLDS = gc.get_threshold()
        gen0, gen1, _ = _SAVED_THRESHOLDS
        gc.set_threshold(gen0, gen1, 2**31 - 1)


def release_gc() -> None:
    """After a run: collect what the run left (e.g. a model and optimizer in reference cycles, and their GPU
    memory), then freeze again. Only objects created since `hold_full_collections` are walked: a few
    thousand after the first run, instead of the whole heap (unfreezing everything cost ~290 ms here,
    a visible freeze of the window after every Stop)."""
    global _SAVED_THRESHOLDS
    if _SAVED_THRESHOLDS is not None:
        gc.set_threshold(*_SAVED_THRESHOLDS)
        _SAVED_THRESHOLDS = None
    gc.collect()
    gc.freeze()


def freeze_run_setup(done: set, kind: str) -> None:
    """At a run's first iteration (and first evaluation): freeze what is alive now, in the training thread.

    By then the run has imported its modules (torchvision's detection models, the COCO evaluators: a few
    hundred thousand objects on a first run) and built its model, optimizer and loader. Unfrozen, every
    end-of-run collection (the engine's, then `release_gc`'s) walked them all while holding the GIL: two
    stalls of the window of 100-250 ms each. Frozen objects are still freed by reference counting when
    the run drops them; only garbage cycles among them would wait for a later full collection."""
    done.add(kind)
    gc.freeze()


TRAINING_NICENESS = 5


def yield_cpu_to_window() -> None:
    """Lower the calling thread's CPU priority (Linux: niceness is per thread and inherited).

    Called first in the training thread, so torch's intra-op threads and spawned loader processes, which
    it creates, inherit it too: when cores are busy the window's thread is scheduled first and stays
    responsive; on an idle machine training runs at full speed. Elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + TRAINING_NICENESS))
    except OSError:
        pass


def import_evaluation_libraries() -> None:
    """Import what the run's evaluations use (torchmetrics, and through it scipy: about 440 modules, 30 of
    them extension modules) as the run sets up, in the training thread, instead of at its first evaluation.

    The dynamic loader and an extension module's initialisation run while holding the GIL: loading
    scipy.special's took 250-480 ms in one piece here (measured with a heartbeat thread), a freeze of the
    window in the middle of the run (bench_gui --diagnose showed the training thread in create_module).
    During set-up the window says "starting ..." and nobody is watching curves move."""
    for name in ("torchmetrics.detection", "faster_coco_eval"):   # the metric loads the second at compute()
        try:
            __import__(name)
        except ImportError:   # the evaluation reports a missing library itself, with its own message
            pass
