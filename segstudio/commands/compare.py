"""`segstudio compare RUN_A RUN_B`: per-class AP of two runs' stored evaluations, B - A with bootstrap
confidence intervals over the validation images, the settings that differ, and what changed in the data
between the dataset versions the two runs read (rows added, removed, relabelled)."""


def add_arguments(p):
    p.add_argument("run_a", help="the reference run (folder or name under --runs-dir)")
    p.add_argument("run_b", help="the run compared with it")
    p.add_argument("--kind", choices=["segm", "bbox"], default="segm", help="masks (segm, default) or boxes")
    p.add_argument("--iou", choices=["0.5", "0.75", "0.5:0.95"], default="0.5:0.95")
    p.add_argument("--resamples", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    p.add_argument("--no-data", action="store_true",
                   help="skip the data changes between the runs' dataset versions (they read every row of both)")


def format_comparison(result: dict) -> str:
    lines = [f"NOTE: {note}" for note in result["notes"]]
    lines.append(f"{result['run_b']} against {result['run_a']}: {'mask' if result['kind'] == 'segm' else 'box'} "
                 f"AP @ IoU {result['iou']}, 95% intervals from {result['resamples']} "
                 f"{'paired ' if result['paired'] else ''}bootstrap resamples of the validation images "
                 "(* significant)")
    lines.append(f"{'class':16s}{'A':>8s}{'B':>8s}{'B - A':>9s}   95% interval")
    fmt = lambda v: "   -   " if v is None else f"{v:8.3f}"  # noqa: E731
    rows = ([("all classes", result["overall"])] if result["overall"] else []) + list(result["per_class"].items())
    for name, v in rows:
        lo, hi = v["ci"]
        interval = "-" if lo is None else f"[{lo:+.3f}, {hi:+.3f}]"
        lines.append(f"{name[:16]:16s}{fmt(v['a'])}{fmt(v['b'])} {fmt(v['delta'])}   {interval}"
                     f"{' *' if v['significant'] else ''}")
    diff = result["config_diff"]
    lines.append("settings that differ: " + ("none" if not diff else ""))
    lines += [f"  {k}: {a!r} -> {b!r}" for k, (a, b) in diff.items()]
    if result.get("data"):
        lines.append(result["data"]["text"])
    return "\n".join(lines)


def _progress_bar():
    """A tqdm bar on stderr (terminals only) for reading both versions' rows, and its callback."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=0, desc="data changes", unit="row", file=sys.stderr, disable=None, leave=False, delay=1.0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return bar, progress


def run(args) -> int:
    import json

    from segstudio.base.errors import ConfigError
    from segstudio.engine.compare import compare_runs
    from segstudio.engine.rundir import resolve_run

    if args.resamples < 100:
        raise ConfigError(f"--resamples must be at least 100 (1,000 or more for a 95% interval); "
                          f"got {args.resamples}.")
    run_a, run_b = resolve_run(args.run_a, args.runs_dir), resolve_run(args.run_b, args.runs_dir)
    bar, progress = _progress_bar()
    with bar:
        result = compare_runs(run_a, run_b, kind=args.kind, setting=args.iou, resamples=args.resamples,
                              seed=args.seed, data=not args.no_data, progress=progress)
    print(format_comparison(result))
    if args.json:
        from pathlib import Path

        from segstudio.base.files import atomic_write_text
        atomic_write_text(Path(args.json), json.dumps(result, indent=2) + "\n")
        print(f"written: {args.json}")
    return 0
