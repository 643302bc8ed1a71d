"""Per-image quality of a model's predictions, so a browser can show the worst validation images first.

COCO AP summarises a whole split; to find the images that drag it down each image needs one number.
The definition (`score_image`) is a panoptic-quality-like ratio:

    score = (sum of the mask IoUs of matched pairs) / (ground-truth instances + unmatched predictions)

- Predictions below `score_threshold` are ignored (the threshold the user looks at).
- A prediction can only match a ground-truth instance of the same class, one-to-one, greedily by
  highest mask IoU first (as COCO matches greedily); pairs with IoU 0 never match.
- Every ground-truth instance counts once in the denominator, so a missed object costs as much as
  a perfect match gains; every prediction left unmatched is a false positive and also counts once.
- Crowd regions (iscrowd) are not instances to find: they are left out of the denominator, and an
  unmatched prediction lying mostly (>= half its area) inside a crowd region is not counted as false.
- An image with nothing to find and nothing predicted scores 1.0; the score lies in [0, 1].
Mask IoU is computed on the binary masks; box IoU (torchvision.ops.box_iou) is used first to skip
pairs whose boxes do not overlap at all.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou, masks_to_boxes

CROWD_COVER = 0.5   # share of a prediction's area inside a crowd region that excuses it


@dataclass(frozen=True)
class ImageScore:
    score: float            # see the module docstring; 1.0 is perfect
    mean_iou: float         # mean mask IoU of the matched pairs (0.0 when none matched)
    matched: int
    missed: int             # ground-truth instances with no prediction of their class
    false_positives: int    # predictions at or above the threshold that matched nothing

    def describe(self) -> str:
        return (f"score {self.score:.2f}: {self.matched} matched (mean mask IoU {self.mean_iou:.2f}), "
                f"{self.missed} missed, {self.false_positives} false")


def _tensor(values) -> torch.Tensor:
    """`values` as a tensor; read-only arrays (rows straight from the dataset) are copied first, since torch
    warns "The given NumPy array is not writable" on every such call otherwise."""
    array = np.asarray(values)
    return torch.as_tensor(array if array.flags.writeable else array.copy())


def _as_bool_masks(masks) -> torch.Tensor:
    m = _tensor(masks)
    if m.ndim == 4:          # model output: N x 1 x H x W probabilities
        m = m[:, 0]
    return m > 0.5 if m.is_floating_point() else m.bool()


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(IoU [len(a), len(b)], intersection / area of a) of two stacks of boolean masks of one size."""
    fa, fb = a.flatten(1).float(), b.flatten(1).float()
    inter = fa @ fb.T
    area_a, area_b = fa.sum(1, keepdim=True), fb.sum(1, keepdim=True).T
    union = area_a + area_b - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    cover = torch.where(area_a > 0, inter / area_a.clamp(min=1), torch.zeros_like(inter))
    return iou, cover


def _greedy_pairs(iou: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (gt, pred) pairs, highest IoU first, IoU > 0 only."""
    pairs, used_g, used_p = [], set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        g, p = np.unravel_index(flat, iou.shape)
        if iou[g, p] <= 0:
            break
        if g not in used_g and p not in used_p:
            used_g.add(g)
            used_p.add(p)
            pairs.append((int(g), int(p)))
    return pairs


def score_image(pred_masks, pred_labels, pred_scores, gt_masks, gt_labels, gt_iscrowd=None, *,
                score_threshold: float = 0.5) -> ImageScore:
    """Score one image (see the module docstring). Masks: N x H x W (bool/uint8) or N x 1 x H x W
    probabilities; labels of predictions and ground truth in the same numbering."""
    pm, gm = _as_bool_masks(pred_masks), _as_bool_masks(gt_masks)
    keep = _tensor(pred_scores) >= score_threshold
    pm, pl = pm[keep], _tensor(pred_labels).long()[keep]
    gl = _tensor(gt_labels).long()
    crowd = (torch.zeros(len(gl), dtype=torch.bool) if gt_iscrowd is None
             else _tensor(gt_iscrowd).bool())
    gm_real, gl_real, gm_crowd = gm[~crowd], gl[~crowd], gm[crowd]
    n_gt, n_pred = len(gl_real), len(pl)
    iou = np.zeros((n_gt, n_pred))
    if n_gt and n_pred:
        overlap = box_iou(_boxes(gm_real), _boxes(pm)) > 0
        same = (gl_real[:, None] == pl[None, :]) & overlap
        if same.any():
            iou = (mask_iou(gm_real, pm)[0] * same).numpy()
    pairs = _greedy_pairs(iou)
    matched_preds = {p for _, p in pairs}
    unmatched = [p for p in range(n_pred) if p not in matched_preds]
    if unmatched and len(gm_crowd):
        cover = mask_iou(pm[unmatched], gm_crowd)[1].amax(1)
        unmatched = [p for p, c in zip(unmatched, cover.tolist()) if c < CROWD_COVER]
    total_iou = float(sum(iou[g, p] for g, p in pairs))
    denominator = n_gt + len(unmatched)
    return ImageScore(score=1.0 if denominator == 0 else total_iou / denominator,
                      mean_iou=total_iou / len(pairs) if pairs else 0.0, matched=len(pairs),
                      missed=n_gt - len(pairs), false_positives=len(unmatched))


def _boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of masks; an empty mask gets a zero box (IoU 0 with everything)."""
    boxes = torch.zeros((len(masks), 4))
    nonempty = masks.flatten(1).any(1)
    if nonempty.any():
        boxes[nonempty] = masks_to_boxes(masks[nonempty]).float()
        boxes[nonempty, 2:] += 1   # masks_to_boxes gives inclusive pixel coordinates
    return boxes


def worst_first(scores: dict) -> list:
    """Keys of {key: ImageScore} ordered worst score first (ties: more misses and false positives first,
    then key order, so the order is stable)."""
    return sorted(scores, key=lambda k: (scores[k].score, -(scores[k].missed + scores[k].false_positives), k))
