"""open_dataset: every failure a user can cause is one sentence, credentials never shown, read-only."""
import socket
import time

import deeplake
import pytest
from deeplake import types as T

from segstudio.base.errors import DataError
from segstudio.data import open as dl_open
from segstudio.data.open import open_dataset


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny"
    ds = deeplake.create(str(path))
    ds.add_column("x", T.Int64())
    ds.append({"x": [1, 2, 3]})
    ds.commit("three rows")
    return path


def _one_sentence(msg: str):
    assert msg.endswith(".") and "\n" not in msg and "Traceback" not in msg


def test_opens_local_path_and_file_url_read_only(tiny):
    for url in (str(tiny), f"file://{tiny}"):
        ds = open_dataset(url)
        assert len(ds) == 3
        with pytest.raises(Exception):  # noqa: B017 - Deep Lake's read-only refusal has no documented class
            ds.append({"x": [4]})
    assert len(open_dataset(str(tiny), read_only=False)) == 3


def test_opens_mem_url():
    ds = deeplake.create("mem://segstudio-open-test")
    ds.add_column("x", T.Int64())
    ds.commit()
    assert len(open_dataset("mem://segstudio-open-test")) == 0


@pytest.mark.parametrize("setup, match", [
    (lambda p: None, "does not exist"),
    (lambda p: (p.mkdir(), (p / "a.txt").write_text("x")), "not a Deep Lake dataset"),
    (lambda p: (p.mkdir(), (p / "dataset_meta.json").write_text("{}")), "Deep Lake 3.x dataset.*deeplake.convert"),
    (lambda p: p.write_text("x"), "is a file"),
])
def test_local_failures(tmp_path, setup, match):
    path = tmp_path / "target"
    setup(path)
    with pytest.raises(DataError, match=match) as exc:
        open_dataset(str(path))
    _one_sentence(str(exc.value))


def test_empty_url_and_unknown_scheme():
    with pytest.raises(DataError, match="No dataset URL"):
        open_dataset("  ")
    with pytest.raises(DataError, match="not a dataset URL"):
        open_dataset("gibberish://x/y")
    with pytest.raises(DataError, match="3.x address.*al://"):
        open_dataset("hub://activeloop/coco-train")


def test_unreachable_s3_endpoint_fails_fast():
    with socket.socket() as s:          # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(DataError, match="Cannot reach the S3 endpoint") as exc:
        open_dataset("s3://bucket/ds", endpoint_url=f"http://127.0.0.1:{port}",
                     creds={"aws_access_key_id": "AKIDSECRET", "aws_secret_access_key": "sEcReT"})
    assert time.monotonic() - start < 30
    assert "sEcReT" not in str(exc.value) and "AKIDSECRET" not in str(exc.value)
    _one_sentence(str(exc.value))


def test_al_needs_a_token(monkeypatch):
    monkeypatch.delenv("ACTIVELOOP_TOKEN", raising=False)
    with pytest.raises(DataError, match="ACTIVELOOP_TOKEN"):
        open_dataset("al://org/name")


def test_bad_credentials_are_named_without_leaking_them(monkeypatch):
    # No S3 server here: make Deep Lake answer the way it does for a rejected key.
    def deny(url, creds=None, token=None):
        raise deeplake.StorageAccessDenied("[S3] AccessDenied status=403 key=AKIDSECRET")

    monkeypatch.setattr(deeplake, "open_read_only", deny)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECRET")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sEcReT")
    with pytest.raises(DataError, match="denied.*AWS_ACCESS_KEY_ID") as exc:
        open_dataset("s3://bucket/ds")
    assert "sEcReT" not in str(exc.value) and "AKIDSECRET" not in str(exc.value)


def test_s3_creds_from_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    creds = dl_open.s3_creds(None, "http://minio:9000")
    assert creds["aws_access_key_id"] == "k" and creds["endpoint_url"] == "http://minio:9000"
    assert dl_open.s3_creds({"aws_access_key_id": "given"})["aws_access_key_id"] == "given"
