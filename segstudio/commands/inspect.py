"""`segstudio inspect URL`: schema, proposed mapping, classes with instance counts, pre-flight report."""
from __future__ import annotations

HELP = ("Show a dataset's schema, proposed column mapping, classes and pre-flight report "
        "(exit status 1 when the pre-flight finds errors that would stop training).")


def add_arguments(p):
    p.add_argument("url", help="dataset path or URL (local, file://, s3://, al://)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--endpoint-url", default="", help="S3-compatible endpoint; credentials from AWS_* variables")
    p.add_argument("--limit", type=int, default=0, help="check a fixed random sample of this many rows (0: all)")
    for role in ("images", "masks", "boxes", "labels", "iscrowd"):
        p.add_argument(f"--{role}", default="", help=f"use this column as {role} instead of the proposed one")


def _text(info, mapping, box_format, counts, report, problem: str) -> str:
    lines = [f"Dataset {info.url}: {info.num_rows} rows, version {info.version or '?'}", "Columns:"]
    width = max((len(c.name) for c in info.columns), default=4)
    for c in info.columns:
        shape = "x".join("?" if s is None else str(s) for s in c.shape) or "scalar"
        lines.append(f"  {c.name:{width}s}  {c.kind:13s} {c.dtype:8s} {shape}")
    if mapping is not None:
        lines.append(f"Mapping: images={mapping.images} masks={mapping.masks} boxes={mapping.boxes or '(from masks)'}"
                     f" labels={mapping.labels} iscrowd={mapping.iscrowd or '(none)'}")
        lines.append(f"Boxes: {box_format.fmt}, {box_format.units}"
                     + ("" if info.box_format_known else " (assumed: not recorded in the schema)"))
    lines += [f"Note: {n}" for n in info.notes if n != problem]   # the problem itself goes to stderr
    if counts is not None:
        total, crowd = counts
        lines.append(f"Classes: {len(info.class_names)} ({sum(1 for n in total if n)} with instances)")
        name_width = min(40, max((len(n) for n in info.class_names), default=4))
        for i, name in enumerate(info.class_names):
            extra = f" ({crowd[i]} crowd)" if crowd[i] else ""
            lines.append(f"  {i:4d}  {name:{name_width}s} {total[i]:7d}{extra}")
    if report is not None:
        lines.append(report.format_text())
    return "\n".join(lines)


def run(args) -> int:
    import json
    from dataclasses import asdict

    from segstudio.config import DataConfig
    from segstudio.data.class_counts import class_counts
    from segstudio.data.mapped import open_mapped
    from segstudio.data.preflight import preflight, sample_rows
    from segstudio.errors import ConfigError, DataError

    if args.limit < 0:
        raise ConfigError(f"--limit {args.limit} is negative; give 0 to check every row or a number of rows.")
    cfg = DataConfig(**{r: getattr(args, r) for r in ("images", "masks", "boxes", "labels", "iscrowd")})
    mapped = open_mapped(args.url, cfg, endpoint_url=args.endpoint_url, strict=False)
    info, mapping, problem = mapped.info, mapped.mapping, mapped.problem
    box_format = counts = report = None
    if mapping is not None:
        box_format, info.class_names = mapped.box_format, mapped.class_names
        counts = class_counts(mapped.ds, mapping.labels, mapping.iscrowd, len(info.class_names))
        report = preflight(mapped.ds, mapping, box_format, rows=sample_rows(mapped.num_rows, args.limit),
                           num_classes=len(info.class_names))
    if args.json:
        out = info.to_dict()
        out.update(resolved_mapping=asdict(mapping) if mapping else None,
                   resolved_box_format=asdict(box_format) if box_format else None, problem=problem,
                   class_counts=({n: {"instances": counts[0][i], "crowd": counts[1][i]}
                                  for i, n in enumerate(info.class_names)} if counts else None),
                   preflight=report.to_dict() if report else None)
        print(json.dumps(out, indent=2))
    else:
        print(_text(info, mapping, box_format, counts, report, problem))
    if problem:     # the schema above helps choose columns; the problem itself is the one error line
        raise DataError(problem)
    return 0 if mapping is not None and report.ok else 1
