"""`segstudio predict`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Predict on a folder of images or a dataset; write overlays and COCO results.'


def add_arguments(p):
    p.add_argument("run")
    p.add_argument("input")
    p.add_argument("--out", required=True, metavar="DIR")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
