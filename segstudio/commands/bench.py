"""`segstudio bench`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Run a benchmark from bench/ and print its figures.'


def add_arguments(p):
    p.add_argument("name", nargs="?")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
