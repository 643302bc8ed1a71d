"""A run is a folder: runs/<name>/ with config.toml, run.json, split.json, metrics.jsonl, checkpoints/.

config.toml stays loadable by `load_config` (resolved column mapping, dataset version and class names
are config fields); what a config cannot hold (library versions, split sizes, the resolved augmentation
spec, weight file) goes in comment lines at its top and, machine-readable, in run.json.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import segstudio
from segstudio.base.config import dumps_config, load_config
from segstudio.base.errors import TrainingError
from segstudio.base.files import atomic_write_text

CONFIG = "config.toml"
RUN_INFO = "run.json"
SPLIT = "split.json"
METRICS = "metrics.jsonl"


CHECKPOINTS = "checkpoints"


def checkpoint_file(folder: str | os.PathLike, which: str) -> Path:
    """The one place checkpoint files are named: last.pt, best.pt, rollback.pt in the checkpoints folder."""
    return Path(folder) / f"{which}.pt"


def checkpoint_path(run_dir: str | os.PathLike, which: str = "last") -> Path:
    return checkpoint_file(Path(run_dir) / CHECKPOINTS, which)


def new_run_dir(runs_dir: str, run_name: str = "") -> Path:
    """Create runs_dir/<run_name or timestamp>, adding -2, -3... rather than reusing a folder."""
    base = Path(runs_dir)
    base.mkdir(parents=True, exist_ok=True)
    name = run_name or time.strftime("%Y%m%d-%H%M%S")
    path, n = base / name, 1
    while True:
        try:
            path.mkdir()   # atomic: of two runs starting at once, each gets its own folder
            break
        except FileExistsError:
            n += 1
            path = base / f"{name}-{n}"
    (path / CHECKPOINTS).mkdir()
    return path


def resolve_run(run: str, runs_dir: str = "runs") -> Path:
    """A run given as a folder path or as a name under runs_dir."""
    candidates = list(dict.fromkeys([Path(run), Path(runs_dir) / run]))
    for candidate in candidates:
        if (candidate / CONFIG).is_file():
            return candidate
    where = " or ".join(str(c) for c in candidates)
    raise TrainingError(f"Run {run} was not found (no {CONFIG} in {where}); give the run folder's path.")


# Keys added after runs were recorded whose default builds another model than those runs trained: a run
# card without the key gets the value every run had before the key existed, so its checkpoints still load.
BEFORE_THE_KEY = {("model", "fpn_norm"): "none"}


def load_run_config(run_dir: str | os.PathLike):
    return load_config(Path(run_dir) / CONFIG, defaults=BEFORE_THE_KEY)


def _library_versions() -> dict:
    import albumentations  # noqa: PLC0415
    import deeplake  # noqa: PLC0415
    import numpy  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import torchvision  # noqa: PLC0415

    return {"segstudio": segstudio.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "deeplake": getattr(deeplake, "__version__", "?"), "albumentations": albumentations.__version__,
            "numpy": numpy.__version__}


def write_run_card(run_dir: Path, cfg, info: dict, split_dict: dict | None) -> None:
    """config.toml (loadable), run.json (everything else) and split.json."""
    info = {**info, "libraries": _library_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    header = ["# segstudio run card: this file reproduces the run (segstudio train --config this file)."]
    for key, value in info.items():
        header.append(f"# {key}: {json.dumps(value, sort_keys=True)}")
    atomic_write_text(run_dir / CONFIG, "\n".join(header) + "\n\n" + dumps_config(cfg))
    atomic_write_text(run_dir / RUN_INFO, json.dumps(info, indent=2, sort_keys=True) + "\n")
    if split_dict is not None:
        atomic_write_text(run_dir / SPLIT, json.dumps(split_dict) + "\n")


def note_in_run_card(run_dir: Path, key: str, value) -> None:
    """Add `key` to run.json (how the run went, e.g. why it stopped before its last epoch)."""
    path = Path(run_dir) / RUN_INFO
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        info = {}
    info[key] = value
    atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_split(run_dir: str | os.PathLike) -> dict | None:
    path = Path(run_dir) / SPLIT
    return json.loads(path.read_text()) if path.is_file() else None


class MetricsLog:
    """Appends one JSON object per event to metrics.jsonl, flushed so a crash loses at most a line."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / METRICS
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, default=float) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _ahead_of(record: dict, state) -> bool:
    """Whether a metrics record describes progress past `state` (a LoopState a resume continues from)."""
    kind = record.get("event")
    if kind == "iteration":
        return record.get("iteration", 0) > state.iteration
    if kind == "epoch":
        return record.get("epoch", 0) >= state.epoch
    if kind == "eval":
        return record.get("iteration", 0) > state.last_eval_iteration
    return False


