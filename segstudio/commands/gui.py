"""`segstudio gui`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Open the window (default when no subcommand is given).'


def add_arguments(p):
    p.add_argument("--dataset", metavar="URL", help="dataset to open (default: the demo dataset)")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
