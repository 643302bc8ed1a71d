"""Which score threshold each class is predicted at: the run's F1-best ones, one global value, overrides.

RUN/eval/thresholds.json ({"per_class": {name: score}, "global": score, "iou": ...}) is written by each
`segstudio eval` (engine.analysis). `resolve` combines it with what the user asked for, in this order:
an explicit global threshold replaces the file for every class; otherwise each class takes its value from
the file, or the file's global value, or DEFAULT without a file; per-class overrides win over both.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segstudio.base.errors import ConfigError

DEFAULT = 0.5


def thresholds_path(run_dir: Path) -> Path:
    return Path(run_dir) / "eval" / "thresholds.json"


def load(run_dir: Path) -> dict | None:
    path = thresholds_path(run_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {"per_class": {str(k): float(v) for k, v in data.get("per_class", {}).items()},
                "global": float(data.get("global", DEFAULT))}
    except (ValueError, TypeError, AttributeError):
        raise ConfigError(f"{path} is not a valid thresholds file; run `segstudio eval` again to rewrite it, "
                          "or pass --score-threshold.") from None


def parse_overrides(items: list[str], class_names: list[str]) -> dict[str, float]:
    """["cat=0.4", ...] -> {"cat": 0.4}; a class the run does not have or a bad value is a ConfigError."""
    out = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        try:
            score = float(value)
        except ValueError:
            score = -1.0
        if not sep or name not in class_names or not 0.0 <= score <= 1.0:
            raise ConfigError(f"--class-threshold {item!r} must be CLASS=SCORE with one of the run's classes "
                              f"({', '.join(class_names)}) and a score between 0 and 1.")
        out[name] = score
    return out


def resolve(run_dir: Path, class_names: list[str], global_threshold: float | None = None,
            overrides: dict[str, float] | None = None) -> tuple[dict[int, float], str]:
    """({1-based label: threshold}, where they came from, in words)."""
    saved = None if global_threshold is not None else load(run_dir)
    if global_threshold is not None:
        base, source = {n: global_threshold for n in class_names}, f"score threshold {global_threshold:g}"
    elif saved is not None:
        base = {n: saved["per_class"].get(n, saved["global"]) for n in class_names}
        source = f"the F1-best thresholds of {thresholds_path(run_dir)}"
    else:
        base, source = {n: DEFAULT for n in class_names}, f"score threshold {DEFAULT:g} (the run has no evaluation)"
    if overrides:
        base.update(overrides)
        source += " with " + ", ".join(f"{k}={v:g}" for k, v in overrides.items())
    return {i + 1: base[n] for i, n in enumerate(class_names)}, source


def keep(scores, labels, thresholds: dict[int, float] | float) -> np.ndarray:
    """Which detections pass: score >= the threshold of their class (numpy or torch inputs)."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, int)
    if not isinstance(thresholds, dict):
        return scores >= float(thresholds)
    limits = np.array([thresholds.get(int(lab), DEFAULT) for lab in labels], float)
    return scores >= limits


def passing(output: dict, thresholds) -> dict:
    """The detections of one model output (torch tensors) that pass their class's threshold (see `keep`)."""
    import torch  # noqa: PLC0415

    mask = torch.as_tensor(keep(output["scores"].cpu().numpy(), output["labels"].cpu().numpy(), thresholds))
    return {k: v[mask.to(v.device)] for k, v in output.items()}


def run_thresholds(run_dir: Path, class_names: list[str]) -> dict:
    """What an export embeds: {"global": score, "per_class": {name: score}, "source": where from}; per_class is
    empty without a (valid) eval/thresholds.json, and a class the file does not name uses the global score."""
    try:
        saved = load(run_dir)
    except ConfigError:
        saved = None
    if saved is None:
        return {"global": DEFAULT, "per_class": {}, "source": "default"}
    per_class = {n: saved["per_class"][n] for n in class_names if n in saved["per_class"]}
    return {"global": saved["global"], "per_class": per_class, "source": str(thresholds_path(run_dir))}
