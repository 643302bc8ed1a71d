"""The `segstudio` command: parse, call the core, print. No logic of its own."""
from __future__ import annotations

import argparse
import importlib
import multiprocessing
import sys

from segstudio import __version__
from segstudio.base.errors import UserError

# subcommand -> module in segstudio.commands (each has HELP, add_arguments(parser), run(args) -> int)
COMMANDS = {
    "gui": "gui",
    "demo-data": "demo_data",
    "import-coco": "import_coco",
    "inspect": "inspect",
    "audit": "audit",
    "preview": "preview",
    "train": "train",
    "eval": "evaluate",
    "predict": "predict",
    "compare": "compare",
    "label-issues": "label_issues",
    "export": "export",
    "weights": "weights",
    "bench": "bench",
    "cache": "cache",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segstudio",
        description="Train Mask R-CNN instance segmentation on Deep Lake datasets. "
                    "With no subcommand, opens the window on the demo dataset.")
    parser.add_argument("--version", action="version", version=f"segstudio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"segstudio.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks for errors")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui"] + argv)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted.", file=sys.stderr)
        return 130


def run() -> None:
    """The `segstudio` program: main(), then leave without the native libraries' exit handlers.

    Deep Lake's can crash (SIGSEGV) or hang for many minutes at interpreter exit once its storage threads
    have met a server that went away (seen after a run that had already said what happened and saved its
    checkpoint). Everything a command writes is committed, saved or closed before main() returns, so the
    process flushes its output and ends with main()'s status."""
    import logging
    import os

    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe: nothing more to say
            pass
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    run()
