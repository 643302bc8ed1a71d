"""One module per CLI subcommand: `add_arguments(parser)` and `run(args) -> int`.

Modules here import only argparse-level things at import time (so `segstudio --help` stays fast);
heavy imports (torch, deeplake) happen inside `run`.
"""
