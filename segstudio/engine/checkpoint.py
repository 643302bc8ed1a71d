"""Checkpoints that survive kill -9 and load with torch.load(weights_only=True).

A checkpoint is a dict of tensors, plain containers and numbers: model, optimizer, scheduler and AMP
scaler state, epoch/iteration counters, and the torch/numpy/python RNG states. It is written to a
temporary file in the same folder, fsynced, then renamed over the old one, so a reader sees either the
old or the new file, never a torn one.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from segstudio.errors import TrainingError


def _replace_atomically(path: Path, write) -> None:
    """Call write(tmp) on a new temporary name next to `path`, then rename it over `path` (and flush
    the folder), so a reader sees the old or the new file, never a torn one; the temp goes on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
        _fsync_file(tmp)
    _replace_atomically(Path(path), write)


def link_checkpoint(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Make `path` hold the same bytes as the finished checkpoint `source`, atomically.

    A hard link when the file system has them (no copy; safe because checkpoints are never written in
    place: save_checkpoint renames a new file over the old name), else a copy."""
    def write(tmp: Path) -> None:
        tmp.unlink()   # os.link needs a free name
        try:
            os.link(source, tmp)
        except OSError:   # no hard links here (some network or FAT file systems)
            shutil.copyfile(source, tmp)
            _fsync_file(tmp)
    _replace_atomically(Path(path), write)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the directory entry is flushed (POSIX only).
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


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint; a missing or unreadable file is one TrainingError sentence."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"Checkpoint {path} does not exist; train the run first or pick another checkpoint.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every unreadable file is the same user problem
        raise TrainingError(f"Checkpoint {path} is damaged or not a segstudio checkpoint "
                            f"({type(exc).__name__}); use the other checkpoint (best.pt/last.pt).") from None
    if not isinstance(state, dict) or "model" not in state:
        raise TrainingError(f"Checkpoint {path} is not a segstudio checkpoint; pick a file written by a run.")
    return state


def rng_state() -> dict:
    """RNG states as tensors and plain containers (weights_only-loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]),
                   "gauss": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    if not state:
        return
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
