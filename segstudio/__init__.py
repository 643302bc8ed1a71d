"""segstudio: train Mask R-CNN instance segmentation on Deep Lake datasets, from a window or a terminal."""
import os as _os

# Albumentations asks PyPI for a newer version on import unless told not to. This is the one place that
# says so: every module, command, spawned DataLoader worker, test and benchmark imports this package
# before Albumentations.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
