"""The window opens a Deep Lake 3.x dataset read-only and says so."""
import shutil
from pathlib import Path

from PySide6.QtWidgets import QLabel

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "dl3_tiny"


def test_window_opens_a_v3_dataset_and_says_it_is_read_only(make_window, qtbot, tmp_path):
    url = str(tmp_path / "dl3_tiny")
    shutil.copytree(FIXTURE, url)
    window = make_window()
    window.open_dataset(url)
    status = window.findChild(QLabel, "statusLabel")
    qtbot.waitUntil(lambda: status.text().startswith("Opened"), timeout=60000)
    assert "3.x" in status.text() and "read-only" in status.text()
    assert window.state.ready and window.state.num_rows == 4 and window.state.class_names == ["square", "bar"]
    view = window.datasetPanel.sample.previewView
    qtbot.waitUntil(lambda: view.array is not None, timeout=60000)   # its first row is drawn
