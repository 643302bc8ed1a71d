"""`segstudio predict RUN INPUT --out DIR`: overlays and COCO-format results for a folder or a dataset."""
HELP = "Predict on a folder of images or a dataset; write overlays and COCO results."


def add_arguments(p):
    p.add_argument("run", help="run folder (or its name under --runs-dir)")
    p.add_argument("input", help="an image file, a folder of images or a dataset URL")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--score-threshold", type=float, default=None, metavar="S",
                   help="one threshold for every class (default: the F1-best per-class thresholds of the run's "
                        "last `segstudio eval`, RUN/eval/thresholds.json; 0.5 without one)")
    p.add_argument("--class-threshold", action="append", default=[], metavar="CLASS=S",
                   help="the threshold of one class (repeatable); wins over the others")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def run(args) -> int:
    from segstudio.commands import checks
    from segstudio.engine.inference import load_run_model, predict

    from segstudio.engine.thresholds import parse_overrides, resolve

    if args.score_threshold is not None:
        checks.fraction("--score-threshold", args.score_threshold)
    args.device = checks.device("--device", args.device)
    checks.output_folder("--out", args.out)
    loaded = load_run_model(args.run, args.checkpoint, args.runs_dir, args.device)
    overrides = parse_overrides(args.class_threshold, loaded.class_names)
    thresholds, source = resolve(loaded.run_dir, loaded.class_names, args.score_threshold, overrides)
    print(f"thresholds: {source}")
    summary = predict(loaded, args.input, args.out, score_threshold=thresholds, device=args.device)
    print(f"{summary['images']} images, {summary['detections']} detections: overlays and predictions.json "
          f"in {summary['out']}")
    return 0
