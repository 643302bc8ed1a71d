"""`segstudio eval`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = "Evaluate a run's checkpoint on the validation split (COCO box and mask AP)."


def add_arguments(p):
    p.add_argument("run")
    p.add_argument("--dataset", metavar="URL")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
