"""render.py speed: a 640x480 image with 30 instances (masks, boxes, names, scores).

    python bench/bench_render.py [--reps 50] [--instances 30] [--width 640] [--height 480]

Target: median under 30 ms. Baseline measured in the same run: the usual per-instance float blend over
the full image (img[mask] = img[mask] * (1 - a) + colour * a for each instance) with the same boxes and
text, so the ratio shows what the vectorised compositing buys. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from segstudio.samples.render import PALETTE, render


def scene(h: int, w: int, n: int, seed: int = 0):
    """A noisy picture with n overlapping ellipses of assorted sizes, like a busy COCO image."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((n, h, w), np.uint8)
    boxes = np.zeros((n, 4), np.float32)
    for i in range(n):
        rx, ry = rng.integers(5, w // 5), rng.integers(5, h // 5)
        cx, cy = rng.integers(rx, w - rx), rng.integers(ry, h - ry)
        cv2.ellipse(masks[i], (int(cx), int(cy)), (int(rx), int(ry)), 0, 0, 360, 1, -1)
        boxes[i] = (cx - rx, cy - ry, cx + rx + 1, cy + ry + 1)
    labels = rng.integers(0, 80, n)
    names = [f"class {i}" for i in range(80)]
    return image, masks, boxes, labels, names, rng.random(n)


def naive_render(image, masks, boxes, labels, names, scores, alpha=0.45):
    out = image.astype(np.float32)
    for m, lab in zip(masks, labels):
        colour = PALETTE[lab % len(PALETTE)].astype(np.float32)
        sel = m > 0
        out[sel] = out[sel] * (1 - alpha) + colour * alpha
    out = out.astype(np.uint8)
    for b, lab, s in zip(boxes, labels, scores):
        colour = tuple(int(c) for c in PALETTE[lab % len(PALETTE)])
        x1, y1, x2, y2 = (int(v) for v in b)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 1)
        cv2.putText(out, f"{names[lab]} {s:.2f}", (x1, max(10, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
    return out


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--instances", type=int, default=30)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    image, masks, boxes, labels, names, scores = scene(args.height, args.width, args.instances)
    ours = median_ms(lambda: render(image, masks, boxes, labels, names, scores=scores), args.reps)
    naive = median_ms(lambda: naive_render(image, masks, boxes, labels, names, scores), args.reps)
    print(f"render {args.width}x{args.height}, {args.instances} instances: median {ours:.1f} ms "
          f"(target < 30 ms: {'met' if ours < 30 else 'MISSED'}); per-instance float blend {naive:.1f} ms "
          f"({naive / ours:.1f}x slower)")
    print(json.dumps({"bench": "render", "width": args.width, "height": args.height,
                      "instances": args.instances, "median_ms": round(ours, 2),
                      "baseline_median_ms": round(naive, 2), "speedup": round(naive / ours, 2),
                      "target_ms": 30, "met": ours < 30}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
