#!/usr/bin/env bash
# Installs segstudio and everything it needs into ./.venv (idempotent: a second run only checks).
# Usage: bash scripts/install.sh [--test]   (run by scripts/run.sh and, with --test, by scripts/test.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-python3}
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"   # the tested pair (see README)

# --- Qt's system libraries: offscreen needs the first line (a missing libEGL fails `import PySide6.QtGui`);
# a desktop display needs the xcb platform plugin's libraries too (`ldd .../plugins/platforms/libqxcb.so`):
# they are small, so they are always installed. `--test` adds Xvfb (the test suite opens the window on it).
QT_LIBS="libEGL.so.1:libegl1 libGL.so.1:libgl1 libOpenGL.so.0:libopengl0 libxkbcommon.so.0:libxkbcommon0
libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0
libX11.so.6:libx11-6 libX11-xcb.so.1:libx11-xcb1 libxcb.so.1:libxcb1 libxcb-cursor.so.0:libxcb-cursor0
libxcb-icccm.so.4:libxcb-icccm4 libxcb-image.so.0:libxcb-image0 libxcb-keysyms.so.1:libxcb-keysyms1
libxcb-randr.so.0:libxcb-randr0 libxcb-render.so.0:libxcb-render0 libxcb-render-util.so.0:libxcb-render-util0
libxcb-shape.so.0:libxcb-shape0 libxcb-shm.so.0:libxcb-shm0 libxcb-sync.so.1:libxcb-sync1
libxcb-util.so.1:libxcb-util1 libxcb-xfixes.so.0:libxcb-xfixes0 libxcb-xkb.so.1:libxcb-xkb1
libxkbcommon-x11.so.0:libxkbcommon-x11-0"
[ "${1:-}" = "--test" ] && QT_LIBS="$QT_LIBS Xvfb:xvfb"
missing=()
for pair in $QT_LIBS; do
  file=${pair%%:*}; pkg=${pair##*:}
  case "$file" in
    *.so*) ldconfig -p 2>/dev/null | grep -F "$file" >/dev/null || missing+=("$pkg") ;;  # not -q: pipefail + SIGPIPE
    *) command -v "$file" >/dev/null 2>&1 || missing+=("$pkg") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "segstudio: installing system packages for Qt: ${missing[*]}"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "segstudio: Qt needs these system packages, which are missing: ${missing[*]}." >&2
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
