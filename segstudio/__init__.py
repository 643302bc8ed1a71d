"""segstudio: train Mask R-CNN instance segmentation on Deep Lake datasets, from a window or a terminal."""
import os as _os

# Albumentations asks PyPI for a newer version on import unless told not to; set it before any import
# (spawned DataLoader workers import this package first, so they inherit it too).
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
