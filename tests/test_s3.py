"""segstudio against a real S3 endpoint: moto's server in its own process on 127.0.0.1 (IAM checks on),
the demo dataset uploaded to it. Inspect, preview, train and evaluate read from s3://, import-coco writes
to it; bad keys and an unreachable endpoint are one sentence. (A server that stops mid-epoch, and
resuming from s3://, are in test_s3_outage.py.)"""
from __future__ import annotations

import json

import pytest
import torch
from s3_server import MotoServer, free_port
from tiny_config import write_config

from segstudio.cli import main

DEMO_ROWS = 12   # conftest's demo_small


@pytest.fixture(scope="module")
def s3(demo_small):
    """An authenticating moto server holding the demo dataset at s3://segstudio/demo."""
    server = MotoServer(auth=True).start()
    try:
        server.url = server.upload(demo_small, "segstudio", "demo")
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch, tmp_path):
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SEGSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return s3


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("error: ") and err[0].endswith("."), err[0]
    return err[0]


def s3_config(tmp_path, url, endpoint, name, iters=2, workers=0, extra=""):
    """The tiny config reading from the S3 server, a checkpoint every iteration."""
    return write_config(tmp_path, url, name, iters, endpoint=endpoint, workers=workers, data_extra=extra,
                        train_extra="checkpoint_every = 1\n", eval_images=2)


def _train(cfg_path, on_iteration=lambda e: None, resume=None, should_stop=lambda iteration: False):
    from segstudio.commands.train import load_cli_config
    from segstudio.engine.train import train

    events = []

    def on_event(event):
        events.append(event)
        if event.kind == "iteration":
            on_iteration(event)

    def stop_now() -> bool:
        return should_stop(max((e.iteration for e in events if e.kind == "iteration"), default=0))

    class Args:
        config, runs_dir, max_iters, overrides = str(cfg_path), None, None, []
    return train(load_cli_config(Args), on_event, stop_now, resume=resume), events


def test_inspect_from_s3(s3_env, capsys):
    assert main(["inspect", s3_env.url, "--endpoint-url", s3_env.endpoint]) == 0
    out = capsys.readouterr().out
    assert f"{DEMO_ROWS} rows" in out and "Mapping: images=images" in out


def test_preview_from_s3_equals_local(s3_env, demo_small, tmp_path, capsys):
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(["preview", demo_small, "-n", "4", "--out", str(local)]) == 0
    assert main(["preview", s3_env.url, "--endpoint-url", s3_env.endpoint, "-n", "4", "--out", str(remote)]) == 0
    docs = [json.loads((d / "preview.json").read_text()) for d in (local, remote)]
    assert docs[0]["samples"] == docs[1]["samples"] and len(docs[1]["samples"]) == 4
    for sample in docs[0]["samples"]:
        assert (local / sample["file"]).read_bytes() == (remote / sample["file"]).read_bytes()


def test_train_and_evaluate_from_s3(s3_env, tmp_path, capsys):
    """Training reads its batches from the server (resume from s3:// is in test_s3_outage)."""
    cfg = s3_config(tmp_path, s3_env.url, s3_env.endpoint, "s3run", iters=1)
    run = tmp_path / "runs" / "s3run"
    assert main(["train", "--config", str(cfg)]) == 0
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]["iteration"] == 1
    card = (run / "config.toml").read_text()
    assert s3_env.url in card and s3_env.creds["aws_secret_access_key"] not in card
    capsys.readouterr()
    assert main(["eval", str(run), "--checkpoint", "last"]) == 0
    assert "mask" in capsys.readouterr().out
    assert json.loads((run / "eval" / "metrics.json").read_text())["images"] >= 1


def test_wrong_keys_are_one_sentence(s3_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    assert main(["inspect", s3_env.url, "--endpoint-url", s3_env.endpoint]) == 1
    line = one_error_line(capsys)
    assert "denied" in line and "not-the-secret" not in line
    assert main(["preview", s3_env.url, "--endpoint-url", s3_env.endpoint, "--out", str(tmp_path / "p")]) == 1
    assert "denied" in one_error_line(capsys)


def test_unreachable_endpoint_is_one_sentence(s3_env, tmp_path, capsys, coco_tiny):
    nowhere = f"http://127.0.0.1:{free_port()}"
    commands = [["inspect", s3_env.url, "--endpoint-url", nowhere],
                ["preview", s3_env.url, "--endpoint-url", nowhere, "--out", str(tmp_path / "p")],
                ["import-coco", str(coco_tiny[0]), str(coco_tiny[1]), "s3://segstudio/new", "--endpoint-url", nowhere],
                ["train", "--config", str(s3_config(tmp_path, s3_env.url, nowhere, "nowhere"))]]
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "Cannot reach" in err and "Traceback" not in err, (argv, err)


@pytest.fixture(scope="module")
def coco_tiny(coco128, tmp_path_factory):
    """The first 3 images of coco128 and their annotations."""
    doc = json.loads((coco128 / "annotations.json").read_text())
    images = doc["images"][:3]
    ids = {im["id"] for im in images}
    doc.update(images=images, annotations=[a for a in doc["annotations"] if a["image_id"] in ids])
    path = tmp_path_factory.mktemp("coco_tiny") / "annotations.json"
    path.write_text(json.dumps(doc))
    return coco128 / "images", path


def test_import_coco_into_s3_then_inspect(s3_env, coco_tiny, capsys):
    dest = "s3://segstudio/imported"
    assert main(["import-coco", str(coco_tiny[0]), str(coco_tiny[1]), dest, "--endpoint-url", s3_env.endpoint]) == 0
    capsys.readouterr()
    assert main(["inspect", dest, "--endpoint-url", s3_env.endpoint]) == 0
    assert "3 rows" in capsys.readouterr().out
    assert main(["import-coco", str(coco_tiny[0]), str(coco_tiny[1]), dest, "--endpoint-url", s3_env.endpoint]) == 1
    assert "already exists" in one_error_line(capsys)
