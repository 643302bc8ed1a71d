#!/usr/bin/env bash
# Installs segstudio and everything it needs into ./.venv (idempotent: a second run only checks).
# Usage: bash scripts/install.sh            (sourced by scripts/run.sh and scripts/test.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-python3}
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"   # the tested pair (see README)

# --- Qt's system libraries (PySide6 offscreen needs these; a missing libEGL fails `import PySide6.QtGui`)
QT_LIBS="libEGL.so.1:libegl1 libGL.so.1:libgl1 libOpenGL.so.0:libopengl0 libxkbcommon.so.0:libxkbcommon0
libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0"
missing=()
for pair in $QT_LIBS; do
  lib=${pair%%:*}; pkg=${pair##*:}
  ldconfig -p 2>/dev/null | grep -q "$lib" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "segstudio: installing Qt system libraries: ${missing[*]}"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "segstudio: Qt needs these system libraries, which are missing: ${missing[*]}." >&2
    echo "Install them with your package manager (names are Debian's), then run this command again." >&2
    exit 1
  fi
fi

# --- virtual environment
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv || { echo "segstudio: could not create .venv; install python3-venv (apt-get install python3-venv) and retry." >&2; exit 1; }
fi
stamp=.venv/.segstudio-installed
want="$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "segstudio: installing Python packages into .venv (first run takes a few minutes)..."
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check $TORCH_PINS -e ".[test,export]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import segstudio, torch, torchvision, deeplake, albumentations, PySide6.QtWidgets, pyqtgraph" \
    || { echo "segstudio: the install did not complete; see the messages above." >&2; exit 1; }
  echo "$want" > "$stamp"
fi
