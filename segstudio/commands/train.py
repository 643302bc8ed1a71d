"""`segstudio train`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Train a model from a TOML config.'


def add_arguments(p):
    p.add_argument("--config", metavar="FILE")
    p.add_argument("--resume", metavar="RUN")
    p.add_argument("--extend-epochs", type=int, metavar="N")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
