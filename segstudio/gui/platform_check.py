"""Before Qt starts: say in one sentence why the window cannot open on this display.

Qt's own output when its xcb platform plugin lacks a system library is only "Could not load the Qt platform
plugin "xcb"", followed by an abort. This module runs `ldd` on the plugin (without importing Qt) and names
the missing libraries and the Debian packages that provide them.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The xcb plugin's system libraries and their Debian/Ubuntu packages (scripts/install.sh installs them).
DEBIAN_PACKAGES = {
    "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1", "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1", "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0",
}


def wants_xcb(env=os.environ) -> bool:
    """Whether Qt will pick its xcb (X11) platform: asked for, or the default on an X display."""
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    wayland = env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland"
    return not wayland


def xcb_plugin() -> Path | None:
    """The PySide6 xcb platform plugin, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def missing_libraries(ldd_output: str) -> list[str]:
    """The library names `ldd` reports as "not found", in order, once each."""
    names = []
    for line in ldd_output.splitlines():
        if "=> not found" in line:
            name = line.split("=>")[0].strip()
            if name not in names:
                names.append(name)
    return names


def missing_for(plugin: Path) -> list[str]:
    """The libraries `plugin` needs that the dynamic loader cannot find ([] when ldd is unavailable)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return missing_libraries(out)


def sentence_for(missing: list[str]) -> str:
    """One sentence: what is missing and which packages provide it."""
    packages = [DEBIAN_PACKAGES[name] for name in missing if name in DEBIAN_PACKAGES]
    unknown = [name for name in missing if name not in DEBIAN_PACKAGES]
    fix = []
    if packages:
        fix.append(f"install {' '.join(packages)} (e.g. sudo apt-get install {' '.join(packages)}, "
                   "or run scripts/install.sh again)")
    if unknown:
        fix.append(f"reinstall PySide6 or install the packages providing {', '.join(unknown)}")
    return (f"segstudio: cannot open the window on this display: Qt's xcb platform plugin needs "
            f"{', '.join(missing)}, which the system does not have; {' and '.join(fix)}.")


def display_problem(env=os.environ) -> str | None:
    """A sentence saying why Qt cannot open a window here, or None when nothing is known to be wrong."""
    if not wants_xcb(env):
        return None
    if not env.get("DISPLAY"):
        return ("segstudio: no display to open the window on (DISPLAY is not set); run it in a desktop "
                "session, or save a picture of the window with --screenshot PNG.")
    plugin = xcb_plugin()
    missing = missing_for(plugin) if plugin is not None else []
    return sentence_for(missing) if missing else None
