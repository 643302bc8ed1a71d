"""The thread helpers: terminal signals always arrive, events are batched, newest render wins."""
import os
import sys
import threading
import time

import pytest

from segstudio.base.errors import DataError
from segstudio.engine.events import FinishedEvent, IterationEvent
from segstudio.gui.workers import RenderService, TaskRunner, TrainingRunner, live_threads


def _wait_done(qtbot, runner):
    qtbot.waitUntil(lambda: not runner.is_running(), timeout=20000)


def test_task_runner_reports_a_user_error_as_its_message(qtbot):
    runner = TaskRunner()
    failures = []
    runner.failed.connect(failures.append)

    def job(report, should_stop):
        raise DataError("Dataset /nope does not exist; check the path.")
    with qtbot.waitSignal(runner.done, timeout=10000):
        runner.start(job)
    assert failures == ["Dataset /nope does not exist; check the path."]
    _wait_done(qtbot, runner)


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), RuntimeError("boom")])
def test_task_runner_always_ends_even_on_base_exceptions(qtbot, exc):
    runner = TaskRunner()
    failures = []
    runner.failed.connect(failures.append)

    def job(report, should_stop):
        raise exc
    with qtbot.waitSignal(runner.done, timeout=10000):
        runner.start(job)
    assert len(failures) == 1 and failures[0]
    _wait_done(qtbot, runner)
    assert not live_threads()


def test_task_runner_progress_and_stop(qtbot):
    runner = TaskRunner()
    progress, results = [], []
    runner.progress.connect(progress.append)
    runner.succeeded.connect(results.append)
    started = threading.Event()

    def job(report, should_stop):
        report(1, 10)
        started.set()
        while not should_stop():
            time.sleep(0.01)
        return "stopped cleanly"
    runner.start(job)
    assert started.wait(10)
    with qtbot.waitSignal(runner.done, timeout=10000):
        runner.request_stop()
    assert progress == [(1, 10)] and results == ["stopped cleanly"]
    _wait_done(qtbot, runner)


def _fake_train(n_iters, sleep_s=0.0):
    def train(cfg, on_event, should_stop, *, resume=None, extend_epochs=0):
        for i in range(1, n_iters + 1):
            if should_stop():
                return FinishedEvent("stopped", "run", i - 1, 0)
            on_event(IterationEvent(i, 0, n_iters, {"loss_mask": 0.5}, 0.5, 0.01, 10.0, 0.1, 0.0, 0.0))
            time.sleep(sleep_s)
        return FinishedEvent("completed", "run", n_iters, 0)
    return train


def test_training_runner_batches_events_instead_of_one_signal_per_iteration(qtbot):
    runner = TrainingRunner()
    batches, finished = [], []
    runner.events.connect(batches.append)
    runner.finished.connect(finished.append)
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.start(_fake_train(5000), cfg=None)
    events = [e for b in batches for e in b]
    assert [e.iteration for e in events] == list(range(1, 5001))   # nothing lost, in order
    assert len(batches) < 100                                          # but not 5000 signals
    assert finished[0]["status"] == "completed"
    assert not runner.is_running() and not live_threads()


def test_training_runner_stop_flag_and_crash_give_a_terminal_result(qtbot):
    runner = TrainingRunner()
    results = []
    runner.finished.connect(results.append)
    runner.start(_fake_train(10**6, sleep_s=0.001), cfg=None)
    qtbot.wait(100)
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.stop()
    assert results[-1]["status"] == "stopped"

    def crash(cfg, on_event, should_stop, **kw):
        raise SystemExit(1)
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.start(crash, cfg=None)
    assert results[-1]["status"] == "failed" and results[-1]["message"]


def test_render_service_delivers_only_the_newest_request(qtbot):
    service = RenderService()
    got = []
    a, b = service.channel("a"), service.channel("b")
    assert service.channel("a") is a                             # one object per consumer
    a.resultReady.connect(lambda seq, payload: got.append(("a", payload)))
    b.resultReady.connect(lambda seq, payload: got.append(("b", payload)))
    gate = threading.Event()
    a.submit(lambda: (gate.wait(10), "first")[1])   # keeps the thread busy
    for i in range(20):
        a.submit(lambda i=i: f"draw {i}")
    b.submit(lambda: "other channel")
    gate.set()
    qtbot.waitUntil(lambda: ("a", "draw 19") in got and ("b", "other channel") in got, timeout=10000)
    qtbot.wait(100)
    assert [p for ch, p in got if ch == "a"] == ["draw 19"]   # stale results never reach the window
    service.shutdown()
    assert not live_threads()


def test_a_finished_runs_objects_in_cycles_are_collected():
    """During a run no full collection walks the heap; after it, cycles the run left are freed and the
    collector's thresholds are back, while what existed before the run stays frozen (not walked)."""
    import gc
    import weakref

    from segstudio.gui.process_policy import hold_full_collections, release_gc

    thresholds = gc.get_threshold()
    before = object.__new__(type("Before", (), {}))
    hold_full_collections()
    assert gc.get_threshold()[:2] == thresholds[:2] and gc.get_threshold()[2] > 10**9
    assert not gc.is_finalized(before) and before not in gc.get_objects()    # frozen: never walked

    class Model:
        pass
    model = Model()
    model.me = model                     # a reference cycle, as torch modules can form
    ref = weakref.ref(model)
    del model
    release_gc()
    assert ref() is None
    assert gc.get_threshold() == thresholds
    gc.unfreeze()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux-only")
def test_training_thread_yields_the_cpu_to_the_window(qtbot):
    from segstudio.gui.process_policy import TRAINING_NICENESS

    seen = []

    def train(cfg, on_event, should_stop, **kw):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return FinishedEvent("completed", "run", 0, 0)
    runner = TrainingRunner()
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.start(train, cfg=None)
    window_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, window_nice + TRAINING_NICENESS)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == window_nice   # window untouched


def test_training_thread_freezes_the_run_setup_at_its_first_iteration(qtbot):
    """Objects alive at the first iteration (the run's imports, model, optimizer) are frozen, so the
    end-of-run collections do not walk them while the window waits for the GIL."""
    import gc
    seen = {}

    def fake_train(cfg, on_event, should_stop, resume=None, extend_epochs=0):
        setup = [[i] for i in range(5000)]           # stands for the model and the imported modules
        before = gc.get_freeze_count()
        on_event(IterationEvent(1, 0, 2, {"loss_mask": 0.5}, 0.5, 0.01, 10.0, 0.1, 0.0, 0.0))
        after_first = gc.get_freeze_count()
        on_event(IterationEvent(2, 0, 2, {"loss_mask": 0.5}, 0.5, 0.01, 10.0, 0.1, 0.0, 0.0))
        seen.update(first=after_first - before, second=gc.get_freeze_count() - after_first, n=len(setup))
        return FinishedEvent("completed", "run", 2, 0)
    runner = TrainingRunner()
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.start(fake_train, cfg=None)
    assert seen["first"] >= seen["n"] and seen["second"] <= 0   # frozen objects may die; no second freeze
    _wait_done(qtbot, runner)
