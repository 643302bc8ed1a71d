"""`segstudio weights list|download|import` against a loopback server and a temporary TORCH_HOME."""
from __future__ import annotations

import pytest
import torch
import torchvision
from weights_server import WeightsServer, hashed_name, small_weights

from segstudio.cli import main
from segstudio.models import download, weights


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(download, "DEFAULT_RETRY", download.Retry(attempts=2, backoff_s=0.01, timeout_s=5))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def server(monkeypatch):
    srv = WeightsServer().start()
    monkeypatch.setenv(weights.BASE_URL_ENV, f"{srv.url}/models")
    yield srv
    srv.close()


@pytest.fixture
def tiny_entry(monkeypatch):
    """A catalogue entry whose torchvision-style name carries the true hash of a small file."""
    payload = small_weights()
    entry = weights.KnownWeights("tiny_coco", "coco", ("maskrcnn_resnet18_fpn",), "nothing", 0.1,
                                 f"https://download.pytorch.org/models/{hashed_name('tiny', payload)}")
    real = weights._catalogue
    monkeypatch.setattr(weights, "_catalogue", lambda: real() + [entry])
    return entry, payload


def test_list_names_each_known_file_and_the_folder(home, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("maskrcnn_resnet50_fpn_v2_coco", "maskrcnn_resnet50_fpn_coco", "resnet50_imagenet",
                 "resnet18_imagenet", "mobilenet_v3_large_imagenet"):
        assert name in out
    assert "COCO train2017 (box AP 47.4, mask AP 41.8)" in out and "177 MB" in out
    assert f"folder: {home}" in out and " yes" not in out


def test_download_saves_verifies_and_never_fetches_again(home, server, tiny_entry, capsys):
    entry, payload = tiny_entry
    server.add(entry.file_name, payload)
    assert main(["weights", "download", "tiny_coco"]) == 0
    assert (home / entry.file_name).read_bytes() == payload
    assert "sha256 verified" in capsys.readouterr().out
    assert main(["weights", "download", "tiny_coco"]) == 0
    assert "already" in capsys.readouterr().out and server.requests[entry.file_name] == 1
    weights.fetch_weights(entry, base_url=server.url)   # the library call does not fetch it either
    assert server.requests[entry.file_name] == 1
    assert main(["weights", "list"]) == 0 and "yes" in capsys.readouterr().out


def test_download_with_a_wrong_file_is_one_line_and_leaves_nothing(home, server, capsys):
    known = weights.find_weights("resnet18_imagenet")
    server.add(known.file_name, small_weights())   # bytes that are not torchvision's file
    assert main(["weights", "download", "resnet18_imagenet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "checksum" in err and known.file_name in err and str(home) in err
    assert list(home.iterdir()) == []


def test_offline_says_url_and_folder_to_copy_by_hand(home, monkeypatch, capsys):
    monkeypatch.setenv(weights.BASE_URL_ENV, "http://127.0.0.1:9/models")   # nothing listens on port 9
    assert main(["weights", "download", "maskrcnn_resnet50_fpn_v2_coco"]) == 1
    err = capsys.readouterr().err
    assert "http://127.0.0.1:9/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in err
    assert f"copy it into {home}" in err and "Traceback" not in err


def test_unknown_name_lists_the_choices(home, capsys):
    assert main(["weights", "download", "yolo"]) == 1
    assert "Unknown weights 'yolo'; choose one of maskrcnn_resnet50_fpn_v2_coco" in capsys.readouterr().err


def test_import_a_backbone_and_a_colleagues_checkpoint(home, tmp_path, capsys):
    from segstudio.base.config import ModelConfig
    from segstudio.models.maskrcnn import build_model

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "my-backbone.pth")
    assert main(["weights", "import", str(tmp_path / "my-backbone.pth")]) == 0
    out = capsys.readouterr().out
    assert "an ImageNet backbone for maskrcnn_resnet18_fpn" in out and str(home / "my-backbone.pth") in out
    model = build_model(ModelConfig(), 4, 64)
    torch.save({"model": model.state_dict(), "arch": "maskrcnn_resnet18_fpn"}, tmp_path / "colleague.pt")
    assert main(["weights", "import", str(tmp_path / "colleague.pt")]) == 0
    assert "a whole detector for maskrcnn_resnet18_fpn" in capsys.readouterr().out
    assert (home / "colleague.pt").read_bytes() == (tmp_path / "colleague.pt").read_bytes()
    assert main(["weights", "list"]) == 0
    listed = capsys.readouterr().out
    assert str(home / "colleague.pt") in listed and "imported (detector)" in listed
    # the imported file trains: model.weights names it
    loaded = build_model(ModelConfig(weights=str(home / "colleague.pt")), 4, 64)
    assert torch.equal(loaded.backbone.body.conv1.weight, model.backbone.body.conv1.weight)


@pytest.mark.parametrize("content, message", [
    (b"not a pickle", "does not load with torch.load(weights_only=True)"),
    ({"w": torch.zeros(3)}, "fits none of segstudio's architectures"),
])
def test_import_refuses_files_that_do_not_fit(home, tmp_path, capsys, content, message):
    path = tmp_path / "x.pth"
    path.write_bytes(content) if isinstance(content, bytes) else torch.save(content, path)
    assert main(["weights", "import", str(path)]) == 1
    assert message in capsys.readouterr().err
    assert not home.exists() or not any(home.iterdir())


def test_import_of_a_damaged_torchvision_file_is_refused(home, tmp_path, capsys):
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)   # right shape, other bytes
    assert main(["weights", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "checksum differs" in err and "resnet18-f37072fd.pth" in err
    assert not (home / "resnet18-f37072fd.pth").exists()


def test_train_config_naming_absent_weights_downloads_only_after_a_yes(home, server, tiny_entry, monkeypatch):
    import argparse
    import io

    from segstudio.base.config import Config
    from segstudio.commands.train import offer_missing_weights

    entry, payload = tiny_entry
    server.add(entry.file_name, payload)
    cfg = Config()
    cfg.model.weights = "coco"   # the tiny entry is "coco" for maskrcnn_resnet18_fpn, the default arch
    args = argparse.Namespace(resume=None, download_weights=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))   # not a terminal: never asks, never downloads
    assert offer_missing_weights(cfg, args, ask=pytest.fail) is False
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    questions = []
    assert offer_missing_weights(cfg, args, ask=lambda q: questions.append(q) or "n") is False
    assert entry.file_name in questions[0] and str(home) in questions[0] and server.requests[entry.file_name] == 0
    assert offer_missing_weights(cfg, args, ask=lambda q: "y", stream=io.StringIO()) is True
    assert (home / entry.file_name).read_bytes() == payload
    assert offer_missing_weights(cfg, args, ask=pytest.fail) is False   # present now: no question
    args = argparse.Namespace(resume=None, download_weights=True)
    (home / entry.file_name).unlink()
    assert offer_missing_weights(cfg, args, ask=pytest.fail, stream=io.StringIO()) is True
    assert server.requests[entry.file_name] == 2
