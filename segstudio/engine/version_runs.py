"""Which runs trained on a dataset version: the run cards (run.json) that record the dataset and its commit."""
from __future__ import annotations

import json
import os
from pathlib import Path

from segstudio.data.open import same_dataset, strip_secrets
from segstudio.engine.rundir import RUN_INFO


def runs_by_version(runs_dir: str | os.PathLike, url: str) -> dict[str, list[str]]:
    """{"branch@commit": [run names, newest first]} for the runs under `runs_dir` that trained on `url`."""

    base = Path(runs_dir)
    if not base.is_dir():
        return {}
    found = []
    for run in base.iterdir():
        try:
            card = json.loads((run / RUN_INFO).read_text(encoding="utf-8"))
            stamp = (run / RUN_INFO).stat().st_mtime
        except (OSError, ValueError):
            continue
        if isinstance(card, dict) and card.get("dataset_version") and \
                same_dataset(str(card.get("dataset", "")), strip_secrets(url)):
            found.append((stamp, run.name, str(card["dataset_version"])))
    out: dict[str, list[str]] = {}
    for _, name, version in sorted(found, reverse=True):
        out.setdefault(version, []).append(name)
    return out


def runs_on_version(runs_dir: str | os.PathLike, url: str, ref) -> list[str]:
    """Names of the runs (newest first) whose run card records dataset `url` at exactly `ref` (a VersionRef)."""
    return runs_by_version(runs_dir, url).get(str(ref), []) if str(ref) else []


def runs_line(names: list[str], limit: int = 6) -> str:
    """The runs of one version in a few words."""
    if not names:
        return "No run has trained on this version yet."
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"Trained on this version: {', '.join(names[:limit])}{more}."
