"""GUI test fixtures: settings in a temp folder, a window opened on the demo dataset, no threads left."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6.QtWidgets", reason="PySide6 cannot be imported (Qt system libraries missing?)")

from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory):
    """Point QSettings at a temp folder so tests never read or write the user's settings."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


def close_window(qtbot, window, timeout_ms=60000):
    """Close the window (stopping training if needed) and check no thread of ours is left running."""
    import shiboken6

    from segstudio.gui.workers import live_threads

    if shiboken6.isValid(window):   # a test may have closed it already, and Qt deleted it since
        window.confirm_close_during_training = lambda: True
        window.confirm_discard_fixes = lambda _waiting: True
        window.close()
        qtbot.waitUntil(lambda: not shiboken6.isValid(window) or not window.trainPanel.is_running(),
                        timeout=timeout_ms)
        if shiboken6.isValid(window):
            window.close()
    qtbot.waitUntil(lambda: not live_threads(), timeout=timeout_ms)
    assert not live_threads()


@pytest.fixture(autouse=True)
def no_thread_left_running(qtbot):
    """Every test ends with none of our threads running."""
    yield
    from segstudio.gui.workers import live_threads

    qtbot.waitUntil(lambda: not live_threads(), timeout=30000)


@pytest.fixture
def make_window(qtbot):
    """A factory for MainWindows that are closed (and checked for leftover threads) after the test."""
    from segstudio.gui import MainWindow

    windows = []

    def make():
        w = MainWindow()
        qtbot.addWidget(w)
        w.resize(1360, 860)
        w.show()
        windows.append(w)
        qtbot.waitUntil(w.augmentPanel.catalogueReader.idle, timeout=60000)   # read off the GUI thread
        return w
    yield make
    for w in windows:
        close_window(qtbot, w)


@pytest.fixture
def window(make_window, qtbot, demo_dataset):
    """A window with the demo dataset open and its first row on screen."""
    w = make_window()
    w.open_dataset(demo_dataset)
    qtbot.waitUntil(lambda: w.findChild(type(w.datasetPanel.sample.previewView), "previewView").array is not None,
                    timeout=60000)
    return w
