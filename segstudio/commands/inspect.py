"""`segstudio inspect`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = "Show a dataset's schema, proposed column mapping, classes and pre-flight report."


def add_arguments(p):
    p.add_argument("url")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
