"""The model's input transform with an inference resize that eager PyTorch, TorchScript and ONNX agree on.

torchvision resizes by a scale factor: eager Python computes it in float64, TorchScript in float32
(sizes can come out a pixel apart), and a traced ONNX graph hands the factor itself to ONNX Resize,
which samples pixels with that factor instead of the in/out size ratio PyTorch uses. On any image not
already at model scale the exported model saw different pixels and found different boxes (the export
check's "inf" on weakly trained models, whose many near-tied detections move most). Here the output
size is computed once, in integers, and interpolation is asked for that size in all three.
Training keeps torchvision's resize (random scales, targets).

Its postprocess pastes the masks into the image as torchvision does, with the same output, but into one
tensor: torchvision allocates an image-size tensor per mask, then stacks them (`python bench/bench_eval.py
--paste`: an evaluation of 24 coco128 images with 100 detections each 5% faster).
"""
# No `from __future__ import annotations`: TorchScript reads these annotations as objects.

from typing import Dict, List, Optional, Tuple

import torch
import torchvision
from torch import Tensor
from torch.onnx import operators
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks, paste_masks_in_image
from torchvision.models.detection.transform import GeneralizedRCNNTransform, _resize_image_and_masks, resize_boxes


def inference_size(shape: Tensor, min_size: int, max_size: int) -> Tensor:
    """[h, w] (int64) -> the [h, w] the model runs at: short side min_size unless the long side would pass
    max_size, then long side max_size; the other side rounded down, as torchvision does."""
    short, long = shape.min(), shape.max()
    by_short = long * min_size <= short * max_size
    num = torch.where(by_short, torch.full_like(short, min_size), torch.full_like(short, max_size))
    den = torch.where(by_short, short, long)
    return torch.div(shape * num, den, rounding_mode="floor")


@torch.jit.unused
def _traced_resize(image: Tensor, min_size: int, max_size: int) -> Tensor:
    """The same resize while tracing for ONNX: the sizes stay tensors, so the graph keeps them dynamic."""
    size = inference_size(operators.shape_as_tensor(image)[-2:], min_size, max_size)
    return torch.nn.functional.interpolate(image[None], size=[size[0], size[1]], mode="bilinear",
                                           align_corners=False)[0]


def paste_masks(masks: Tensor, boxes: Tensor, img_shape: Tuple[int, int]) -> Tensor:
    """torchvision's paste_masks_in_image (Nx1xMxM mask logits, Nx4 boxes -> Nx1xHxW), the same values,
    written into one tensor allocated once. While tracing for ONNX, torchvision's own."""
    if torchvision._is_tracing():
        return paste_masks_in_image(masks, boxes, img_shape)
    masks, scale = expand_masks(masks, padding=1)
    boxes = expand_boxes(boxes, scale).to(dtype=torch.int64)
    im_h, im_w = img_shape
    out = masks.new_zeros((masks.shape[0], 1, im_h, im_w))
    for i in range(masks.shape[0]):
        left, top, right, bottom = int(boxes[i, 0]), int(boxes[i, 1]), int(boxes[i, 2]), int(boxes[i, 3])
        size = [max(bottom - top + 1, 1), max(right - left + 1, 1)]
        mask = torch.nn.functional.interpolate(masks[i][None], size=size, mode="bilinear", align_corners=False)[0, 0]
        x0, x1, y0, y1 = max(left, 0), min(right + 1, im_w), max(top, 0), min(bottom + 1, im_h)
        out[i, 0, y0:y1, x0:x1] = mask[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


class ExactResizeTransform(GeneralizedRCNNTransform):
    """GeneralizedRCNNTransform whose inference resize goes to an integer size (see the module doc)."""

    def resize(self, image: Tensor,
               target: Optional[Dict[str, Tensor]] = None) -> Tuple[Tensor, Optional[Dict[str, Tensor]]]:
        if self.training or target is not None or self.fixed_size is not None:
            return self._torchvision_resize(image, target)
        if torchvision._is_tracing():
            return _traced_resize(image, self.min_size[-1], int(self.max_size)), target
        size = inference_size(torch.tensor(image.shape[-2:]), self.min_size[-1], int(self.max_size))
        out_size = [int(size[0]), int(size[1])]
        resized = torch.nn.functional.interpolate(image[None], size=out_size, mode="bilinear",
                                                  align_corners=False)[0]
        return resized, target

    def postprocess(self, result: List[Dict[str, Tensor]], image_shapes: List[Tuple[int, int]],
                    original_image_sizes: List[Tuple[int, int]]) -> List[Dict[str, Tensor]]:
        """Boxes and masks back at each image's original size (torchvision's, masks pasted by paste_masks;
        Mask R-CNN has no keypoints)."""
        if self.training:
            return result
        for i, (pred, im_s, o_im_s) in enumerate(zip(result, image_shapes, original_image_sizes)):
            boxes = resize_boxes(pred["boxes"], im_s, o_im_s)
            result[i]["boxes"] = boxes
            if "masks" in pred:
                result[i]["masks"] = paste_masks(pred["masks"], boxes, o_im_s)
        return result

    def _torchvision_resize(self, image: Tensor,
                            target: Optional[Dict[str, Tensor]]) -> Tuple[Tensor, Optional[Dict[str, Tensor]]]:
        # torchvision's own resize for training and targets (TorchScript cannot call super()).
        h, w = image.shape[-2:]
        if self.training and self._skip_resize:
            return image, target
        size = self.torch_choice(self.min_size) if self.training else self.min_size[-1]
        image, target = _resize_image_and_masks(image, size, self.max_size, target, self.fixed_size)
        if target is not None:
            target["boxes"] = resize_boxes(target["boxes"], (h, w), image.shape[-2:])
        return image, target


def use_exact_resize(model: torch.nn.Module) -> torch.nn.Module:
    """Give a torchvision detection model the ExactResizeTransform (same settings); -> the model."""
    t = model.transform
    exact = ExactResizeTransform(t.min_size, t.max_size, t.image_mean, t.image_std,
                                 size_divisible=t.size_divisible, fixed_size=t.fixed_size,
                                 _skip_resize=t._skip_resize)
    model.transform = exact
    return model
