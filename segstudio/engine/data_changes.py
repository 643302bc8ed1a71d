"""Run A against run B, the data side: did the two runs read one dataset, at which versions, and what changed in
its rows between them (data.version_diff over the versions their run cards recorded in `data.commit`).

The answer is a dict with a `status` ("changed", "same", "different datasets", "unknown", "unavailable",
"stopped"), a one-sentence `text` for people, and the counts and listed rows (`diff`) when the versions differ.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from segstudio.base.errors import UserError
from segstudio.data.open import local_path, strip_secrets
from segstudio.data.version_diff import diff_versions
from segstudio.engine.rundir import load_run_config


def _where(url: str) -> str:
    """A dataset's identity for comparison: local paths resolved, secrets left out."""
    path = local_path(url) if url else None
    return str(path.resolve()) if path is not None else strip_secrets(url)


def _rows(label: str, rows: list, total: int) -> str:
    if not rows:
        return ""
    more = ", ..." if total > len(rows) else ""
    return f" ({label} {', '.join(map(str, rows))}{more})"


def describe_diff(diff: dict) -> str:
    """'2 rows added (rows of B 12, 13), 1 removed (rows of A 2), 1 with changed labels (rows of B 3: classes)'."""
    if not (diff["added"] or diff["removed"] or diff["changed"]):
        return "no rows added, removed or relabelled"
    parts = [p for p, n in diff["changed_parts"].items() if n]
    changed = _rows("rows of B", diff["changed_rows"], diff["changed"])
    if changed and parts:
        changed = changed[:-1] + f"; {', '.join(parts)})"
    return (f"{diff['added']} row(s) added{_rows('rows of B', diff['added_rows'], diff['added'])}, "
            f"{diff['removed']} removed{_rows('rows of A', diff['removed_rows'], diff['removed'])}, "
            f"{diff['changed']} with changed labels{changed}")


def _result(status: str, text: str, cfg_a=None, cfg_b=None, diff=None) -> dict:
    return {"status": status, "text": text, "dataset": strip_secrets(cfg_a.data.url) if cfg_a else "",
            "a": cfg_a.data.commit if cfg_a else "", "b": cfg_b.data.commit if cfg_b else "", "diff": diff}


def _cards(run_a: Path, run_b: Path):
    if not (run_a / "config.toml").is_file() or not (run_b / "config.toml").is_file():
        return None
    return load_run_config(run_a), load_run_config(run_b)


def data_changes(run_a: Path, run_b: Path, progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> dict:
    """What changed in the data between the dataset versions two runs read (see the module's docstring)."""
    cards = _cards(Path(run_a), Path(run_b))
    if cards is None:
        return _result("unknown", "Data: a run card (config.toml) is missing, so the data the runs read is unknown.")
    cfg_a, cfg_b = cards
    if _where(cfg_a.data.url) != _where(cfg_b.data.url):
        return _result("different datasets", f"Data: the runs read different datasets "
                       f"({strip_secrets(cfg_a.data.url)} and {strip_secrets(cfg_b.data.url)}), so there is no "
                       "version history to compare.", cfg_a, cfg_b)
    if not (cfg_a.data.commit and cfg_b.data.commit):
        return _result("unknown", "Data: one run card does not record the dataset version it read (data.commit), "
                       "so the data changes cannot be listed.", cfg_a, cfg_b)
    if cfg_a.data.commit == cfg_b.data.commit:
        return _result("same", f"Data: no data changes (both runs read {cfg_a.data.commit}).", cfg_a, cfg_b)
    try:
        diff = _diff(cfg_a, cfg_b, progress, should_stop)
    except InterruptedError:
        return _result("stopped", "Data: stopped before both versions were read (Compare again to finish).",
                       cfg_a, cfg_b)
    except UserError as exc:
        return _result("unavailable", f"Data: the versions cannot be compared: {exc}", cfg_a, cfg_b)
    except Exception as exc:  # noqa: BLE001 - Deep Lake's read errors: the AP comparison still stands
        return _result("unavailable", f"Data: the versions cannot be compared ({type(exc).__name__}: {exc}).",
                       cfg_a, cfg_b)
    return _result("changed", f"Data: from {cfg_a.data.commit} (A) to {cfg_b.data.commit} (B): "
                   f"{describe_diff(diff)}.", cfg_a, cfg_b, diff)


def _diff(cfg_a, cfg_b, progress, should_stop) -> dict:
    from segstudio.data.mapped import open_mapped  # noqa: PLC0415 - Deep Lake only when both runs have versions

    # both handles stay referenced until the rows are read (a Deep Lake version opened from a branch handle
    # that was dropped fails with "Parent data container is expired")
    mapped_a = open_mapped(cfg_a.data.url, cfg_a.data, endpoint_url=cfg_a.data.endpoint_url)
    mapped_b = open_mapped(cfg_b.data.url, cfg_b.data, endpoint_url=cfg_b.data.endpoint_url)
    diff = diff_versions(mapped_a.ds, mapped_b.ds, mapped_a.mapping, mapped_b.mapping,
                         progress=progress, should_stop=should_stop)
    return diff.to_dict()
