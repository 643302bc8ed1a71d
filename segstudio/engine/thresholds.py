"""The score thresholds a run's predictions and exports use.

The evaluation writes its chosen operating points to runs/<name>/eval/thresholds.json as
{"per_class": {class name: score}, "global": score}; until a run has that file, the global threshold is
predict's default. Exports embed what `run_thresholds` returns, so a deployed model carries them.
"""
from __future__ import annotations

import json
from pathlib import Path

DEFAULT_SCORE_THRESHOLD = 0.5   # `segstudio predict --score-threshold` default


def run_thresholds(run_dir: Path, class_names: list[str]) -> dict:
    """{"global": score, "per_class": {name: score}, "source": where they come from}.

    per_class is empty when the run has no eval/thresholds.json (or it names none of the classes);
    a class missing from the file uses the global threshold."""
    path = Path(run_dir) / "eval" / "thresholds.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"global": DEFAULT_SCORE_THRESHOLD, "per_class": {}, "source": "default"}
    if not isinstance(saved, dict):
        return {"global": DEFAULT_SCORE_THRESHOLD, "per_class": {}, "source": "default"}
    global_score = _score(saved.get("global"), DEFAULT_SCORE_THRESHOLD)
    per_class_in = saved.get("per_class") if isinstance(saved.get("per_class"), dict) else {}
    per_class = {name: _score(per_class_in[name], global_score) for name in class_names if name in per_class_in}
    return {"global": global_score, "per_class": per_class, "source": str(path)}


def _score(value, fallback: float) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return fallback
    return score if 0.0 <= score <= 1.0 else fallback
