"""`segstudio audit`: the report, JSON and two pipelines side by side; every user error one sentence."""
import json

import pytest

from segstudio.cli import main

FAST = ["--rows", "6", "--draws", "1", "--workers", "0"]


def test_audit_prints_the_tables_and_caches_them(demo_dataset, capsys):
    assert main(["audit", demo_dataset, *FAST]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Audit of the multiscale pipeline at 128 px") and "6 rows x 1 draws = 6 samples" in out
    assert "anchor cover" in out and "anchor 16" in out and "COCO medium from here" in out
    assert main(["audit", demo_dataset, *FAST]) == 0
    assert "(cached)" in capsys.readouterr().out


def test_audit_json_and_compare_with_a_preset(demo_dataset, capsys):
    assert main(["audit", demo_dataset, *FAST, "--compare", "seed", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["compare"]["name"] == "seed preset" and doc["compare"]["settings"]["preset"] == "seed"
    current = doc["current"]
    assert current["settings"]["preset"] == "multiscale" and isinstance(current["warnings"], list)
    names = [c["class"] for c in current["classes"]]
    assert names == current["class_names"]
    assert sum(c["before"] for c in current["classes"]) == sum(current["tally"]["arrays"]["before"])


def test_audit_compare_with_a_config_file_marks_differences(demo_dataset, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text('[augment]\npreset = "none"\n')
    assert main(["audit", demo_dataset, *FAST, "--compare", str(other)]) == 0
    out = capsys.readouterr().out
    assert "Compared with other.toml:" in out and "differs by 5 points or more" in out


@pytest.mark.parametrize("extra,message", [
    (["--rows", "0"], "--rows must be at least 1"),
    (["--draws", "0"], "--draws must be at least 1"),
    (["--workers", "-1"], "--workers must be 0 or more"),
    (["--compare", "nope"], "is neither a config file nor an augmentation preset"),
    (["--compare", "missing.toml"], "does not exist"),
    (["--config", "missing.toml"], "does not exist"),
])
def test_audit_user_errors_are_one_sentence(demo_dataset, capsys, extra, message):
    assert main(["audit", demo_dataset, *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_audit_of_a_missing_dataset_is_one_sentence(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "nothing-here"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_the_parser_and_the_audit_view_module_import_no_torch():
    import subprocess
    import sys

    code = ("import sys, segstudio.cli as c; c.build_parser(); import segstudio.commands.audit; "
            "import segstudio.gui.audit_view; "
            "print(sorted({'torch', 'torchvision', 'albumentations'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_audit_compare_with_a_config_uses_the_same_rows_and_draws(demo_dataset, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text('[augment]\npreset = "seed"\nmin_visibility = 0.9\n'
                     '[train]\nseed = 7\n[data]\nval_fraction = 0.5\n')
    assert main(["audit", demo_dataset, "--rows", "5", "--draws", "2", "--workers", "0", "--compare", str(other),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["compare"]["rows"] == doc["current"]["rows"] and len(doc["current"]["rows"]) == 5
    assert doc["compare"]["settings"]["min_visibility"] == 0.9 and doc["compare"]["settings"]["seed"] == 0
