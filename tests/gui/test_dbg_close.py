"""Closing the window leaves no thread of ours running, and a host process exits cleanly.

Each case builds the window in a subprocess (offscreen), opens the demo dataset, closes the window while
background work runs and lets the interpreter exit: before the threads were daemon Python threads, the
exit aborted with "QThread: Destroyed while thread ... is still running".
"""
import os
import subprocess
import sys
import textwrap

import pytest

HOST = textwrap.dedent("""
    import sys, time
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    import segstudio.gui.dataset_panel as dataset_panel
    from segstudio.gui import MainWindow
    from segstudio.gui.app import process_events_until
    from segstudio.gui.workers import live_threads

    url, mode, run = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "hang":   # an open that blocks like one on an unreachable s3:// server
        import segstudio.gui.workers as workers
        workers.EXIT_WAIT_S = 2   # the exit waits this long for it, then leaves it behind
        real = dataset_panel.open_and_describe
        def hang(*args):
            time.sleep(60)
            return real(*args)
        dataset_panel.open_and_describe = hang
    window = MainWindow()
    window.show()
    window.open_dataset(url)
    if mode == "loaded":  # first row on screen, previews rendering
        process_events_until(app, lambda: window.datasetPanel.sample.previewView.array is not None, 120)
    elif mode in ("predictions", "evaluation"):   # the Evaluation tab's work on a trained run
        import torch
        import segstudio.engine.inference as inference
        real_load = inference.load_run_model
        def slow_load(*args, **kwargs):   # a bigger model: each image costs about a second of native work
            loaded = real_load(*args, **kwargs)
            def slow(module, _inputs):
                with torch.no_grad():
                    for _ in range(6):
                        module.backbone(torch.rand(1, 3, 320, 320))
            loaded.model.register_forward_pre_hook(slow)
            return loaded
        inference.load_run_model = slow_load
        edit = window.trainPanel.editors["train.runs_dir"]
        edit.setText(run)
        edit.editingFinished.emit()
        panel = window.evalPanel
        process_events_until(app, lambda: panel.runCombo.count() > 0, 60)
        messages = []
        panel.message.connect(lambda text, _error: messages.append(text))
        (panel.load_predictions if mode == "predictions" else panel.evaluate_checkpoint)()
        started = "Predicting" if mode == "predictions" else "Evaluating"
        process_events_until(app, lambda: any(m.startswith(started) for m in messages), 120)
        process_events_until(app, lambda: False, float(sys.argv[4]))
    else:
        process_events_until(app, lambda: False, 0.3)
    print("BUSY", sorted(t.name for t in live_threads()), flush=True)
    start = time.monotonic()
    window.close()
    print("CLOSED", round(time.monotonic() - start, 1), flush=True)
    allowed = {"segstudio-task"} if mode == "hang" else set()
    wait_s = float(sys.argv[5])   # 0: the host exits right after close(), as a script embedding the window may
    process_events_until(app, lambda: {t.name for t in live_threads()} <= allowed, wait_s)
    print("LEFT", sorted(t.name for t in live_threads()), round(time.monotonic() - start, 1), flush=True)
""")


def _run_host(demo_dataset, mode, tmp_path, run="", after_s=0.0, wait_s=10.0):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    return subprocess.run([sys.executable, "-c", HOST, demo_dataset, mode, str(run), str(after_s), str(wait_s)],
                          capture_output=True, text=True, timeout=240, env=env, check=False)


@pytest.mark.parametrize("mode", ["opening", "loaded", "hang"])
def test_close_during_background_work_exits_cleanly(demo_dataset, tmp_path, mode):
    proc = _run_host(demo_dataset, mode, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "QThread" not in proc.stderr and "Fatal" not in proc.stderr, proc.stderr[-2000:]
    busy = next(line for line in proc.stdout.splitlines() if line.startswith("BUSY"))
    left = next(line for line in proc.stdout.splitlines() if line.startswith("LEFT"))
    assert "segstudio-render" in busy
    if mode == "hang":   # the blocked open is abandoned on its daemon thread; close did not wait for it
        assert "'segstudio-task'" in busy and "segstudio-render" not in left
        assert float(left.split()[-1]) < 10
    else:
        assert left.startswith("LEFT []"), left


@pytest.fixture(scope="module")
def tiny_run(demo_dataset, tmp_path_factory):
    """A one-iteration run of the demo dataset, with its best.pt (the Evaluation tab's input)."""
    from tiny_config import write_config

    from segstudio.cli import main

    tmp = tmp_path_factory.mktemp("close-run")
    assert main(["train", "--config", str(write_config(tmp, demo_dataset, "tiny", iters=1, eval_images=2))]) == 0
    return tmp / "runs"


@pytest.mark.parametrize("mode, after_s, wait_s", [("predictions", 1.0, 0.0), ("evaluation", 0.0, 10.0)])
def test_close_during_the_evaluation_tabs_work_exits_cleanly(demo_dataset, tiny_run, tmp_path, mode, after_s,
                                                             wait_s):
    """Show predictions or Evaluate checkpoint still running (the model's inference, native code) when the
    window closes, and the host exits at once or after a bounded wait: before, the exit aborted with
    "terminate called without an active exception" (a daemon thread inside torch at finalisation)."""
    proc = _run_host(demo_dataset, mode, tmp_path, tiny_run, after_s, wait_s)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "terminate called" not in proc.stderr and "QThread" not in proc.stderr, proc.stderr[-2000:]
    busy = next(line for line in proc.stdout.splitlines() if line.startswith("BUSY"))
    left = next(line for line in proc.stdout.splitlines() if line.startswith("LEFT"))
    assert "'segstudio-task'" in busy, busy
    if wait_s:   # the task stops within one image once asked: no thread left after the bounded wait
        assert left.startswith("LEFT []"), left
