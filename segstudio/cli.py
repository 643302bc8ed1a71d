"""The `segstudio` command: parse, call the core, print. No logic of its own."""
from __future__ import annotations

import argparse
import importlib
import multiprocessing
import sys

from segstudio import __version__
from segstudio.base.errors import UserError

# subcommand -> (module in segstudio.commands with add_arguments(parser) and run(args) -> int, its help).
# Only the chosen subcommand's module is imported: `segstudio --help` and a command's start import no other.
COMMANDS = {
    "gui": ("gui",
        "Open the window (default when no subcommand is given)."),
    "demo-data": ("demo_data",
        "Generate the synthetic demo dataset."),
    "import-coco": ("import_coco",
        "Import a COCO instances file into a new Deep Lake dataset."),
    "inspect": ("inspect",
        "Show a dataset's schema, proposed column mapping, classes and pre-flight report (exit status 1 when "
        "the pre-flight finds errors that would stop training)."),
    "audit": ("audit",
        "Audit the augmentation over the dataset: instances dropped by class and reason, object sizes against "
        "the anchors, empty samples, class balance."),
    "preview": ("preview",
        "Write original | augmented PNGs exactly as training sees them."),
    "train": ("train",
        "Train a model from a TOML config (default: the machine's preset, gpu or cpu, on the demo dataset)."),
    "eval": ("evaluate",
        "Evaluate a run's checkpoint on the validation split (COCO AP, thresholds, confusion, error types)."),
    "predict": ("predict",
        "Predict on images, videos, folders of them or a dataset; write overlays and COCO results."),
    "compare": ("compare",
        "Compare two evaluated runs: per-class AP deltas with bootstrap confidence intervals, config "
        "differences."),
    "label-issues": ("label_issues",
        "Find likely label errors (missing, wrong class, sloppy mask, spurious) in a run's dataset from "
        "predictions; --folds K predicts each row with a model that did not train on it."),
    "export": ("export",
        "Export a run's model to TorchScript, ONNX or OpenVINO, checked against PyTorch."),
    "weights": ("weights",
        "List, download or import pretrained weights (torch's cache folder; downloads only on request)."),
    "bench": ("bench",
        "Run a benchmark from bench/ and print its figures."),
    "cache": ("cache",
        "Show or clear the local disk cache of rows read from remote datasets."),
}


def chosen_command(argv: list[str]) -> str:
    """The subcommand named in argv (the first word that is not an option), or "" for none."""
    return next((word for word in argv if not word.startswith("-")), "")


def build_parser(command: str = "") -> argparse.ArgumentParser:
    """The parser with every subcommand listed; only `command`'s module is imported for its arguments."""
    parser = argparse.ArgumentParser(
        prog="segstudio",
        description="Train Mask R-CNN instance segmentation on Deep Lake datasets. "
                    "With no subcommand, opens the window on the demo dataset.")
    parser.add_argument("--version", action="version", version=f"segstudio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(f"segstudio.commands.{module_name}")
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show tracebacks for errors")
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    command = chosen_command(argv)
    if not command and not set(argv) & {"-h", "--help", "--version"}:
        argv, command = ["gui"] + argv, "gui"   # no subcommand: the window
    args = build_parser(command).parse_args(argv)
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
