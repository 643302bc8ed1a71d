"""`segstudio bench`: lists scripts, runs one with the same interpreter and its arguments, clear errors."""
import pytest

from segstudio.cli import main
from segstudio.commands import bench


@pytest.fixture
def fake_bench(tmp_path, monkeypatch):
    folder = tmp_path / "bench"
    folder.mkdir()
    (folder / "echo_args.py").write_text(
        '"""Echo arguments and exit 3."""\nimport sys\nprint("ARGS", sys.argv[1:])\nsys.exit(3)\n')
    (folder / "_helper.py").write_text("")
    monkeypatch.setattr(bench, "bench_dir", lambda: folder)
    return folder


def test_lists_scripts_with_their_summary(fake_bench, capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    assert "echo_args  Echo arguments and exit 3." in out and "_helper" not in out


def test_runs_named_script_with_extra_args(fake_bench, capfd):
    assert main(["bench", "echo_args.py", "--steps", "2", "--debug"]) == 3
    assert "ARGS ['--steps', '2', '--debug']" in capfd.readouterr().out


def test_unknown_name_lists_choices(fake_bench, capsys):
    assert main(["bench", "nope"]) == 1
    assert "no benchmark named 'nope'; choose one of echo_args." in capsys.readouterr().err


def test_missing_bench_folder_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("segstudio.__file__", str(tmp_path / "pkg" / "segstudio" / "__init__.py"))
    assert main(["bench"]) == 1
    assert "no bench/ folder found" in capsys.readouterr().err
