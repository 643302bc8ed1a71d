"""`segstudio import-coco`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Import a COCO instances file into a new Deep Lake dataset.'


def add_arguments(p):
    p.add_argument("images_dir")
    p.add_argument("annotations")
    p.add_argument("dest")
    p.add_argument("--resume", action="store_true", help="continue an interrupted import")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
