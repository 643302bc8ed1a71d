"""The window names the damaged column and rows of a dataset whose data file was cut short."""
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton


def test_window_shows_the_damaged_column_and_rows(make_window, qtbot, tmp_path):
    from segstudio.data.demo import create_demo_dataset
    from segstudio.data.integrity import _blocks

    path = tmp_path / "demo"
    create_demo_dataset(str(path), num_images=4, seed=0)
    branch = next(p for p in (path / "_deeplake_log").iterdir() if p.is_dir() and p.name != "_meta")
    chunk = next(path / b.key for b in _blocks(branch, {}).values() if b.column == "split")
    chunk.write_bytes(chunk.read_bytes()[:20])     # read by Deep Lake, this one asks for unbounded memory
    window = make_window()
    window.findChild(QLineEdit, "datasetUrlEdit").setText(str(path))
    qtbot.mouseClick(window.findChild(QPushButton, "openDatasetButton"), Qt.MouseButton.LeftButton)
    message = window.findChild(QLabel, "datasetMessageLabel")
    qtbot.waitUntil(lambda: "damaged" in message.text(), timeout=30000)
    assert "column 'split' holding rows 0-3 is cut short" in message.text()
    assert window.state.ds is None