def cut_metrics_to(run_dir: str | os.PathLike, state) -> int:
    """Cut metrics.jsonl back to the checkpoint a resume starts from, so what a killed or stopped process
    logged past it (iterations, an epoch's end, an evaluation) is logged once, by the resumed run.
    Rewritten atomically; returns how many lines were cut."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    keep = len(lines)
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            keep = i          # a line torn by the crash: the run died here
            break
        if _ahead_of(record, state):
            keep = i
            break
    if keep < len(lines):
        atomic_write_text(path, "".join(line + "\n" for line in lines[:keep]))
    return len(lines) - keep


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """Every record of metrics.jsonl; a line torn by a crash is skipped."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


@dataclass
class RunSummary:
    name: str
    path: str
    status: str            # completed, stopped, failed, running-or-killed, new
    iteration: int
    best_metric: float | None
    modified: float
    last_eval: dict | None = None   # the newest "eval" record


@dataclass
class _Tally:
    """What a run summary needs from metrics.jsonl, counted up to byte `offset` of the file `key`
    (inode, device) names. A growing file is read from `offset` on; a rewritten one (a resume cuts it,
    atomically: a new inode) is counted again."""
    key: tuple
    offset: int = 0
    records: int = 0
    iteration: int = 0
    best: float | None = None
    last_eval: dict | None = None
    lifecycle: dict | None = None    # the newest "started" or "finished"

    def add(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return    # a line torn by a crash
        if not isinstance(record, dict):
            return
        self.records += 1
        kind = record.get("event")
        if isinstance(record.get("iteration"), int):
            self.iteration = max(self.iteration, record["iteration"])
        if kind in ("started", "finished"):
            self.lifecycle = record
        elif kind == "eval":
            self.last_eval = record
            value = (record.get("metrics") or {}).get("segm_map")
            if isinstance(value, (int, float)) and (self.best is None or value > self.best):
                self.best = value


_TALLIES: dict[str, _Tally] = {}
_TALLY_LOCK = threading.Lock()


def _tally(run_dir: Path) -> _Tally:
    """The run's metrics tally, reading only what was appended since the last call (list_runs is called
    after every run event in the window: a long history is read once, not at every refresh)."""
    path = run_dir / METRICS
    try:
        st = path.stat()
    except OSError:
        return _Tally(key=())
    key = (st.st_ino, st.st_dev)
    with _TALLY_LOCK:
        tally = _TALLIES.get(str(path))
        if tally is None or tally.key != key or st.st_size < tally.offset:
            tally = _TALLIES[str(path)] = _Tally(key)
        if st.st_size > tally.offset:
            with open(path, "rb") as fh:
                fh.seek(tally.offset)
                data = fh.read(st.st_size - tally.offset)
            end = data.rfind(b"\n") + 1      # a last line still being written is counted once complete
            for line in data[:end].splitlines():
                tally.add(line)
            tally.offset += end
        return dataclasses.replace(tally)   # a copy: another thread may count on


def summarize_run(run_dir: Path) -> RunSummary:
    tally = _tally(run_dir)
    # a resumed run's last word is its newest "started" (running, or killed), not the earlier "finished"
    if tally.lifecycle is not None and tally.lifecycle.get("event") == "finished":
        status = str(tally.lifecycle.get("status", "failed"))
    else:
        status = "interrupted" if tally.records else "new"
    return RunSummary(run_dir.name, str(run_dir), status, tally.iteration, tally.best,
                      run_dir.stat().st_mtime, tally.last_eval)


def list_runs(runs_dir: str | os.PathLike = "runs", should_stop=lambda: False) -> list[RunSummary]:
    """Runs under runs_dir, newest first (those summarised before `should_stop()` held, if it did)."""
    base = Path(runs_dir)
    if not base.is_dir():
        return []
    runs = []
    for p in base.iterdir():
        if should_stop():
            break
        try:
            if (p / CONFIG).is_file():
                runs.append(summarize_run(p))
        except FileNotFoundError:
            continue    # deleted while being listed
    return sorted(runs, key=lambda r: r.modified, reverse=True)
