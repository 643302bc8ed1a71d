"""The Weights field: what is present, Download... with a progress dialog and Cancel, and Start's question."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton
from weights_server import Behaviour, WeightsServer, hashed_name, small_weights

from segstudio.base.config import AugmentConfig, DataConfig
from segstudio.models import weights


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def served(home, monkeypatch):
    """A loopback server and a catalogue entry ("coco" for the default arch) with a truly hashed name."""
    srv = WeightsServer().start()
    monkeypatch.setenv(weights.BASE_URL_ENV, f"{srv.url}/models")
    payload = small_weights()
    entry = weights.KnownWeights("tiny_coco", "coco", ("maskrcnn_resnet18_fpn",), "nothing", 0.1,
                                 f"https://download.pytorch.org/models/{hashed_name('tiny', payload)}")
    real = weights._catalogue
    monkeypatch.setattr(weights, "_catalogue", lambda: [entry] + [k for k in real() if k.kind != "coco"])
    yield srv, entry, payload
    srv.close()


@pytest.fixture
def panel(qtbot, home):
    from segstudio.gui.train_panel import TrainPanel

    p = TrainPanel(lambda: (DataConfig(), AugmentConfig()))
    qtbot.addWidget(p)
    p.editors["model.arch"].setCurrentText("maskrcnn_resnet18_fpn")
    return p


def _items(combo) -> list:
    return [combo.itemText(i) for i in range(combo.count())]


def _listed(qtbot, row) -> list:
    """The items once the field's lister (off the GUI thread) has caught up with the last request."""
    qtbot.waitUntil(row.lister.idle, timeout=20000)
    return _items(row.combo)


def test_the_field_lists_what_is_present_for_the_architecture(panel, home, qtbot):
    row = panel.weightsRow
    assert _listed(qtbot, row) == ["none", "auto"]
    (home / "resnet18-f37072fd.pth").write_bytes(b"x")
    row.refresh()
    assert _listed(qtbot, row) == ["none", "auto", "imagenet"]
    panel.editors["model.arch"].setCurrentText("maskrcnn_resnet50_fpn_v2")   # its backbone is not here
    assert _listed(qtbot, row) == ["none", "auto"]
    row._fill_menu()
    entries = [a.text() for a in row.downloadButton.menu().actions()]
    assert entries[0].startswith("maskrcnn_resnet50_fpn_v2_coco: COCO train2017") and "177 MB" in entries[0]
    assert not any(e.startswith("resnet18_imagenet") for e in entries)   # present: not offered


def test_download_from_the_menu_fills_the_field(panel, served, home, qtbot):
    srv, entry, payload = served
    srv.add(entry.file_name, payload)
    task = panel.weightsRow.download(entry)
    with qtbot.waitSignal(task.done, timeout=20000):
        pass
    qtbot.waitUntil(lambda: panel.editors["model.weights"].currentText() == "coco", timeout=5000)
    assert (home / entry.file_name).read_bytes() == payload and "coco" in _listed(qtbot, panel.weightsRow)


def test_cancel_leaves_nothing_and_a_bad_file_is_a_message(panel, served, home, qtbot):
    srv, entry, payload = served
    srv.slow_s = 0.3
    srv.add(entry.file_name, payload, Behaviour.SLOW)
    task = panel.weightsRow.download(entry)
    qtbot.waitUntil(lambda: srv.requests[entry.file_name] == 1, timeout=10000)
    dialog = task.parent()
    with qtbot.waitSignal(task.failed, timeout=20000) as blocker:
        dialog.findChild(QPushButton).click()   # the dialog's Cancel button
    assert blocker.args[1] is True and list(home.iterdir()) == []
    srv.add(entry.file_name, b"not the promised bytes")
    task = panel.weightsRow.download(entry)
    with qtbot.waitSignal(task.failed, timeout=20000) as blocker:
        pass
    assert blocker.args[1] is False and "checksum" in blocker.args[0]
    box = panel.weightsRow.findChild(QMessageBox, "weightsDownloadError")
    assert box is not None and str(home) in box.text()
    box.close()
    assert list(home.iterdir()) == []


def test_start_with_absent_weights_asks_before_downloading(panel, served, home, qtbot, monkeypatch):
    from segstudio.gui.weights_field import confirm_missing_weights

    srv, entry, payload = served
    srv.add(entry.file_name, payload)
    panel.editors["model.weights"].setCurrentText("coco")
    assert panel.start() is False and not panel.is_running()
    box = panel.findChild(QMessageBox, "weightsConfirmBox")
    assert box is not None and entry.file_name in box.text()
    box.button(QMessageBox.StandardButton.No).click()
    assert srv.requests[entry.file_name] == 0
    box.deleteLater()
    started = []
    assert confirm_missing_weights(panel, panel.config(), then=lambda: started.append(True)) is False
    box = [b for b in panel.findChildren(QMessageBox, "weightsConfirmBox") if b.isVisible()][-1]
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: started == [True], timeout=20000)
    assert (home / entry.file_name).is_file()
    assert confirm_missing_weights(panel, panel.config(), then=pytest.fail) is True


def test_the_window_starts_from_the_gpu_preset_when_a_gpu_is_present(qtbot, home, monkeypatch):
    import torch

    from segstudio.gui.train_panel import TrainPanel

    for gpu, arch, weights_value in ((False, "maskrcnn_resnet18_fpn", "none"),
                                     (True, "maskrcnn_resnet50_fpn_v2", "auto")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda gpu=gpu: gpu)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
        p = TrainPanel(lambda: (DataConfig(), AugmentConfig()))
        qtbot.addWidget(p)
        assert p.editors["model.arch"].currentText() == arch
        assert p.editors["model.weights"].currentText() == weights_value
