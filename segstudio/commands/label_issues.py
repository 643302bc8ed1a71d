"""`segstudio label-issues RUN --out FILE`: the dataset's likely label errors, strongest first."""


def add_arguments(p):
    p.add_argument("run", help="a trained run (folder or name under --runs-dir)")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the candidates (JSON)")
    p.add_argument("--folds", type=int, default=0, metavar="K",
                   help="k-fold cross-prediction with K trainings (accurate, costs K trainings); "
                        "0 (default): the quick option, the run's own model (biased on its training rows)")
    p.add_argument("--fold-iters", type=int, default=0, metavar="N",
                   help="iterations of each fold's training; 0 (default): as many as the run trained")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--top", type=int, default=20, metavar="N", help="candidates to print (all are written)")


def format_candidates(result: dict, top: int) -> str:
    names = result["class_names"]
    name = lambda i: names[i] if 0 <= i < len(names) else "-"  # noqa: E731
    lines = [f"{len(result['candidates'])} candidates in {result['rows']:,} rows of {result['dataset']} "
             f"({result['commit'] or 'no version'}); {result['mode']}; confident = {result['confidence']}.",
             f"{'score':>6s}  {'kind':12s} {'row':>6s}  {'annotation':>10s}  label -> proposed"]
    for c in result["candidates"][:top]:
        biased = "  (training row)" if c["training_row"] else ""
        lines.append(f"{c['score']:6.3f}  {c['kind']:12s} {c['row']:6d}  {c['annotation']:10d}  "
                     f"{name(c['label'])} -> {name(c['proposed'])}{biased}")
    return "\n".join(lines)


def run(args) -> int:
    import sys
    import threading

    from segstudio.base.errors import ConfigError
    from segstudio.commands.train import install_stop_handler
    from segstudio.engine.label_review import find_label_issues, write_label_issues

    if args.folds < 0 or args.folds == 1:
        raise ConfigError(f"--folds {args.folds}: give 0 (the quick option) or 2 or more folds.")
    if args.fold_iters < 0:
        raise ConfigError("--fold-iters must be 0 (as many as the run trained) or more.")
    stop = threading.Event()
    install_stop_handler(stop)
    result, _images = find_label_issues(args.run, folds=args.folds, fold_iterations=args.fold_iters,
                                        runs_dir=args.runs_dir, checkpoint=args.checkpoint, should_stop=stop.is_set,
                                        progress=lambda text: print(text, file=sys.stderr, flush=True))
    path = write_label_issues(result, args.out)
    print(format_candidates(result, args.top))
    if result["note"]:
        print(f"warning: {result['note']}", file=sys.stderr)
    print(f"written: {path}")
    return 0
