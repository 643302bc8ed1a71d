"""PyInstaller runtime hook: runs in the bundle before any import of the application."""
import os

# Albumentations (and albucore) ask PyPI for a newer release on import; a desktop bundle must not.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
