"""`segstudio eval RUN`: COCO box and mask AP of a run's checkpoint; prints a table, writes eval/metrics.json."""
HELP = "Evaluate a run's checkpoint on the validation split (COCO box and mask AP)."


def add_arguments(p):
    p.add_argument("run", help="run folder (or its name under --runs-dir)")
    p.add_argument("--dataset", metavar="URL", help="evaluate on every row of this dataset instead")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


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


def run(args) -> int:
    from segstudio.commands import checks
    from segstudio.engine.inference import evaluate_run, load_run_model

    args.device = checks.device("--device", args.device)
    loaded = load_run_model(args.run, args.checkpoint, args.runs_dir, args.device)
    result = evaluate_run(loaded, args.dataset or "", device=args.device)
    print(format_table(result))
    print(f"written: {result['path']}")
    return 0
