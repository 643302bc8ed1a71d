"""A run is a folder: runs/<name>/ with config.toml, run.json, split.json, metrics.jsonl, checkpoints/.

config.toml stays loadable by `load_config` (resolved column mapping, dataset version and class names
are config fields); what a config cannot hold (library versions, split sizes, the resolved augmentation
spec, weight file) goes in comment lines at its top and, machine-readable, in run.json.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from segstudio.config import dumps_config, load_config
from segstudio.files import atomic_write_text
from segstudio.errors import TrainingError

CONFIG = "config.toml"
RUN_INFO = "run.json"
SPLIT = "split.json"
METRICS = "metrics.jsonl"


def checkpoint_path(run_dir: str | os.PathLike, which: str = "last") -> Path:
    return Path(run_dir) / "checkpoints" / f"{which}.pt"


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
    (path / "checkpoints").mkdir()
    return path


def resolve_run(run: str, runs_dir: str = "runs") -> Path:
    """A run given as a folder path or as a name under runs_dir."""
    candidates = list(dict.fromkeys([Path(run), Path(runs_dir) / run]))
    for candidate in candidates:
        if (candidate / CONFIG).is_file():
            return candidate
    where = " or ".join(str(c) for c in candidates)
    raise TrainingError(f"Run {run} was not found (no {CONFIG} in {where}); give the run folder's path.")


def load_run_config(run_dir: str | os.PathLike):
    return load_config(Path(run_dir) / CONFIG)


def _library_versions() -> dict:
    import albumentations
    import deeplake
    import numpy
    import torch
    import torchvision

    import segstudio
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


def summarize_run(run_dir: Path) -> RunSummary:
    records = read_metrics(run_dir)
    iters = [r["iteration"] for r in records if "iteration" in r]
    evals = [r["metrics"].get("segm_map") for r in records if r.get("event") == "eval"]
    evals = [e for e in evals if isinstance(e, (int, float))]
    # a resumed run's last word is its newest "started" (running, or killed), not the earlier "finished"
    lifecycle = [r for r in records if r.get("event") in ("started", "finished")]
    if lifecycle and lifecycle[-1].get("event") == "finished":
        status = lifecycle[-1]["status"]
    else:
        status = "interrupted" if records else "new"
    return RunSummary(run_dir.name, str(run_dir), status, max(iters, default=0),
                      max(evals) if evals else None, run_dir.stat().st_mtime)


def list_runs(runs_dir: str | os.PathLike = "runs") -> list[RunSummary]:
    """Runs under runs_dir, newest first."""
    base = Path(runs_dir)
    if not base.is_dir():
        return []
    runs = [summarize_run(p) for p in base.iterdir() if (p / CONFIG).is_file()]
    return sorted(runs, key=lambda r: r.modified, reverse=True)
