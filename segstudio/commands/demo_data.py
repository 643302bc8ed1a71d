"""`segstudio demo-data`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Generate the synthetic demo dataset.'


def add_arguments(p):
    p.add_argument("dest", nargs="?", help="where to write it (default: the user data folder)")
    p.add_argument("--images", type=int, default=300, help="number of images")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
