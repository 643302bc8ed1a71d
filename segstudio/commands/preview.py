"""`segstudio preview`: not built yet."""
from segstudio.errors import NotImplementedYet

HELP = 'Write original | augmented PNGs exactly as training sees them.'


def add_arguments(p):
    p.add_argument("url")
    p.add_argument("--config", metavar="FILE")
    p.add_argument("--preset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--out", required=True, metavar="DIR")


def run(args) -> int:
    raise NotImplementedYet("not implemented yet.")
