"""RoIAlign as two matrix products, for training on the CPU.

torchvision's RoIAlign (aligned=False, as Mask R-CNN uses it) samples each output bin at a grid of points
and interpolates each point bilinearly. Bilinear interpolation is separable, and so is the mean over a
bin's grid, so one region of interest pools a feature map F (C x H x W) as Ay @ F @ Ax^T, where Ay
(out_h x H) and Ax (out_w x W) hold the interpolation weights along each axis, already averaged over the
bin's samples. The products run on every core and their backward is two more products; torchvision's CPU
kernel is a loop on one thread whose backward scatters every sample, a fifth of a 128 px training step.
Values agree with torchvision's to float rounding (tests/test_roi_pool.py); gradients reach the feature
maps only, as torchvision's do.

`MatmulRoIAlign` is torchvision's MultiScaleRoIAlign with this pooling for CPU training steps; without
gradients (evaluation, prediction: torchvision's forward alone is the faster one), on other devices, and
while a model is traced or scripted for export, it is torchvision's own.
"""
from __future__ import annotations

import torch
import torchvision
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.poolers import _convert_to_roi_format, _filter_input, _multiscale_roi_align, _setup_scales


def _axis_weights(start: Tensor, length: Tensor, bins: int, size: int, ratio: int) -> Tensor:
    """(K, bins, size): for each region and output bin along one axis, the weight of each feature row
    (or column), averaged over the bin's samples exactly as torchvision's kernel places and clamps them."""
    length = length.clamp(min=1.0)
    step = length / bins
    grid = torch.full_like(length, float(ratio)) if ratio > 0 else torch.ceil(length / bins)
    samples = int(grid.max().item()) if grid.numel() else 1
    pos = torch.arange(samples, dtype=start.dtype, device=start.device)
    bin_at = torch.arange(bins, dtype=start.dtype, device=start.device)
    k = start.shape[0]
    # coordinate of sample s of bin b: start + b * step + (s + 0.5) * step / grid
    at = (start[:, None, None] + bin_at[None, :, None] * step[:, None, None]
          + (pos[None, None, :] + 0.5) * (step / grid)[:, None, None])
    used = (pos[None, None, :] < grid[:, None, None]) & (at >= -1.0) & (at <= size)
    at = at.clamp(min=0.0)
    low = at.floor().long()
    edge = low >= size - 1
    low = torch.where(edge, torch.full_like(low, size - 1), low)
    at = torch.where(edge, low.to(at.dtype), at)
    high = torch.where(edge, low, low + 1)
    frac = at - low.to(at.dtype)
    scale = used.to(at.dtype) / grid[:, None, None]
    weights = torch.zeros(k, bins, size, dtype=start.dtype, device=start.device)
    weights.scatter_add_(2, low.reshape(k, bins, -1), ((1.0 - frac) * scale).reshape(k, bins, -1))
    weights.scatter_add_(2, high.reshape(k, bins, -1), (frac * scale).reshape(k, bins, -1))
    return weights


def roi_align_matmul(features: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                     sampling_ratio: int) -> Tensor:
    """torchvision.ops.roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned=False)
    for `rois` as (K, 5) rows of (image index, x1, y1, x2, y2)."""
    n, c, h, w = features.shape
    out_h, out_w = output_size
    out = features.new_zeros((rois.shape[0], c, out_h, out_w))
    if rois.shape[0] == 0:
        return out
    boxes = rois[:, 1:].detach().to(torch.float32) * spatial_scale
    ay = _axis_weights(boxes[:, 1], boxes[:, 3] - boxes[:, 1], out_h, h, sampling_ratio).to(features.dtype)
    ax = _axis_weights(boxes[:, 0], boxes[:, 2] - boxes[:, 0], out_w, w, sampling_ratio).to(features.dtype)
    image_of = rois[:, 0].long()
    for image in range(n):
        idx = torch.nonzero(image_of == image).flatten()
        if idx.numel() == 0:
            continue
        rows = features[image].transpose(0, 1).reshape(h, c * w)            # H x (C W)
        pooled = (ay[idx].reshape(-1, h) @ rows).view(-1, out_h, c, w)     # K x out_h x C x W
        out[idx] = pooled.transpose(1, 2) @ ax[idx].transpose(1, 2)[:, None]  # K x C x out_h x out_w
    return out


class MatmulRoIAlign(MultiScaleRoIAlign):
    """MultiScaleRoIAlign whose pooling on the CPU, when gradients are recorded, is roi_align_matmul."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        x_filtered = _filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(x_filtered, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        if (torch.jit.is_scripting() or torchvision._is_tracing()
                or x_filtered[0].device.type != "cpu" or not torch.is_grad_enabled()):
            return _multiscale_roi_align(x_filtered, boxes, self.output_size, self.sampling_ratio, self.scales,
                                         self.map_levels)
        return self._pool(x_filtered, boxes)

    @torch.jit.unused
    def _pool(self, x_filtered: list[Tensor], boxes: list[Tensor]) -> Tensor:
        rois = _convert_to_roi_format(boxes)
        if len(x_filtered) == 1:
            return roi_align_matmul(x_filtered[0], rois, self.output_size, self.scales[0], self.sampling_ratio)
        levels = self.map_levels(boxes)
        first = x_filtered[0]
        result = first.new_zeros((rois.shape[0], first.shape[1]) + tuple(self.output_size))
        for level, (features, scale) in enumerate(zip(x_filtered, self.scales)):
            idx = torch.nonzero(levels == level).flatten()
            if idx.numel():
                pooled = roi_align_matmul(features, rois[idx], self.output_size, scale, self.sampling_ratio)
                result[idx] = pooled.to(result.dtype)
        return result
