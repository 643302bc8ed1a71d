#!/usr/bin/env bash
# Installs everything (first run) and opens segstudio on the embedded demo dataset.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -n "${SEGSTUDIO_NO_INSTALL:-}" ] || bash scripts/install.sh   # tests set it: they must not reinstall the venv
# Without a display the window cannot be seen: an offscreen window would wait for clicks forever. Say how
# to use segstudio here instead; a subcommand (train, inspect, ...) runs as usual.
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ] && { [ $# -eq 0 ] || [ "$1" = gui ]; }; then
  cat >&2 <<'MSG'
segstudio is installed, but this machine has no display (DISPLAY and WAYLAND_DISPLAY are unset), so the
window cannot open here. Either run this on a desktop (or over ssh -X), or use the command line, e.g.:
  .venv/bin/segstudio demo-data                 make the demo dataset
  .venv/bin/segstudio train                     train on it (cpu preset)
  .venv/bin/segstudio --help                    every command
  .venv/bin/segstudio gui --screenshot 'shots/{tab}.png'   save pictures of the window's tabs
MSG
  exit 0
fi
exec .venv/bin/segstudio "$@"
