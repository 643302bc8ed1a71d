"""Checkpoints that survive kill -9 and load with torch.load(weights_only=True).

A checkpoint is a dict of tensors, plain containers and numbers: model, optimizer, scheduler and AMP
scaler state, epoch/iteration counters, and the torch/numpy/python RNG states. It is written to a
temporary file in the same folder, fsynced, then renamed over the old one, so a reader sees either the
old or the new file, never a torn one.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from segstudio.base.errors import TrainingError
from segstudio.base.files import UnreadableFile, atomic_write, torch_load
from segstudio.engine.loop import LoopState, Step
from segstudio.engine.rundir import checkpoint_file

FORMAT = 1


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
    atomic_write(path, write)


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
    atomic_write(path, write)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint; a missing or unreadable file is one TrainingError sentence."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"Checkpoint {path} does not exist; train the run first or pick another checkpoint.")
    try:
        state = torch_load(path)
    except UnreadableFile as exc:
        raise TrainingError(f"Checkpoint {path} is damaged or not a segstudio checkpoint "
                            f"({exc}); use the other checkpoint (best.pt/last.pt).") from None
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


# Weights or statistics beyond this are a diverged model, not a trained one (healthy Mask R-CNN tensors,
# BatchNorm running variances included, stay within a few thousand).
TENSOR_LIMIT = 1e8


def first_unhealthy_tensor(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> str:
    """The name of the first parameter or buffer that is non-finite or beyond TENSOR_LIMIT, or of the
    first non-finite optimizer state; "" when all is well. One pass over the tensors (a checkpoint's
    write costs far more)."""
    named = [(n, t) for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_floating_point()]
    if named:
        peaks = torch.stack([t.detach().abs().amax().float().cpu() for _, t in named])
        bad = ~(peaks <= TENSOR_LIMIT)    # NaN compares false, so it counts as bad
        if bool(bad.any()):
            return named[int(bad.nonzero()[0])][0]
    if optimizer is not None:
        for i, slot in enumerate(optimizer.state.values()):
            for key, value in slot.items():
                if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    return f"optimizer state {key} #{i}"
    return ""


class UnhealthyModel(Exception):
    """The model diverged (non-finite or exploding weights or statistics); nothing was written."""

    def __init__(self, tensor: str):
        super().__init__(f"diverged weights or statistics ({tensor})")
        self.tensor = tensor


class CheckpointWriter:
    """Writes a run's last.pt, and best.pt as a link to it, so that last.pt is always the last healthy state.

    A diverged model (see first_unhealthy_tensor) is never written. A periodic checkpoint is first staged
    in memory and written only once the next iteration's loss shows its weights are sound: weights one
    step from diverging still look finite, but the next loss gives them away."""

    def __init__(self, folder: Path, model: torch.nn.Module, step: Step, meta: dict, *, enabled: bool = True,
                 kept_iteration: int | None = None, ema=None):
        self.folder, self.model, self.step, self.meta = Path(folder), model, step, meta
        self.ema = ema                      # engine.ema.ModelEMA, or None
        self.weights = "ema" if ema is not None else "model"   # which weights inference loads (see ema.py)
        self.enabled = enabled              # False on the other ranks under torchrun
        self.kept_iteration = kept_iteration     # what last.pt holds (None: nothing yet)
        self._written: LoopState | None = None
        self._staged: tuple[LoopState, dict] | None = None

    @property
    def last(self) -> Path:
        return checkpoint_file(self.folder, "last")

    def contents(self, state: LoopState) -> dict:
        step = self.step
        return {"format": FORMAT, "model": self.model.state_dict(), "optimizer": step.optimizer.state_dict(),
                "scheduler": step.scheduler.state_dict(), "scaler": step.scaler.state_dict(),
                "state": dataclasses.asdict(state), "rng": rng_state(), **self.meta, **self._ema_contents()}

    def _ema_contents(self) -> dict:
        if self.ema is None:
            return {}
        return {"ema": self.ema.state_dict(), "weights": self.weights}

    def _check(self) -> None:
        tensor = first_unhealthy_tensor(self.model, self.step.optimizer)
        if tensor:
            raise UnhealthyModel(tensor)

    def stage(self, state: LoopState) -> None:
        """Keep a copy of this state in memory (CPU) for write_staged to write after the next iteration."""
        if self.enabled:
            self._check()
            self._staged = (copy.deepcopy(state), _cpu_copy(self.contents(state)))

    def write_staged(self) -> list[tuple[str, Path, LoopState]]:
        """Write the staged state (the iteration after it went well); returns what was written."""
        if self._staged is None:
            return []
        (state, contents), self._staged = self._staged, None
        save_checkpoint(contents, self.last)
        self._written, self.kept_iteration = state, state.iteration
        return [("last", self.last, state)]

    def save(self, state: LoopState, best: bool = False) -> list[tuple[str, Path, LoopState]]:
        """Write last.pt now unless it already holds `state`; link best.pt to it when `best`. Returns the
        (which, path, state) written; raises UnhealthyModel instead of writing a diverged model."""
        if not self.enabled:
            return []
        self._staged = None   # superseded
        written = []
        if state != self._written:
            self._check()
            save_checkpoint(self.contents(state), self.last)
            self._written, self.kept_iteration = copy.deepcopy(state), state.iteration
            written.append(("last", self.last, state))
        if best:
            # One ~180 MB write instead of two; a later last.pt is a new file renamed into place.
            best = checkpoint_file(self.folder, "best")
            link_checkpoint(self.last, best)
            written.append(("best", best, state))
        return written


def _cpu_copy(value):
    """A deep copy with every tensor on the CPU (a snapshot that later steps cannot change)."""
    if torch.is_tensor(value):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(v) for v in value)
    return copy.deepcopy(value)
