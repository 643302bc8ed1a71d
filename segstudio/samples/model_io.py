"""What goes into the model and what comes out, in the terms the rest of segstudio uses.

In: an HxWx3 uint8 RGB image becomes a float32 3xHxW tensor in [0, 1] (the model normalises itself).
Out: torchvision's output dict (boxes, labels counted from 1, scores, masks Nx1xHxW probabilities) as
numpy arrays, and drawn over its image at a score threshold.
"""
from __future__ import annotations

import numpy as np
import torch

from segstudio.samples.render import render


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> float32 3xHxW in [0, 1]; computed in numpy (no torch thread pool woken per sample),
    into a new array, so a read-only image is fine."""
    out = np.empty((3, *image.shape[:2]), np.float32)
    np.divide(np.asarray(image).transpose(2, 0, 1), np.float32(255.0), out=out, dtype=np.float32)
    return torch.from_numpy(out)


def output_numpy(output: dict) -> dict:
    """One image's model output with every tensor moved to the CPU as a numpy array."""
    return {k: v.detach().cpu().numpy() for k, v in output.items()}


def draw_prediction(image: np.ndarray, output: dict, class_names, score_threshold: float,
                    **options) -> np.ndarray:
    """The detections scoring at least `score_threshold` drawn over `image` (output as numpy arrays):
    masks cut at probability 0.5, labels back to 0-based class indices, scores beside the names
    (options: render()'s, e.g. opacity and hidden classes)."""
    keep = output["scores"] >= score_threshold
    return render(image, output["masks"][keep][:, 0] > 0.5, output["boxes"][keep], output["labels"][keep] - 1,
                  class_names, output["scores"][keep], **options)
