"""`bash scripts/run.sh` on a machine without a display says how to use segstudio there and exits."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "segstudio").exists() or not sys.platform.startswith("linux"),
                    reason="needs the installed .venv (scripts/install.sh)")
def test_run_sh_without_a_display_explains_and_exits():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["SEGSTUDIO_NO_INSTALL"] = "1"   # the test must not (re)install the venv it runs in
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0
    assert "no display" in done.stderr and "segstudio train" in done.stderr
