"""Validation AP from engine.evaluate equals pycocotools' COCOeval run by hand on the same predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from segstudio.engine.evaluate import evaluate_model

H = W = 40


def _mask(x1, y1, x2, y2):
    m = torch.zeros(H, W, dtype=torch.uint8)
    m[y1:y2, x1:x2] = 1
    return m


def _box(m):
    ys, xs = torch.nonzero(m, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# image 0: a class-1 square, a class-2 bar, a class-1 crowd region; image 1: one class-1 square
GT = [
    [(_mask(2, 2, 14, 14), 1, 0), (_mask(20, 5, 26, 35), 2, 0), (_mask(28, 28, 40, 40), 1, 1)],
    [(_mask(10, 10, 30, 30), 1, 0)],
]
# predictions: (mask, label, score); a near-hit, a shifted hit, a false positive, one on the crowd region
PRED = [
    [(_mask(3, 2, 14, 15), 1, 0.9), (_mask(21, 8, 27, 35), 2, 0.8), (_mask(0, 30, 10, 40), 2, 0.6),
     (_mask(29, 29, 39, 39), 1, 0.7)],
    [(_mask(12, 10, 30, 28), 1, 0.95), (_mask(0, 0, 8, 8), 1, 0.3)],
]


class FixedModel(torch.nn.Module):
    """Returns the PRED detections for image i (identified by its constant fill value)."""

    def forward(self, images):
        outs = []
        for img in images:
            preds = PRED[int(img[0, 0, 0].item())]
            masks = torch.stack([m for m, _, _ in preds]).float()[:, None]
            outs.append({"boxes": torch.tensor([_box(m) for m, _, _ in preds]),
                         "labels": torch.tensor([lab for _, lab, _ in preds]),
                         "scores": torch.tensor([s for _, _, s in preds]), "masks": masks})
        return outs


def _batches():
    images = [torch.full((3, H, W), float(i)) for i in range(len(GT))]
    targets = [{"boxes": torch.tensor([_box(m) for m, _, _ in gt]), "labels": torch.tensor([lab for _, lab, _ in gt]),
                "masks": torch.stack([m for m, _, _ in gt]), "iscrowd": torch.tensor([c for _, _, c in gt])}
               for gt in GT]
    yield images, targets, [0, 1]


def _rle(m):
    rle = mask_utils.encode(np.asfortranarray(m.numpy()))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _by_hand(iou_type):
    anns, results, k = [], [], 0
    for i, gt in enumerate(GT):
        for m, lab, crowd in gt:
            k += 1
            x1, y1, x2, y2 = _box(m)
            anns.append({"id": k, "image_id": i, "category_id": lab, "iscrowd": crowd, "area": float(m.sum()),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "segmentation": _rle(m)})
        for m, lab, score in PRED[i]:
            x1, y1, x2, y2 = _box(m)
            results.append({"image_id": i, "category_id": lab, "score": score,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "segmentation": _rle(m)})
    coco = COCO()
    coco.dataset = {"images": [{"id": i, "height": H, "width": W} for i in range(len(GT))],
                    "annotations": anns, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    coco.createIndex()
    ev = COCOeval(coco, coco.loadRes(results), iou_type)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats


@pytest.mark.parametrize("backend", ["pycocotools", "faster_coco_eval"])
def test_ap_matches_pycocotools_by_hand(backend):
    metrics, per_class, _ = evaluate_model(FixedModel(), _batches(), torch.device("cpu"), ["a", "b"],
                                           backend=backend, score_threshold=0.0)
    for iou_type, prefix in (("segm", "segm"), ("bbox", "bbox")):
        stats = _by_hand(iou_type)
        assert metrics[f"{prefix}_map"] == pytest.approx(stats[0], abs=1e-4)
        assert metrics[f"{prefix}_map_50"] == pytest.approx(stats[1], abs=1e-4)
        assert metrics[f"{prefix}_map_75"] == pytest.approx(stats[2], abs=1e-4)
    assert set(per_class) == {"a", "b"} and {"bbox_ap", "segm_ap"} <= set(per_class["a"])


def _random_boxes(rng, n, decimals):
    corner = np.round(rng.uniform(0, 30, (n, 2)), decimals)
    return np.hstack([corner, corner + np.round(rng.uniform(1, 12, (n, 2)))])


def _xywh(b):
    return np.hstack([b[:, :2], b[:, 2:] - b[:, :2]])


def test_box_ious_of_many_images_at_once_equal_pycocotools(monkeypatch):
    """The matching's box IoUs come from numpy passes over many images at once (engine.matching.
    box_iou_matrices); they are pycocotools' own (bit for bit here; 1e-12 allows another CPU's rounding),
    crowd regions (intersection over the prediction's area), touching and disjoint boxes and images without
    predictions or ground truth included, and the same whether the pairs go in one pass or in several."""
    from segstudio.engine import matching
    from segstudio.engine.eval_store import EvalImage

    rng = np.random.default_rng(0)
    images = []
    for k in range(60):
        p, g = int(rng.integers(0, 5)), int(rng.integers(0, 5))    # whole pixels in every other image: touching
        pred, gt = _random_boxes(rng, p, 3 * (k % 2)), _random_boxes(rng, g, 3 * (k % 2))
        images.append(EvalImage(k, k, H, W, pred, rng.random(p), np.ones(p, int), [], gt, np.ones(g, int),
                                rng.random(g) < 0.3, []))
    matching.box_iou_matrices(images)
    for im in images:
        p, g = len(im.pred_boxes), len(im.gt_boxes)
        crowd = im.gt_crowd.astype(np.uint8).tolist()
        ref = np.asarray(mask_utils.iou(_xywh(im.pred_boxes), _xywh(im.gt_boxes), crowd)) if p and g else np.zeros(0)
        assert im.cache["bbox"].shape == (p, g)
        np.testing.assert_allclose(im.cache["bbox"], ref.reshape(p, g), rtol=1e-12, atol=0)
    assert any(im.gt_crowd.any() and (im.cache["bbox"] > 0).any() for im in images)   # crowds were exercised
    one_pass = [im.cache.pop("bbox") for im in images]
    monkeypatch.setattr(matching, "CHUNK_PAIRS", 7)
    matching.box_iou_matrices(images)
    assert all(np.array_equal(im.cache["bbox"], m) for im, m in zip(images, one_pass))


def test_the_metric_gets_the_confident_detections_with_their_masks_cut_at_one_half():
    from segstudio.engine.evaluate import prediction_for_metric

    soft = torch.tensor([[[0.2, 0.6], [0.5, 0.9]]]).repeat(3, 1, 1, 1)
    soft = soft * torch.tensor([1.0, 0.5, 1.0])[:, None, None, None]    # the second: nothing above 0.5
    output = {"boxes": torch.rand(3, 4), "scores": torch.tensor([0.9, 0.3, 0.04]), "labels": torch.tensor([1, 2, 3]),
              "masks": soft}
    kept = prediction_for_metric(output, score_threshold=0.05)
    assert kept["labels"].tolist() == [1, 2] and kept["masks"].dtype == torch.bool
    assert kept["masks"].tolist() == [[[False, True], [False, True]], [[False, False], [False, False]]]
    every = prediction_for_metric(output, score_threshold=0.0)
    assert every["masks"].shape == (3, 2, 2) and torch.equal(every["boxes"], output["boxes"])
