"""Work off the GUI thread: one-shot tasks, the training run, and newest-request-wins rendering.

Rules followed here (see shared notes on Qt threading):
- the threads are daemon Python threads, not QThreads: a read the window abandons on close (an open on
  an unreachable s3:// server blocks in the storage library for a minute and cannot be interrupted) may
  outlive the window and even the interpreter's exit, which a running QThread turns into an abort
  ("QThread: Destroyed while thread is still running"); signals emitted from them reach the GUI thread
  queued, because the receivers live there;
- every thread and worker is referenced from Python until the thread has finished;
- workers catch BaseException and always emit exactly one terminal signal;
- stop requests are a threading.Event set directly from the GUI thread (a queued slot would never run
  while the worker is busy);
- signals crossing threads carry freshly built Python objects (lists, dicts, tuples), never buffers
  that the worker keeps using.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

from segstudio.base.errors import UserError
from segstudio.base.pace import Pace
from segstudio.engine.events import Event
from segstudio.gui.process_policy import freeze_run_setup, yield_cpu_to_window

log = logging.getLogger(__name__)

# Every thread started by this module (with the function that asks it to stop), so tests and the window can
# check nothing is left running, and the interpreter's exit can stop and wait for them.
_LIVE_THREADS: dict[threading.Thread, Callable[[], None]] = {}
_LIVE_LOCK = threading.Lock()

# How long the interpreter's exit waits, in all, for our threads to stop once asked (a prediction or a
# training iteration in progress finishes first).
EXIT_WAIT_S = 10.0


def live_threads() -> list[threading.Thread]:
    """The threads of this module still running (named segstudio-task, -train, -render)."""
    with _LIVE_LOCK:
        for t in [t for t in _LIVE_THREADS if not t.is_alive()]:
            del _LIVE_THREADS[t]
        return list(_LIVE_THREADS)


def start_thread(target: Callable[[], None], name: str, stop: Callable[[], None] = lambda: None) -> threading.Thread:
    """A daemon thread registered in live_threads() until it ends; `stop()` asks it to end."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    with _LIVE_LOCK:
        _LIVE_THREADS[thread] = stop
    thread.start()
    return thread


def stop_threads_at_exit(timeout_s: float | None = None) -> list[threading.Thread]:
    """At the interpreter's exit (atexit, before finalisation): ask every thread of ours to stop, then wait
    for them, `EXIT_WAIT_S` in all. Returns those still running.

    Python 3.11 ends a daemon thread that wants the GIL during finalisation with pthread_exit, which unwinds
    through the C++ frames of a torch (or Deep Lake) call in progress: "terminate called without an active
    exception", and the process aborts. A host that closes the window and exits at once (Show predictions
    or an evaluation still running) hit it. A thread that does not end in time (a read blocked on an
    unreachable server) is left behind, as before."""
    deadline = time.monotonic() + (EXIT_WAIT_S if timeout_s is None else timeout_s)
    with _LIVE_LOCK:
        pending = list(_LIVE_THREADS.items())
    for _thread, stop in pending:
        try:
            stop()
        except Exception:  # noqa: BLE001 - a stop function of a half-destroyed owner; the join still bounds it
            pass
    for thread, _stop in pending:
        thread.join(max(0.0, deadline - time.monotonic()))
    return live_threads()


atexit.register(stop_threads_at_exit)


