"""`segstudio export RUN --format torchscript|onnx`: the model with its class names, checked against PyTorch."""
import sys

EXPORT_TOLERANCE = 1e-2   # boxes in pixels, scores and mask probabilities in [0, 1]
HELP = "Export a run's model to TorchScript or ONNX with its class names."


def add_arguments(p):
    p.add_argument("run", help="run folder (or its name under --runs-dir)")
    p.add_argument("--format", choices=["torchscript", "onnx"], default="torchscript")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--runs-dir", default="runs", metavar="DIR")


def run(args) -> int:
    from segstudio.engine.export import export_run
    from segstudio.engine.inference import load_run_model

    loaded = load_run_model(args.run, args.checkpoint, args.runs_dir)
    result = export_run(loaded, args.format)
    print(f"exported {result['format']} to {result['path']} with {len(result['class_names'])} class names; "
          f"max difference to PyTorch over {result['detections_compared']} detections (score >= "
          f"{result['min_score_compared']:.2f}) on {result['images']} images: {result['max_difference']:.2e}")
    if result["detections_compared"] == 0:
        print("note: the model detected nothing on these images, so only the export's structure was checked; "
              "train longer for a numeric comparison.")
    elif result["max_difference"] > EXPORT_TOLERANCE:
        print(f"error: the exported model differs from PyTorch by more than {EXPORT_TOLERANCE} (or misses "
              "detections); do not use this file, and report it with the run's config.", file=sys.stderr)
        return 1
    return 0
