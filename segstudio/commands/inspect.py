"""`segstudio inspect URL`: schema, proposed mapping, classes with instance counts, pre-flight report.

The answer comes in the order it can be had: the schema and the proposed mapping at once, then a check
of a fixed sample of rows, then the figures that read every row (class counts, the full pre-flight) with a
progress bar; Ctrl+C ends the full scan early with what it found so far. Full answers are cached per
dataset version (data.scan), so asking again about an unchanged dataset answers at once.
"""
from __future__ import annotations

import signal
import sys
import threading

SAMPLE_ROWS = 500    # rows checked before the full scan starts


def add_arguments(p):
    p.add_argument("url", help="dataset path or URL (local, file://, s3://, al://)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--version", default="", metavar="VERSION", dest="data_version",
                   help="dataset version to read: a branch, a tag, a commit id or branch@commit "
                        "(default: the main branch)")
    p.add_argument("--endpoint-url", default="", help="S3-compatible endpoint; credentials from AWS_* variables")
    p.add_argument("--limit", type=int, default=0,
                   help="count and check a fixed random sample of this many rows only (0: every row)")
    p.add_argument("--no-cache", action="store_true",
                   help="scan every row again even when this dataset version's full report is cached")
    for role in ("images", "masks", "boxes", "labels", "iscrowd"):
        p.add_argument(f"--{role}", default="", help=f"use this column as {role} instead of the proposed one")


def _schema_lines(info) -> list:
    lines = [f"Dataset {info.url}: {info.num_rows} rows, version {info.version or '?'}", "Columns:"]
    width = max((len(c.name) for c in info.columns), default=4)
    for c in info.columns:
        shape = "x".join("?" if s is None else str(s) for s in c.shape) or "scalar"
        lines.append(f"  {c.name:{width}s}  {c.kind:13s} {c.dtype:8s} {shape}")
    return lines


def _version_lines(mapped) -> list:
    """Which state was read, and the branches and tags there are."""
    from segstudio.data.versions import names

    ref = mapped.ref
    if not ref.branch:
        return []
    branches, tags = names(mapped.ds)
    tag = f" (tag {ref.tag})" if ref.tag else ""
    return [f"Read at: branch {ref.branch}, commit {ref.commit}{tag}; branches: {', '.join(branches)}; "
            f"tags: {', '.join(tags) or 'none'}"]


def _mapping_lines(info, mapping, box_format, problem: str) -> list:
    lines = []
    if mapping is not None:
        lines.append(f"Mapping: images={mapping.images} masks={mapping.masks} boxes={mapping.boxes or '(from masks)'}"
                     f" labels={mapping.labels} iscrowd={mapping.iscrowd or '(none)'}")
        lines.append(f"Boxes: {box_format.fmt}, {box_format.units}"
                     + ("" if info.box_format_known else " (assumed: not recorded in the schema)"))
    return lines + [f"Note: {n}" for n in info.notes if n != problem]   # the problem itself goes to stderr


def _class_lines(class_names: list, counts, scope: str) -> list:
    total, crowd = counts
    lines = [f"Classes: {len(class_names)} ({sum(1 for n in total if n)} with instances{scope})"]
    name_width = min(40, max((len(n) for n in class_names), default=4))
    for i, name in enumerate(class_names):
        extra = f" ({crowd[i]} crowd)" if crowd[i] else ""
        lines.append(f"  {i:4d}  {name:{name_width}s} {total[i]:7d}{extra}")
    return lines


