"""`segstudio gui`: open the window (the default when no subcommand is given)."""

HELP = 'Open the window (default when no subcommand is given).'


def add_arguments(p):
    p.add_argument("--dataset", metavar="URL", help="dataset to open (default: the demo dataset)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="render the window offscreen once it has loaded, save it as PNG and quit; "
                        "a path containing {tab} saves one PNG per tab")


def run(args) -> int:
    from segstudio.gui.app import run as run_app  # Qt is imported only when the window is wanted

    return run_app(getattr(args, "dataset", None), getattr(args, "screenshot", None))
