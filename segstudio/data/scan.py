"""The per-version cache of the dataset-wide figures that grow with the row count: class counts
(data.class_counts) and the full pre-flight report (data.preflight).

Both report progress and can be cancelled, and both are cached per dataset version in the user cache
folder (SEGSTUDIO_CACHE_DIR overrides it), keyed by the dataset's address without credentials, its
version, the column mapping, the box format and the number of classes: a commit makes a new version, so
a cached answer is never stale, and a second `inspect` or training run on an unchanged dataset answers at
once. Datasets without a version (views, mem://) are never cached.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

from segstudio.base.files import atomic_write_text
from segstudio.data.preflight import PreflightReport
from segstudio.data.sample import BoxFormat, ColumnMapping

CACHE_FORMAT = 1


def cache_dir() -> Path:
    root = os.environ.get("SEGSTUDIO_CACHE_DIR")
    if not root:
        import platformdirs  # noqa: PLC0415
        root = platformdirs.user_cache_dir("segstudio", appauthor=False)
    return Path(root) / "reports"


def dataset_address(url: str, endpoint_url: str = "") -> str:
    """The dataset's address without credentials: an absolute path for local datasets; for URLs no
    user:password@, no query string (tokens live there) and the S3 endpoint it was read from."""
    from segstudio.data.open import local_path  # noqa: PLC0415

    path = local_path(url)
    if path is not None:
        return str(path.resolve())
    clean = re.sub(r"(?<=://)[^/@]+@", "", url.split("?", 1)[0].split("#", 1)[0])
    endpoint = re.sub(r"(?<=://)[^/@]+@", "", endpoint_url or os.environ.get("AWS_ENDPOINT_URL", ""))
    return f"{clean} @ {endpoint}" if endpoint and clean.startswith("s3://") else clean


@dataclasses.dataclass(frozen=True)
class ScanKey:
    address: str
    version: str
    mapping: ColumnMapping
    box_format: BoxFormat
    num_classes: int

    @classmethod
    def of(cls, url: str, version: str, mapping: ColumnMapping, box_format: BoxFormat, num_classes: int,
           endpoint_url: str = "") -> "ScanKey":
        return cls(dataset_address(url, endpoint_url), str(version or ""), mapping, box_format, int(num_classes))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def path(self) -> Path | None:
        if not self.version:
            return None
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:32]
        return cache_dir() / f"{digest}.json"


def load_cached(key: ScanKey) -> dict:
    """{"report": PreflightReport, "class_counts": (total, crowd)}, each present only when cached complete."""
    path = key.path
    try:
        entry = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}
    if entry.get("format") != CACHE_FORMAT or entry.get("key") != json.loads(json.dumps(key.to_dict())):
        return {}
    out = {}
    try:
        if entry.get("report"):
            out["report"] = PreflightReport.from_dict(entry["report"])
        if entry.get("class_counts"):
            out["class_counts"] = (list(entry["class_counts"][0]), list(entry["class_counts"][1]))
    except (KeyError, TypeError, ValueError, IndexError):
        return {}
    return out


def store(key: ScanKey, *, report: PreflightReport | None = None, counts: tuple | None = None) -> bool:
    """Cache a complete report and/or class counts for `key`; False when there is nothing to cache (a
    partial report, a dataset without a version) or the cache folder cannot be written."""
    path = key.path
    if path is None or (report is not None and not report.complete):
        return False
    entry = {"format": CACHE_FORMAT, "key": key.to_dict()}
    old = load_cached(key)
    report = report or old.get("report")
    counts = counts or old.get("class_counts")
    entry["report"] = report.to_dict() if report is not None else None
    entry["class_counts"] = [list(counts[0]), list(counts[1])] if counts is not None else None
    try:   # several processes may store the same key: the last complete one wins
        atomic_write_text(path, json.dumps(entry), durable=False)
    except OSError:
        return False
    return True
