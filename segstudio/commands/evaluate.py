"""`segstudio eval RUN [--report DIR]`: COCO box and mask AP of a run's checkpoint, its F1-best thresholds and
error types; prints tables, writes RUN/eval/ (metrics, predictions, analysis, thresholds) and a report."""
ERRORS = ("cls", "loc", "both", "dupe", "bkg", "missed")


def add_arguments(p):
    p.add_argument("run", help="run folder (or its name under --runs-dir)")
    p.add_argument("--dataset", metavar="URL", help="evaluate on every row of this dataset instead")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--report", metavar="DIR", help="also write PNG figures, report.json and a self-contained "
                                                   "index.html into DIR")


def format_table(result: dict) -> str:
    m = result["metrics"]
    lines = [f"{result['run']} ({result['checkpoint']}, iteration {result['iteration']}) on "
             f"{result['images']} images of {result['dataset']}",
             f"{'':14s}{'AP':>8s}{'AP50':>8s}{'AP75':>8s}"]
    for iou, title in (("bbox", "box"), ("segm", "mask")):
        lines.append(f"{title:14s}" + "".join(f"{m.get(f'{iou}_{k}', float('nan')):8.3f}"
                                               for k in ("map", "map_50", "map_75")))
    if result["per_class"]:
        lines.append(f"{'class':14s}{'box AP':>8s}{'mask AP':>8s}")
        for name, v in result["per_class"].items():
            lines.append(f"{name[:14]:14s}{v.get('bbox_ap', float('nan')):8.3f}{v.get('segm_ap', float('nan')):8.3f}")
    return "\n".join(lines)


def format_analysis(analysis: dict) -> str:
    """Thresholds and error types (AP50 points) as terminal lines."""
    segm, bbox = analysis["kinds"]["segm"], analysis["kinds"]["bbox"]
    t = segm["thresholds"]
    lines = [f"F1-best mask thresholds (IoU 0.5): global {t['global']:.2f}; " +
             ", ".join(f"{k} {v:.2f}" for k, v in t["per_class"].items()),
             f"{'error type (AP50 points)':26s}{'box':>8s}{'mask':>8s}"]
    for key in ERRORS:
        lines.append(f"{key:26s}{bbox['errors']['delta'][key]:8.2f}{segm['errors']['delta'][key]:8.2f}")
    return "\n".join(lines)


def run(args) -> int:
    import json

    from segstudio.commands import checks
    from segstudio.engine.inference import evaluate_run, load_run_model

    args.device = checks.device("--device", args.device)
    if args.report:
        checks.output_folder("--report", args.report)
    loaded = load_run_model(args.run, args.checkpoint, args.runs_dir, args.device)
    result = evaluate_run(loaded, args.dataset or "", device=args.device)
    print(format_table(result))
    eval_dir = loaded.run_dir / "eval"
    print(format_analysis(json.loads((eval_dir / "analysis.json").read_text())))
    print(f"written: {result['path']}, {eval_dir / 'thresholds.json'}, analysis.json, predictions.json")
    if args.report:
        from segstudio.engine.report import write_run_report
        print(f"report: {write_run_report(loaded.run_dir, args.report)}")
    return 0
