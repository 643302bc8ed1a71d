"""The command line: help lists the subcommands; user errors are one line with no traceback."""
import subprocess
import sys

import pytest

from segstudio.cli import COMMANDS, main

SUBCOMMANDS = ["gui", "demo-data", "import-coco", "inspect", "audit", "preview", "train", "eval", "predict",
               "compare", "label-issues",
               "export", "bench", "cache", "weights"]


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "segstudio", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_every_subcommand():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert name in out.stdout
    assert set(SUBCOMMANDS) == set(COMMANDS)


def test_unknown_subcommand_prints_usage():
    out = run_cli("frobnicate")
    assert out.returncode != 0
    assert "usage:" in out.stderr and "Traceback" not in out.stderr


def test_unknown_option_prints_usage():
    out = run_cli("train", "--no-such-option")
    assert out.returncode != 0
    assert "usage:" in out.stderr and "Traceback" not in out.stderr


def test_malformed_config_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = 'many'\n")
    out = run_cli("train", "--config", str(bad))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.epochs" in lines[0] and "Traceback" not in out.stderr


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = 'many'\n")
    out = run_cli("--debug", "train", "--config", str(bad))
    assert out.returncode != 0 and "Traceback" in out.stderr


@pytest.mark.parametrize("argv", [["inspect", "/definitely/not/here"], ["eval", "/no/such/run"]])
def test_wrong_paths_are_one_line(argv, capsys):
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
