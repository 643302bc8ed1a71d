"""Window settings kept between launches (QSettings): geometry, recent datasets, last form values.

Secrets never go here: credentials for s3:// live in memory only, and the config saved as "last values"
has no secret fields (credentials reach the engine through the process environment).
"""
from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = "segstudio"
APPLICATION = "segstudio"
MAX_RECENT = 10


def open_settings() -> QSettings:
    """The user's segstudio settings (INI file; tests redirect it with QSettings.setPath)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def recent_datasets() -> list[str]:
    value = open_settings().value("datasets/recent", [])
    if isinstance(value, str):  # QSettings returns a bare string for a one-element list
        value = [value]
    return [str(v) for v in (value or []) if str(v)]


def add_recent_dataset(url: str) -> list[str]:
    items = [url] + [u for u in recent_datasets() if u != url]
    items = items[:MAX_RECENT]
    open_settings().setValue("datasets/recent", items)
    return items


def startup_dataset() -> str | None:
    """The dataset the window opens on at launch: the last one used, when it is a local folder that is still
    there (a remote one needs credentials, which are never stored); None: the demo dataset."""
    from pathlib import Path

    for url in recent_datasets()[:1]:
        if "://" not in url and Path(url).expanduser().is_dir():
            return url
    return None


def absolute_runs_dir(path: str) -> str:
    """The window's runs folder as an absolute path: a relative one (the config default "runs") lives in the
    user data folder beside the demo dataset, not wherever the app happened to be launched."""
    from pathlib import Path

    from segstudio.data.demo import default_demo_path

    folder = Path(path or "runs").expanduser()
    return str(folder if folder.is_absolute() else Path(default_demo_path()).parent / folder)


def load_value(key: str, default=None):
    return open_settings().value(key, default)


def save_value(key: str, value) -> None:
    open_settings().setValue(key, value)