def describe_exception(exc: BaseException) -> str:
    """A readable one-line message: a UserError's own sentence, otherwise type and text (and a log)."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    if isinstance(exc, MemoryError):
        return "Out of memory; use smaller images or a smaller batch size."
    log.error("unexpected error in a worker:\n%s", "".join(traceback.format_exception(exc)))
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"Unexpected {type(exc).__name__}: {text}" if text else f"Unexpected {type(exc).__name__}."


class _TaskWorker(QObject):
    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)   # the exception itself: it is described on the GUI thread
    done = Signal()

    def __init__(self, fn: Callable, stop: threading.Event):
        super().__init__()
        self._fn = fn
        self._stop = stop

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self._report, self._stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - a worker must always end with a terminal signal
            self.failed.emit(exc)
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()

    def _report(self, *values) -> None:
        self.progress.emit(tuple(values))


class _ThreadOwner(QObject):
    """Owns one thread + worker pair at a time and keeps Python references until the thread has ended."""

    _thread_ended = Signal(object)   # emitted by the thread as its last act; delivered on the GUI thread

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._worker: QObject | None = None
        self._thread_ended.connect(self._on_thread_finished)

    def is_running(self) -> bool:
        return self._thread is not None

    def wait(self, ms: int = 30000) -> bool:
        thread = self._thread
        if thread is None:
            return True
        thread.join(ms / 1000)
        return not thread.is_alive()

    def _launch(self, worker: QObject, name: str, stop: threading.Event) -> None:
        """Run worker.run() in a new daemon thread; the worker object stays on the GUI thread, so its
        signals, emitted from the thread, are queued to the GUI thread. `stop` is the worker's stop request."""
        self._worker = worker
        self._thread = start_thread(lambda: self._body(worker), name, stop.set)

    def _body(self, worker) -> None:
        try:
            worker.run()
        finally:
            try:
                self._thread_ended.emit(threading.current_thread())
            except RuntimeError:   # the owner was deleted (window gone): nobody waits for this thread
                pass

    @Slot(object)
    def _on_thread_finished(self, thread) -> None:
        if thread is not self._thread:
            return
        worker = self._worker
        self._thread = self._worker = None
        thread.join(5)   # it is returning from _body now
        if worker is not None:
            worker.deleteLater()
        self._ended()

    def _ended(self) -> None:
        """Runs on the GUI thread once the thread has finished and the references are dropped."""


class TaskRunner(_ThreadOwner):
    """Runs `fn(report, should_stop)` in a daemon thread; re-emits progress, then succeeded or failed, then done.
    A failure arrives twice: `error` with the exception object (to branch on its class), `failed` with its
    sentence (to show)."""

    progress = Signal(object)
    succeeded = Signal(object)
    error = Signal(object)
    failed = Signal(str)
    done = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._stop = threading.Event()

    def start(self, fn: Callable) -> None:
        if self._thread is not None:
            raise RuntimeError("a task is already running")
        self._stop = threading.Event()
        worker = _TaskWorker(fn, self._stop)
        worker.progress.connect(self.progress)
        worker.succeeded.connect(self.succeeded)
        worker.failed.connect(self._on_failed)
        self._launch(worker, "segstudio-task", self._stop)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self.error.emit(exc)
        self.failed.emit(describe_exception(exc))

    def request_stop(self) -> None:
        self._stop.set()

    def _ended(self) -> None:
        self.done.emit()


