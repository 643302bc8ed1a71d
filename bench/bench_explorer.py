"""Threshold explorer at scale: one drag step (per-class counts and the table's texts) on a synthetic
5,000-image evaluation with 80 classes and 20 detections per image, against the same step on 50 images.

Also times what runs off the GUI thread: loading the stored evaluation's curves (engine.explorer) and one
confusion matrix. The issue's target: a drag step under 50 ms for a 5,000-image validation set.

    QT_QPA_PLATFORM=offscreen python bench/bench_explorer.py            # ~2 minutes on 2 cores
    QT_QPA_PLATFORM=offscreen python bench/bench_explorer.py --images 1000 --steps 200
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--classes", type=int, default=80)
    p.add_argument("--detections", type=int, default=20, help="predictions per image")
    p.add_argument("--steps", type=int, default=100, help="drag steps timed")
    return p.parse_args()


def synthetic(n_images: int, classes: int, detections: int, seed: int = 0) -> list:
    """Images of 64 x 64 with up to 8 rectangles each and noisy, partly wrong predictions of them."""
    from segstudio.engine.eval_store import EvalImage, encode_masks

    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        n_gt = int(rng.integers(1, 9))
        xy = rng.integers(0, 48, (n_gt, 2))
        wh = rng.integers(6, 16, (n_gt, 2))
        gt_boxes = np.c_[xy, np.minimum(xy + wh, 64)].astype(float)
        gt_labels = rng.integers(1, classes + 1, n_gt)
        src = rng.integers(0, n_gt, detections)
        pred_boxes = np.clip(gt_boxes[src] + rng.integers(-3, 4, (detections, 4)), 0, 64)
        pred_boxes[:, 2:] = np.maximum(pred_boxes[:, 2:], pred_boxes[:, :2] + 1)
        pred_labels = np.where(rng.random(detections) < 0.8, gt_labels[src], rng.integers(1, classes + 1, detections))
        images.append(EvalImage(i, i, 64, 64, pred_boxes, rng.random(detections), pred_labels,
                                encode_masks(_masks(pred_boxes)), gt_boxes, gt_labels, np.zeros(n_gt, bool),
                                encode_masks(_masks(gt_boxes))))
    return images


def _masks(boxes: np.ndarray) -> np.ndarray:
    out = np.zeros((len(boxes), 64, 64), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        out[k, y1:y2, x1:x2] = 1
    return out


def measure(n_images: int, args) -> dict:
    from segstudio.engine.analysis import all_curves, analyse
    from segstudio.engine.explorer import Explorer
    from segstudio.gui.threshold_explorer import ThresholdExplorer

    names = [f"class{i}" for i in range(args.classes)]
    images = synthetic(n_images, args.classes, args.detections)
    started = time.perf_counter()
    analysis = analyse(images, names)
    analyse_s = time.perf_counter() - started
    explorer = Explorer(None, images, names, analysis)
    for image in images:   # as loaded from predictions.json: no IoUs or matches computed yet
        image.cache.clear()
    started = time.perf_counter()
    for kind in ("segm", "bbox"):
        for setting, curves in all_curves(images, kind, len(names)).items():
            explorer.curves[(kind, setting)] = curves
    curves_s = time.perf_counter() - started
    started = time.perf_counter()
    explorer.confusion("segm", 0.5)
    confusion_s = time.perf_counter() - started
    widget = ThresholdExplorer()
    widget.resize(620, 700)
    widget.show()
    widget.set_explorer(explorer)
    steps = []
    for k in range(args.steps):
        started = time.perf_counter()
        widget.thresholdLine.setValue(0.05 + 0.9 * k / args.steps)   # as a drag does: counts + table
        steps.append(time.perf_counter() - started)
    widget.close()
    return {"analyse_s": analyse_s, "curves_s": curves_s, "confusion_s": confusion_s,
            "step_ms_median": 1000 * statistics.median(steps), "step_ms_max": 1000 * max(steps)}


def main() -> int:
    args = parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)   # noqa: F841 (kept alive for the widgets)
    small, big = measure(50, args), measure(args.images, args)
    for label, r in ((f"{args.images} images", big), ("50 images", small)):
        print(f"{label}: drag step median {r['step_ms_median']:.2f} ms, max {r['step_ms_max']:.2f} ms; "
              f"off the GUI thread: analysis (eval) {r['analyse_s']:.1f} s, explorer curves {r['curves_s']:.1f} s, "
              f"confusion matrix {r['confusion_s']:.2f} s")
    print(f"drag step ratio {big['step_ms_median'] / small['step_ms_median']:.2f}x (target: < 50 ms at "
          f"{args.images} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
