"""`segstudio predict RUN INPUT --out DIR`: overlays and COCO-format results for images, videos, folders of
them, or a dataset. The first Ctrl+C stops after the current frame or image and keeps what was written."""
import signal
import sys
import threading


def add_arguments(p):
    p.add_argument("run", help="run folder (or its name under --runs-dir)")
    p.add_argument("input", help="an image or video file, a folder of images and/or videos, or a dataset URL")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--model", choices=["checkpoint", "torchscript", "onnx", "openvino"], default="checkpoint",
                   help="predict with the checkpoint (default) or the run's export of that format, as placed by "
                        "`segstudio export` (RUN/export/FORMAT, certified by its parity suite; CPU)")
    p.add_argument("--score-threshold", type=float, default=None, metavar="S",
                   help="one threshold for every class (default: the F1-best per-class thresholds of the run's "
                        "last `segstudio eval`, RUN/eval/thresholds.json; 0.5 without one)")
    p.add_argument("--class-threshold", action="append", default=[], metavar="CLASS=S",
                   help="the threshold of one class (repeatable); wins over the others")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


class _Progress:
    """Frames of each video on a tqdm bar (terminal only); a stop flag the first Ctrl+C sets."""

    def __init__(self):
        self.bar, self.name, self.stop = None, "", False

    def video(self, name: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        if self.bar is None or self.name != name:
            from tqdm import tqdm
            self.close()
            self.bar, self.name = tqdm(total=total or None, desc=name, unit="frame", file=sys.stderr), name
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_sigint(self, *_):
        self.stop = True
        print("stopping after this frame (Ctrl+C again to abort)", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run(args) -> int:
    from segstudio.commands import checks
    from segstudio.engine.inference import load_run_model, predict
    from segstudio.engine.thresholds import parse_overrides, resolve

    if args.score_threshold is not None:
        checks.fraction("--score-threshold", args.score_threshold)
    args.device = checks.device("--device", args.device)
    checks.output_folder("--out", args.out)
    if args.model != "checkpoint" and args.device != "cpu":
        from segstudio.base.errors import ConfigError
        raise ConfigError(f"--model {args.model} runs the export on the CPU; leave out --device {args.device}.")
    loaded = load_run_model(args.run, args.checkpoint, args.runs_dir, args.device)
    if args.model != "checkpoint":
        from segstudio.engine.predict_files import with_model
        loaded = with_model(loaded, args.model)
        print(f"model: {loaded.run_dir / 'export' / args.model}")
    overrides = parse_overrides(args.class_threshold, loaded.class_names)
    thresholds, source = resolve(loaded.run_dir, loaded.class_names, args.score_threshold, overrides)
    print(f"thresholds: {source}")
    progress = _Progress()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, progress.on_sigint) if main_thread else None
    try:
        summary = predict(loaded, args.input, args.out, score_threshold=thresholds, device=args.device,
                          video_progress=progress.video, should_stop=lambda: progress.stop)
    finally:
        progress.close()
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    if summary.get("videos"):
        print(f"{summary['videos']} videos, {summary['frames']} frames: overlay videos, per-frame predictions "
              f"and images.json in {summary['out']}")
    if summary["images"] or not summary.get("videos"):
        print(f"{summary['images']} images, {summary['detections']} detections: overlays and predictions.json "
              f"in {summary['out']}")
    if summary.get("stopped"):
        print("stopped before the end; what was written is complete up to that frame")
    return 0
