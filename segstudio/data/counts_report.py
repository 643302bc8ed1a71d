"""Class counts and the pre-flight report of a mapped dataset: cached for its version, else computed.
One policy for `segstudio inspect`, the Dataset tab and training (which keys its row checks the same way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from segstudio.data.class_counts import Cancelled, class_counts
from segstudio.data.mapped import MappedDataset
from segstudio.data.preflight import PreflightReport, preflight
from segstudio.data.scan import ScanKey, load_cached, store


def scan_key(mapped: MappedDataset) -> ScanKey:
    """The cache key of what a scan of this dataset finds: its address, version, mapping and classes."""
    return ScanKey.of(mapped.url, mapped.version_key(), mapped.mapping, mapped.box_format,
                      len(mapped.class_names), mapped.endpoint_url)


@dataclass
class CountsAndReport:
    counts: tuple | None            # (instances per class, crowd per class); None when counting was stopped
    report: PreflightReport | None
    source: str                     # "cache" (both found cached), "sample" (report on a sample) or "scan"


def counts_and_report(mapped: MappedDataset, *, rows=None, use_cache: bool = True,
                      should_stop: Callable[[], bool] = lambda: False,
                      progress: Callable[[str, int, int], None] | None = None,
                      on_counts: Callable[[tuple | None], None] | None = None) -> CountsAndReport:
    """What is cached for this version first; else the class counts over every row (cached), handed to
    `on_counts` as soon as they are known, then the pre-flight over `rows` (None: every row, and then the
    report is cached too). `progress(phase, done, total)`: phase "counts", "sample" or "rows"."""
    m, k, key = mapped.mapping, len(mapped.class_names), scan_key(mapped)
    cached = load_cached(key) if use_cache else {}
    counts = cached.get("class_counts")
    if counts is None:
        try:
            counts = class_counts(mapped.ds, m.labels, m.iscrowd, k, should_stop=should_stop,
                                  progress=_phase(progress, "counts"))
            store(key, counts=counts)
        except Cancelled:
            counts = None
    if on_counts is not None:
        on_counts(counts)
    if cached.get("report") is not None:
        return CountsAndReport(counts, cached["report"], "cache" if "class_counts" in cached else "scan")
    report = preflight(mapped.ds, m, mapped.box_format, rows=rows, num_classes=k, should_stop=should_stop,
                       progress=_phase(progress, "rows" if rows is None else "sample"))
    if rows is None:
        store(key, report=report)
    return CountsAndReport(counts, report, "scan" if rows is None else "sample")


def _phase(progress, phase: str):
    return None if progress is None else (lambda done, total: progress(phase, done, total))