class LatestTask(QObject):
    """The one "newest request wins" task: `request(arg)` runs `work(arg, should_stop)` (with `progress`:
    `work(arg, should_stop, report)`, whose `report(*values)` arrives as `progress(values)`) in a background
    task; `ready(arg, result)` arrives on the GUI thread. A request made while one runs asks that one to stop
    and runs next, with the newest argument (requests in between collapse into it); a result, failure or
    progress overtaken by a request is not delivered. `failed` carries a sentence."""

    ready = Signal(object, object)
    failed = Signal(str)
    progress = Signal(object)

    def __init__(self, work: Callable, what: str, parent: QObject | None = None, progress: bool = False):
        super().__init__(parent)
        self._work, self._what, self._reports = work, what, progress
        self._runner = TaskRunner(self)
        self._runner.succeeded.connect(self._on_result)
        self._runner.failed.connect(self._on_failed)
        self._runner.progress.connect(self._on_progress)
        self._runner.done.connect(self._start_pending)
        self._pending: tuple | None = None
        self._closed = False

    def readers(self) -> list["LatestTask"]:
        """Reading only: safe to abandon when the window closes."""
        return [self]

    def request_stop(self) -> None:
        """The window closes: stop the task in progress and start no other."""
        self._closed, self._pending = True, None
        self._runner.request_stop()

    def wait(self, ms: int = 30000) -> bool:
        return self._runner.wait(ms)

    def busy(self) -> bool:
        return self._runner.is_running()

    def idle(self) -> bool:
        """Nothing running or waiting: the newest request's result (or failure) has been delivered."""
        return not self._runner.is_running() and self._pending is None

    def request(self, arg) -> None:
        if self._closed:
            return
        if self._runner.is_running():
            self._pending = (arg,)
            self._runner.request_stop()   # its result would not be delivered: let it end early
            return
        self._start(arg)

    def _start(self, arg) -> None:
        work, reports = self._work, self._reports
        self._runner.start(lambda report, should_stop: (arg, work(arg, should_stop, report) if reports
                                                        else work(arg, should_stop)))

    @Slot(object)
    def _on_progress(self, values) -> None:
        if self._pending is None and not self._closed:
            self.progress.emit(values)

    @Slot(object)
    def _on_result(self, result) -> None:
        if self._pending is None and not self._closed:
            self.ready.emit(*result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._pending is None and not self._closed:
            self.failed.emit(f"Cannot {self._what}: {message}")

    @Slot()
    def _start_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not self._closed:
            self._start(*pending)


class _TrainWorker(QObject):
    """Calls engine.train in its thread and forwards events in batches of ~100 ms."""

    events = Signal(object)      # a fresh list of event dicts
    finished = Signal(object)    # a dict: the FinishedEvent, or {"status": "failed", "message": ...}

    def __init__(self, train_fn: Callable, cfg, stop: threading.Event, resume, extend_epochs: int,
                 flush_s: float):
        super().__init__()
        self._train_fn = train_fn
        self._cfg = cfg
        self._stop = stop
        self._resume = resume
        self._extend = extend_epochs
        self._pending: list[Event] = []
        self._pace = Pace(flush_s)   # the first batch goes at once
        self._frozen: set[str] = set()

    def _on_event(self, event) -> None:
        if event.kind in ("iteration", "eval") and event.kind not in self._frozen:
            freeze_run_setup(self._frozen, event.kind)
        self._pending.append(Event.from_dict(event.to_dict()))  # a copy: nothing is shared with the engine
        if self._pace.due(force=event.kind != "iteration"):
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.events.emit(batch)

    @Slot()
    def run(self) -> None:
        result: dict = {"status": "failed", "message": "Training ended without a result."}
        yield_cpu_to_window()
        try:
            finished = self._train_fn(self._cfg, self._on_event, self._stop.is_set,
                                      resume=self._resume, extend_epochs=self._extend)
            if finished is not None:
                result = finished.to_dict()
        except BaseException as exc:  # noqa: BLE001 - always end with a terminal signal
            result = {"event": "finished", "status": "failed", "message": describe_exception(exc),
                      "run_dir": "", "iteration": 0, "epoch": 0}
        finally:
            try:
                self._flush()
            finally:
                self.finished.emit(result)


class TrainingRunner(_ThreadOwner):
    """Owns the training thread. `stop()` is safe to call from the GUI thread at any time."""

    events = Signal(object)
    finished = Signal(object)

    def __init__(self, parent: QObject | None = None, flush_s: float = 0.1):
        super().__init__(parent)
        self._flush_s = flush_s
        self._stop = threading.Event()
        self._result: dict | None = None
        self.stop_requested_at: float | None = None

    def start(self, train_fn: Callable, cfg, resume=None, extend_epochs: int = 0) -> None:
        if self._thread is not None:
            raise RuntimeError("training is already running")
        self._stop = threading.Event()
        self.stop_requested_at = None
        self._result = None
        worker = _TrainWorker(train_fn, cfg, self._stop, resume, extend_epochs, self._flush_s)
        worker.events.connect(self.events)
        worker.finished.connect(self._on_worker_finished)
        self._launch(worker, "segstudio-train", self._stop)

    def stop(self) -> None:
        if self._thread is not None and not self._stop.is_set():
            self.stop_requested_at = time.monotonic()
            self._stop.set()

    @Slot(object)
    def _on_worker_finished(self, result) -> None:
        self._result = result

    def _ended(self) -> None:
        self.finished.emit(self._result or {"status": "failed", "message": "Training thread ended."})


def _render_loop(service: "RenderService") -> None:
    """Serves render channels one job at a time; per channel only the newest pending job survives."""
    while True:
        job = service._take()
        if job is None:
            return
        channel, seq, fn = job
        try:
            payload = fn()
        except BaseException as exc:  # noqa: BLE001 - report and keep serving
            error = describe_exception(exc)
            payload = None
        else:
            error = ""
        try:
            service._deliver(channel, seq, payload, error)
        except RuntimeError:   # the service was deleted with its window
            return


class RenderChannel(QObject):
    """One consumer's stream of render jobs: `submit(fn)` -> a sequence number; `resultReady(seq, payload)` or
    `failed(seq, message)` arrives on the GUI thread only for this channel's newest request."""

    resultReady = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, service: "RenderService", name: str):
        super().__init__(service)
        self.service, self.name = service, name

    def submit(self, fn: Callable[[], Any]) -> int:
        return self.service._submit(self, fn)

    def latest(self) -> int:
        return self.service._latest.get(self, 0)


