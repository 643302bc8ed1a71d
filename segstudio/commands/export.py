"""`segstudio export`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = "Export a run's model to TorchScript or ONNX with its class names."


def add_arguments(p):
    p.add_argument("run")
    p.add_argument("--format", choices=["torchscript", "onnx"], default="torchscript")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
