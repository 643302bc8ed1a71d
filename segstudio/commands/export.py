"""`segstudio export RUN --format torchscript|onnx|openvino`: the model with its metadata, certified by the
parity suite (engine/parity.py) before it is placed in the run folder."""

FORMATS = ("torchscript", "onnx", "openvino")   # engine/export_formats.FORMATS, without importing torch


def add_arguments(p):
    p.add_argument("run", help="run folder (or its name under --runs-dir)")
    p.add_argument("--format", choices=FORMATS, default="torchscript")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")
    p.add_argument("--images", type=int, default=50, metavar="N",
                   help="validation images in the parity suite (default 50), plus --empty-images")
    p.add_argument("--empty-images", type=int, default=10, metavar="N", help="images with nothing in them (10)")


def run(args) -> int:
    from segstudio.commands import checks
    from segstudio.engine.export import export_run
    from segstudio.engine.inference import load_run_model
    from segstudio.engine.parity import table

    checks.positive("--images", args.images)
    checks.non_negative("--empty-images", args.empty_images)
    loaded = load_run_model(args.run, args.checkpoint, args.runs_dir)
    report = export_run(loaded, args.format, count=args.images, empty=args.empty_images)
    print(table(report), end="")
    compared = sum(c["detections"] for c in report["cases"])
    print(f"exported {args.format} to {report['path']} with {len(report['metadata']['class_names'])} class names "
          f"and score threshold {report['metadata']['score_threshold']}; parity with PyTorch passed on "
          f"{report['image_source']} images at {len({c['size'] for c in report['cases']})} sizes "
          f"({compared} detections compared) in {report['seconds']:.0f} s")
    return 0