class RenderService(QObject):
    """Short jobs (previews) off the GUI thread, newest request wins per channel (`channel(name)`: one object
    per consumer, with its own signals). One thread serves every channel, so dataset reads never run
    concurrently."""

    _delivered = Signal(object, int, object, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cv = threading.Condition()
        self._channels: dict[str, RenderChannel] = {}
        self._pending: dict[RenderChannel, tuple[int, Callable[[], Any]]] = {}
        self._latest: dict[RenderChannel, int] = {}
        self._seq = 0
        self._closing = False
        self._delivered.connect(self._on_delivered)
        self._loop = start_thread(lambda: _render_loop(self), "segstudio-render", self._close_loop)

    def channel(self, name: str) -> RenderChannel:
        """The channel called `name` (made on first use; the same object for every later call)."""
        if name not in self._channels:
            self._channels[name] = RenderChannel(self, name)
        return self._channels[name]

    def _submit(self, channel: RenderChannel, fn: Callable[[], Any]) -> int:
        with self._cv:
            self._seq += 1
            self._latest[channel] = self._seq
            self._pending[channel] = (self._seq, fn)
            self._cv.notify()
            return self._seq

    def idle(self) -> bool:
        with self._cv:
            return not self._pending and not getattr(self, "_busy", False)

    def _take(self):
        with self._cv:
            self._busy = False
            while not self._pending and not self._closing:
                self._cv.wait()
            if self._closing:
                return None
            channel = next(iter(self._pending))
            seq, fn = self._pending.pop(channel)
            self._busy = True
            return channel, seq, fn

    def _deliver(self, channel: RenderChannel, seq: int, payload, error: str) -> None:
        if seq == self._latest.get(channel):
            self._delivered.emit(channel, seq, payload, error)

    @Slot(object, int, object, str)
    def _on_delivered(self, channel: RenderChannel, seq: int, payload, error: str) -> None:
        if seq != self._latest.get(channel):
            return  # a newer request is on its way; drop the stale picture
        if error:
            channel.failed.emit(seq, error)
        else:
            channel.resultReady.emit(seq, payload)

    def _close_loop(self) -> None:
        with self._cv:
            self._closing = True
            self._pending.clear()
            self._cv.notify_all()

    def shutdown(self, ms: int = 10000) -> None:
        self._close_loop()
        self._loop.join(ms / 1000)
