"""Starting the app: `segstudio gui --screenshot`, and the demo dataset created with visible progress."""
import os
import subprocess
import sys
import time

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QProgressDialog


def test_gui_command_saves_a_screenshot_and_quits(demo_dataset, tmp_path):
    out = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "segstudio", "gui", "--dataset", demo_dataset,
                           "--screenshot", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500
    assert (tmp_path / "config").is_dir()         # settings went to the redirected folder


def test_first_run_creates_the_demo_dataset_with_progress_then_opens_it(make_window, qtbot, demo_dataset,
                                                                        monkeypatch):
    import segstudio.data.demo as demo
    from segstudio.gui.app import ensure_demo_then

    calls = []

    def slow_ensure(progress=None):
        for i in range(1, 4):
            time.sleep(0.3)
            progress(i, 3)
            calls.append(i)
        return demo_dataset
    monkeypatch.setattr(demo, "ensure_demo_dataset", slow_ensure)
    window = make_window()
    ensure_demo_then(window, window.open_dataset)
    qtbot.waitUntil(lambda: window.findChild(QProgressDialog, "demoProgressDialog") is not None
                    and window.findChild(QProgressDialog, "demoProgressDialog").isVisible(), timeout=10000)
    qtbot.waitUntil(lambda: window.state.ready, timeout=30000)
    assert calls == [1, 2, 3] and window.state.url == demo_dataset
    assert not window.findChild(QProgressDialog, "demoProgressDialog").isVisible()
