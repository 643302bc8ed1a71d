#!/usr/bin/env bash
# Installs everything (first run), lints (ruff) and runs the whole test suite offscreen.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install.sh --test   # --test: also Xvfb, for the test that opens the window on a display
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check segstudio tests bench scripts   # the rule set is in pyproject.toml ([tool.ruff])
exec .venv/bin/python -m pytest "$@"
