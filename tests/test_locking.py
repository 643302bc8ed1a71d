"""One writer at a time: a run folder and a dataset being imported are locked; a second writer (a real
second process) gets one sentence naming the first; a lock of a killed process never blocks anyone."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segstudio.base.locking import Busy, dataset_lock, run_lock

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "SEGSTUDIO_LOCK_DIR": str(tmp_path / "locks"),
            "NO_ALBUMENTATIONS_UPDATE": "1"}


def hold_in_process(tmp_path, make_lock: str) -> subprocess.Popen:
    """A second Python process that takes a lock and holds it until killed."""
    code = ("import sys, time\nfrom segstudio.base.locking import run_lock, dataset_lock\n"
            f"lock = {make_lock}.acquire()\nprint('held', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_env(tmp_path))
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_named_and_a_killed_holder_leaves_no_stale_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_LOCK_DIR", str(tmp_path / "locks"))
    run = tmp_path / "run"
    run.mkdir()
    holder = hold_in_process(tmp_path, f"run_lock({str(run)!r})")
    try:
        with pytest.raises(Busy) as err:
            run_lock(run).acquire()
        message = str(err.value)
        assert f"process {holder.pid} on " in message and str(run) in message and "\n" not in message
    finally:
        holder.send_signal(signal.SIGKILL)   # kill -9: no clean-up code runs
        holder.wait()
    assert json.loads((run / ".segstudio.lock.json").read_text())["pid"] == holder.pid   # left behind
    with run_lock(run) as lock:             # ...but the OS released the lock itself
        assert lock.holder()["pid"] == os.getpid()
    assert not (run / ".segstudio.lock.json").exists()


def test_the_same_process_cannot_take_a_lock_twice(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(Busy, match="in use by process"):
            run_lock(tmp_path).acquire()
    run_lock(tmp_path).acquire().release()


def test_dataset_lock_keys_local_paths_by_their_absolute_form(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.chdir(tmp_path)
    with dataset_lock(str(tmp_path / "ds")):
        with pytest.raises(Busy, match="Dataset ds is in use"):
            dataset_lock("ds").acquire()


def test_train_resume_of_a_locked_run_fails_with_one_sentence_and_writes_nothing(tmp_path):
    from engine_fakes import FakeData
    from test_engine import Recorder, tiny_config

    from segstudio.engine.train import train

    first = Recorder(stop_after=2)
    fin = train(tiny_config(tmp_path), first, first.should_stop, data=FakeData())
    run = Path(fin.run_dir)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and not p.name.startswith(".")}
    holder = hold_in_process(tmp_path, f"run_lock({str(run)!r})")
    try:
        rec = Recorder()
        again = train(tiny_config(tmp_path), rec, rec.should_stop, resume=str(run), data=FakeData())
        assert again.status == "failed" and f"process {holder.pid}" in again.message
        assert not rec.of("iteration")
        after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and not p.name.startswith(".")}
        assert after == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    fin = train(tiny_config(tmp_path), Recorder(), lambda: False, resume=str(run), data=FakeData())
    assert fin.status == "completed"


def test_two_imports_into_one_dataset_one_is_refused(tmp_path, coco128):
    """Two real `segstudio import-coco` processes into the same destination: the second is refused
    with one sentence naming the first, which goes on to import every image exactly once."""
    dest = tmp_path / "ds"
    cmd = [sys.executable, "-m", "segstudio", "import-coco", str(coco128 / "images"),
           str(coco128 / "annotations.json"), str(dest), "--chunk-size", "4"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + 60
        lock_files = lambda: list((tmp_path / "locks").glob("*.json"))  # noqa: E731
        while not lock_files() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert lock_files(), "the first import never took its lock"
        second = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=_env(tmp_path), timeout=120)
        if first.poll() is None:   # refused while the first was still writing
            assert second.returncode != 0
            err = second.stderr.strip()
            assert err.startswith("error: ") and f"process {first.pid}" in err and "Traceback" not in err
            assert len(err.splitlines()) == 1
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    import deeplake
    ds = deeplake.open_read_only(str(dest))
    ids = [int(i) for i in ds["coco_image_id"][:]]
    assert len(ids) == len(set(ids))