class _Out:
    """Text goes out as soon as it is known (flushed: a pipe must not hold the first line back)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, lines) -> None:
        if not self.quiet and lines:
            print("\n".join(lines), flush=True)


def _progress_bar(desc: str):
    """A tqdm bar on stderr (only on a terminal) and the progress callback that feeds it."""
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="row", file=sys.stderr, disable=None, dynamic_ncols=True, leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return bar, progress


def _stop_on_ctrl_c():
    """First Ctrl+C: end the scan early (what was found so far is shown). Second: interrupt at once."""
    stop = threading.Event()

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping the scan (Ctrl+C again to abort)...", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGINT, handler) if threading.current_thread() is threading.main_thread() \
        else None
    return stop, previous


def _full_scan(mapped, out, stop, use_cache: bool):
    """Every row: the class counts (shown as soon as known), then the pre-flight; complete answers cached."""
    from segstudio.data.counts_report import counts_and_report

    bars = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in bars:
            for bar, _ in bars.values():
                bar.close()
            bars[phase] = _progress_bar("class counts" if phase == "counts" else "checking rows")
        bars[phase][1](done, total)

    def show_counts(counts) -> None:
        if "counts" in bars:
            bars["counts"][0].close()
        out(_class_lines(mapped.class_names, counts, "") if counts is not None else ["Classes: counting cancelled."])
    try:
        return counts_and_report(mapped, use_cache=use_cache, should_stop=stop.is_set, progress=progress,
                                 on_counts=show_counts)
    finally:
        for bar, _ in bars.values():
            bar.close()


def _scan(args, mapped, out) -> tuple:
    """(class counts, report, where the answer came from): cached, a --limit sample, or a full scan."""
    from segstudio.data.class_counts import class_counts
    from segstudio.data.counts_report import scan_key
    from segstudio.data.preflight import preflight, sample_rows
    from segstudio.data.scan import load_cached

    ds, mapping, box_format = mapped.ds, mapped.mapping, mapped.box_format
    n, k, names = len(ds), len(mapped.class_names), mapped.class_names
    if args.limit:
        rows = sample_rows(n, args.limit)
        counts = class_counts(ds, mapping.labels, mapping.iscrowd, k, rows=rows)
        scope = "" if rows is None else f" in the {len(rows)} sampled rows"
        out(_class_lines(names, counts, scope))
        return counts, preflight(ds, mapping, box_format, rows=rows, num_classes=k), "sample"
    cached = {} if args.no_cache else load_cached(scan_key(mapped))
    if "report" in cached and "class_counts" in cached:
        out(_class_lines(names, cached["class_counts"], ""))
        return cached["class_counts"], cached["report"], "cache"
    if n > SAMPLE_ROWS:
        sampled = preflight(ds, mapping, box_format, rows=sample_rows(n, SAMPLE_ROWS), num_classes=k)
        out([sampled.format_text(), f"Checking all {n} rows (Ctrl+C ends it early) ..."])
    stop, previous = _stop_on_ctrl_c()
    try:
        found = _full_scan(mapped, out, stop, use_cache=not args.no_cache)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return found.counts, found.report, "scan"


def run(args) -> int:
    import json
    from dataclasses import asdict

    from segstudio.base.config import DataConfig
    from segstudio.base.errors import ConfigError, DataError
    from segstudio.data.mapped import open_mapped

    if args.limit < 0:
        raise ConfigError(f"--limit {args.limit} is negative; give 0 to check every row or a number of rows.")
    out = _Out(quiet=args.json)
    cfg = DataConfig(version=args.data_version,
                     **{r: getattr(args, r) for r in ("images", "masks", "boxes", "labels", "iscrowd")})
    mapped = open_mapped(args.url, cfg, endpoint_url=args.endpoint_url, strict=False)
    info, mapping, problem = mapped.info, mapped.mapping, mapped.problem
    out(_schema_lines(info) + _version_lines(mapped))
    box_format = counts = report = None
    source = ""
    if mapping is not None:
        box_format, info.class_names = mapped.box_format, mapped.class_names
    out(_mapping_lines(info, mapping, box_format, problem))
    if mapping is not None:
        counts, report, source = _scan(args, mapped, out)
        out([report.format_text() + (" (cached for this version)" if source == "cache" else "")])
    if args.json:
        result = info.to_dict()
        result.update(branch=mapped.ref.branch, commit=mapped.ref.commit, tag=mapped.ref.tag,
                      resolved_mapping=asdict(mapping) if mapping else None,
                      resolved_box_format=asdict(box_format) if box_format else None, problem=problem,
                      class_counts=({n: {"instances": counts[0][i], "crowd": counts[1][i]}
                                     for i, n in enumerate(info.class_names)} if counts else None),
                      preflight=report.to_dict() if report else None, preflight_source=source or None)
        print(json.dumps(result, indent=2))
    if problem:     # the schema above helps choose columns; the problem itself is the one error line
        raise DataError(problem)
    if report is not None and report.cancelled:
        return 130
    return 0 if mapping is not None and report.ok else 1
