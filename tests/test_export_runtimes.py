"""The export tests (ONNX, OpenVINO and TorchScript parity, the export-time NMS) in a child pytest: see
tests/export_child.py for why they do not run in the suite's own process."""
import os
import subprocess
import sys
from pathlib import Path

from export_child import IN_CHILD_ENV, IN_CHILD_FILES

HERE = Path(__file__).resolve().parent


def test_the_export_tests_pass_in_their_own_process():
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *(str(HERE / name) for name in IN_CHILD_FILES)],
                         env={**os.environ, IN_CHILD_ENV: "1"}, cwd=HERE, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0 and " passed" in out.stdout and "failed" not in out.stdout, \
        out.stdout[-4000:] + out.stderr[-2000:]
