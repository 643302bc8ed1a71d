"""Files written so that readers (and a kill -9) see the old or the new content, never a torn one, and
tensors read back without unpickling code.

`atomic_write(path, write)` is the one writer: `write(tmp)` fills a new temporary file next to `path`,
which is fsynced, renamed over `path`, and the folder flushed so the rename itself is durable. The
temporary name is `.<name>.<random>.tmp`, so `remove_stale_temps` can clear what a killed writer left.
`torch_load` is the one `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".tmp"


class UnreadableFile(Exception):
    """A tensor file that torch cannot read (damaged, not a torch file, or holding code)."""


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], durable: bool = True) -> None:
    """Call write(tmp) on a new temporary name next to `path`, then rename it over `path` (and flush the
    folder), so a reader sees the old or the new file; the temporary file goes on any failure.
    durable=False skips the flushes to disk, for caches (a crash may lose the file, never tear it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        if durable and tmp.exists():
            fsync_file(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, durable: bool = True) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    """A rename is durable only once the directory entry is flushed (POSIX; a no-op where folders
    cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed `atomic_write` left in `folder`; returns what it removed.

    Call it only while holding the folder's writer lock, so no live writer's file is taken."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def torch_load(path: str | os.PathLike):
    """torch.load on CPU with weights_only=True (tensors and plain containers, never code).

    Raises UnreadableFile (with the exception's class name) for anything torch cannot read."""
    import torch  # deferred: config.py imports this module and the CLI starts without loading torch  # noqa: PLC0415

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every unreadable file is the same problem for the caller
        raise UnreadableFile(type(exc).__name__) from exc
