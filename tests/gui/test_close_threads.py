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

    url, mode = sys.argv[1], sys.argv[2]
    if mode == "hang":   # an open that blocks like one on an unreachable s3:// server
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
    else:
        process_events_until(app, lambda: False, 0.3)
    print("BUSY", sorted(t.name for t in live_threads()), flush=True)
    start = time.monotonic()
    window.close()
    allowed = {"segstudio-task"} if mode == "hang" else set()
    process_events_until(app, lambda: {t.name for t in live_threads()} <= allowed, 10)
    print("LEFT", sorted(t.name for t in live_threads()), round(time.monotonic() - start, 1), flush=True)
""")


def _run_host(demo_dataset, mode, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    return subprocess.run([sys.executable, "-c", HOST, demo_dataset, mode], capture_output=True, text=True,
                          timeout=240, env=env, check=False)


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
