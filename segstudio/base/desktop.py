"""Desktop integration files shipped in the package (resources/ installs as segstudio.resources): the
application icon and the freedesktop .desktop entry."""
from __future__ import annotations

from importlib import resources

_PACKAGE = "segstudio.resources"


def icon_path(kind: str = "png") -> str:
    """Filesystem path of the application icon: kind "png" (256 px) or "svg"."""
    return str(resources.files(_PACKAGE) / f"segstudio.{kind}")


def desktop_file_path() -> str:
    """Filesystem path of the freedesktop .desktop entry (Exec=segstudio gui)."""
    return str(resources.files(_PACKAGE) / "segstudio.desktop")
