"""Matching, PR curves, thresholds, confusion matrix and TIDE error types on hand-built cases whose
answers are worked out in the comments, and AP cross-checked against faster-coco-eval."""
from __future__ import annotations

import numpy as np
import pytest
from eval_cases import image, random_images, rect

from segstudio.engine.confusion import confusion_matrix
from segstudio.engine.matching import match
from segstudio.engine.pr_curves import ALL, IOU_SETTINGS, best_thresholds, build_curves, mean_ap
from segstudio.engine.tide import breakdown

A, B = 1, 2
NAMES = ["a", "b"]


def _faster_coco_eval_stats(images, kind):
    from faster_coco_eval import COCO, COCOeval_faster

    anns, dets, k = [], [], 0
    for im in images:
        for box, lab, crowd, rle in zip(im.gt_boxes, im.gt_labels, im.gt_crowd, im.gt_masks):
            k += 1
            x1, y1, x2, y2 = box.tolist()
            anns.append({"id": k, "image_id": im.image_id, "category_id": int(lab), "iscrowd": int(crowd),
                         "area": float((x2 - x1) * (y2 - y1)), "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "segmentation": rle})
        for box, lab, score, rle in zip(im.pred_boxes, im.pred_labels, im.pred_scores, im.pred_masks):
            x1, y1, x2, y2 = box.tolist()
            dets.append({"image_id": im.image_id, "category_id": int(lab), "score": float(score),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "segmentation": rle})
    gt = COCO()
    gt.dataset = {"images": [{"id": im.image_id, "height": im.height, "width": im.width} for im in images],
                  "annotations": anns, "categories": [{"id": i + 1, "name": n} for i, n in enumerate("abc")]}
    gt.createIndex()
    ev = COCOeval_faster(gt, gt.loadRes(dets), kind, print_function=lambda *a: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats


@pytest.mark.parametrize("kind", ["bbox", "segm"])
def test_ap_equals_faster_coco_eval(kind):
    images = random_images(60, classes=3, seed=7)
    stats = _faster_coco_eval_stats(images, kind)
    for setting, expected in (("0.5:0.95", stats[0]), ("0.5", stats[1]), ("0.75", stats[2])):
        assert mean_ap(build_curves(images, kind, setting, 3)) == pytest.approx(expected, abs=1e-6)


def _two_found_one_duplicate():
    # two class-a instances; predictions: finds the first (0.9), the first again (0.8), the second (0.7)
    g1, g2 = rect(0, 0, 10, 10), rect(20, 20, 30, 30)
    return [image([(g1, A), (g2, A)], [(g1, A, 0.9), (rect(0, 0, 10, 9), A, 0.8), (g2, A, 0.7)])]


def test_match_records_each_prediction_and_instance():
    m = match(_two_found_one_duplicate(), "segm", 0.5)
    assert m.pred_gt.tolist() == [0, -1, 1] and m.gt_pred.tolist() == [0, 2]
    assert m.true_positive.tolist() == [True, False, True] and not m.missed.any()
    assert m.pred_iou[0] == 1.0 and m.pred_iou[1] == 0.0


def test_prediction_on_a_crowd_region_is_neither_true_nor_false():
    crowd = rect(0, 0, 20, 20)
    m = match([image([(crowd, A, 1)], [(rect(0, 0, 8, 8), A, 0.9)])], "segm", 0.5)
    assert m.pred_ignored.tolist() == [True] and not m.false_positive.any() and not m.missed.any()


def test_pr_curve_counts_and_f1_best_threshold():
    curve = build_curves(_two_found_one_duplicate(), "segm", "0.5", 2)[A]
    c = curve.counts(0.75)                     # the 0.9 and 0.8 predictions: one right, one wrong
    assert (c.tp, c.fp, c.fn) == (1, 1, 1) and c.precision == 0.5 and c.recall == 0.5
    # F1 at 0.9: 2*1/(2+0+1) = 2/3; at 0.8: 2/(2+1+1) = 1/2; at 0.7: 4/(4+1+0) = 4/5
    assert curve.best_f1() == pytest.approx((0.7, 0.8))
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: made monotone, 51 recall points at 1 and 50 at 2/3
    assert curve.ap() == pytest.approx((51 + 50 * 2 / 3) / 101)
    precision, recall = curve.precision_recall()
    assert precision.tolist() == pytest.approx([1, 0.5, 2 / 3]) and recall.tolist() == [0.5, 0.5, 1.0]


def test_counts_at_iou_range_are_the_mean_over_thresholds():
    g = rect(0, 0, 10, 10)
    # IoU 80/100 = 0.8: a true positive at 0.5 ... 0.8 (7 thresholds), false at 0.85, 0.9, 0.95
    curve = build_curves([image([(g, A)], [(rect(0, 0, 10, 8), A, 0.9)])], "segm", "0.5:0.95", 1)[A]
    assert len(IOU_SETTINGS["0.5:0.95"]) == 10
    c = curve.counts(0.5)
    assert c.tp == pytest.approx(0.7) and c.fp == pytest.approx(0.3) and c.fn == pytest.approx(0.3)


def test_best_thresholds_per_class_and_pooled():
    images = _two_found_one_duplicate()
    images.append(image([(rect(0, 0, 10, 10), B)], [(rect(0, 0, 10, 10), B, 0.6), (rect(30, 30, 38, 38), B, 0.95)],
                        image_id=1))
    t = best_thresholds(build_curves(images, "segm", "0.5", 2), NAMES)
    # class b: at 0.95 F1 = 0, at 0.6 F1 = 2/(2+1+0) = 2/3; pooled (a and b): 0.95 F, 0.9 T, 0.8 F, 0.7 T,
    # 0.6 T -> F1 at 0.6 = 6/(6+2+0) = 3/4, the best
    assert t == {"per_class": {"a": 0.7, "b": 0.6}, "global": 0.6}


def test_confusion_matrix_with_background():
    x, y, z, w = rect(0, 0, 10, 10), rect(20, 0, 30, 10), rect(0, 20, 10, 30), rect(25, 25, 35, 35)
    # a at x predicted as b; b at y found; a at z missed; a predicted on background at w; a low-score
    # prediction under the threshold counts nowhere
    im = image([(x, A), (y, B), (z, A)], [(x, B, 0.9), (y, B, 0.8), (w, A, 0.7), (z, A, 0.1)])
    cm = confusion_matrix([im], NAMES, "segm", 0.5, 0.5)
    # rows: ground truth (background, a, b); columns: prediction (background, a, b)
    assert cm.counts.tolist() == [[0, 1, 0],
                                  [1, 0, 1],
                                  [0, 0, 1]]
    assert cm.cells[(1, 2)] == [(0, 0, 0)] and cm.cells[(1, 0)] == [(0, 2, -1)] and cm.cells[(0, 1)] == [(0, -1, 2)]
    assert cm.normalised()[1].tolist() == [0.5, 0.0, 0.5]
    # with class a's threshold at 0.05, the 0.1 prediction finds z: a row becomes (0, 1, 1)
    assert confusion_matrix([im], NAMES, "segm", 0.5, {A: 0.05, B: 0.5}).counts[1].tolist() == [0, 1, 1]


def _only(result, kind_of_error, points):
    assert result["delta"][kind_of_error] == pytest.approx(points, abs=1e-3)
    assert all(v == pytest.approx(0, abs=1e-9) for k, v in result["delta"].items() if k != kind_of_error)


def test_tide_wrong_class_only():
    g = rect(0, 0, 10, 10)
    result = breakdown([image([(g, A)], [(g, B, 0.9)])], NAMES, "segm")
    # a's AP 0 -> 100 once the prediction takes class a; b has no ground truth (not in the mean)
    assert result["counts"]["cls"] == 1 and result["counts"]["missed"] == 0
    _only(result, "cls", 100.0)


def test_tide_shifted_mask_only():
    # shifted by 5 px: IoU 50/150 = 1/3, in [0.1, 0.5): a localisation error
    result = breakdown([image([(rect(0, 0, 10, 10), A)], [(rect(5, 0, 15, 10), A, 0.9)])], NAMES, "segm")
    assert result["counts"]["loc"] == 1
    _only(result, "loc", 100.0)


def test_tide_duplicate_only():
    result = breakdown(_two_found_one_duplicate(), NAMES, "segm")
    assert result["counts"]["dupe"] == 1
    _only(result, "dupe", 100 * (1 - (51 + 50 * 2 / 3) / 101))


def test_tide_background_and_missed():
    g1, g2 = rect(0, 0, 10, 10), rect(20, 20, 30, 30)
    # found g1 at 0.5 after a 0.9 prediction on background; g2 missed: precision 1/2 up to recall 1/2
    result = breakdown([image([(g1, A), (g2, A)], [(rect(30, 0, 38, 8), A, 0.9), (g1, A, 0.5)])], NAMES, "bbox")
    assert result["counts"]["bkg"] == 1 and result["counts"]["missed"] == 1
    base = 51 * 0.5 / 101
    assert result["base_ap50"] == pytest.approx(100 * base, abs=1e-3)            # rounded to 3 decimals
    assert result["delta"]["bkg"] == pytest.approx(100 * (51 / 101 - base), abs=1e-3)   # P 1 up to R 1/2
    assert result["delta"]["missed"] == pytest.approx(100 * (0.5 - base), abs=1e-3)      # one instance: R 1 at P 1/2
    assert result["per_class"]["a"]["missed"] == pytest.approx(result["delta"]["missed"])


def test_tide_both_wrong_class_and_place():
    result = breakdown([image([(rect(0, 0, 10, 10), A)], [(rect(5, 0, 15, 10), B, 0.9)])], NAMES, "segm")
    assert result["counts"]["both"] == 1 and result["counts"]["missed"] == 1
    # removing the prediction leaves a's AP at 0 (nothing found); taking a's instance out leaves nothing
    assert result["delta"]["both"] == 0.0 and result["delta"]["missed"] == 100.0


def test_tide_base_ap_equals_faster_coco_eval():
    images = random_images(40, classes=3, seed=3)
    for kind in ("bbox", "segm"):
        assert breakdown(images, ["a", "b", "c"], kind)["base_ap50"] == pytest.approx(
            100 * _faster_coco_eval_stats(images, kind)[1], abs=1e-3)


def test_pooled_curve_covers_every_class():
    images = random_images(10, classes=2, seed=1)
    curves = build_curves(images, "bbox", "0.5", 2)
    assert curves[ALL].n_gt == curves[1].n_gt + curves[2].n_gt
    assert len(curves[ALL].scores) == len(curves[1].scores) + len(curves[2].scores)
    assert np.all(np.diff(curves[ALL].scores) <= 0)
