"""One writer at a time for a run folder or a dataset being imported.

The lock is filelock's FileLock: an flock on a lock file that the operating system releases when its
process ends in any way (kill -9 included), so a lock can never be left stale. Beside it, a small JSON
side file names the holder (pid, host, command, since when) so that a second writer is told who has it;
a side file left by a killed holder is simply overwritten by the next one.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import filelock

from segstudio.base.errors import UserError
from segstudio.base.files import atomic_write_text

RUN_LOCK = ".segstudio.lock"


class Busy(UserError):
    """Another process is writing the same run folder or dataset."""


def _holder_text(info: dict) -> str:
    if not info:
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return (f"process {info.get('pid', '?')} on {info.get('host', '?')} "
            f"({info.get('command', '?')}, since {since})")


def _command() -> str:
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("__main__.py", "-m"):
        program = "segstudio"
    return " ".join([program, *sys.argv[1:]])


class WriterLock:
    """An exclusive, non-waiting lock at `path` (plus `path`.json naming the holder); a context manager.

    `what` names the thing locked in the one-sentence message a second writer gets."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.path, self.what = Path(path), what
        self.info_path = self.path.with_name(self.path.name + ".json")
        self._lock = filelock.FileLock(str(self.path), is_singleton=False)

    def acquire(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise Busy(f"{self.what} is in use by {_holder_text(self.holder())}; wait for it to finish or "
                       "stop it, then try again.") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": _command()}
        atomic_write_text(self.info_path, json.dumps(info) + "\n")
        return self

    def holder(self) -> dict:
        try:
            return json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._lock.is_locked:
            self.info_path.unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> "WriterLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def run_lock(run_dir: str | os.PathLike) -> WriterLock:
    """The lock of a run folder (train, resume and extend hold it while they write)."""
    return WriterLock(Path(run_dir) / RUN_LOCK, f"Run folder {run_dir}")


def lock_folder() -> Path:
    """Where dataset locks live: one per machine user, so a dataset at any URL can be locked without
    writing next to it (SEGSTUDIO_LOCK_DIR overrides it)."""
    override = os.environ.get("SEGSTUDIO_LOCK_DIR")
    if override:
        return Path(override)
    import platformdirs  # deferred: only imports need it  # noqa: PLC0415
    return Path(platformdirs.user_state_dir("segstudio", appauthor=False)) / "locks"


def dataset_lock(url: str) -> WriterLock:
    """The lock of a dataset being written (import-coco holds it), keyed by its absolute path or URL."""
    key = url if "://" in url else str(Path(url).expanduser().resolve())
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return WriterLock(lock_folder() / f"dataset-{digest}.lock", f"Dataset {url}")
