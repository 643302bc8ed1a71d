"""Graph patterns the exported files avoid, swapped in only while torch.onnx traces the model.

torchvision's batched NMS starts with `if boxes.numel() == 0: return torch.empty(0)`, which traces to an
ONNX If whose then-branch is an empty Constant. OpenVINO 2026.4's CPU plugin returns one uninitialised
element from such an If instead of none (a five-node ONNX file shows it; onnxruntime returns none), so an
image without detections came back with one garbage detection. The traced graph here has no branch: the
class offset comes from the largest coordinate or 0, and NMS over no boxes keeps none in every runtime.
Eager and scripted models keep torchvision's function.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torchvision
from torch import Tensor
from torchvision.ops import boxes as box_ops

_TORCHVISION_BATCHED_NMS = box_ops.batched_nms


def batched_nms_without_branch(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """torchvision's batched NMS (the coordinate trick, same offsets) without the empty-input branch."""
    if not torchvision._is_tracing():
        return _TORCHVISION_BATCHED_NMS(boxes, scores, idxs, iou_threshold)
    max_coordinate = torch.cat([boxes.flatten(), boxes.new_zeros(1)]).max()
    offsets = idxs.to(boxes) * (max_coordinate + 1)
    return box_ops.nms(boxes + offsets[:, None], scores, iou_threshold)


@contextmanager
def branchless_nms():
    """While inside, the detection models' NMS (RPN and box heads) traces without the If."""
    box_ops.batched_nms = batched_nms_without_branch
    try:
        yield
    finally:
        box_ops.batched_nms = _TORCHVISION_BATCHED_NMS
