"""Read throughput of one training sample (image, masks, boxes, labels), rows/s.

    python bench/bench_read.py [--coco ../shared/data/coco128] [--rows 128] [--repeats 3]

segstudio: `read_sample` on a dataset made by `import_coco` (built first, in a temporary folder).
Baseline: the original COCO folder read with PIL + pycocotools (annToMask), into the same canonical
layout (HxWx3 uint8 image, NxHxW uint8 masks, xyxy float32 boxes, int64 labels). Same images, same
random order, one process, best of the repeats. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def read_pil_pycocotools(coco, images_dir: Path, image_id: int, label_of: dict):
    from PIL import Image

    info = coco.imgs[image_id]
    with Image.open(images_dir / info["file_name"]) as im:
        image = np.asarray(im.convert("RGB"))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
    h, w = image.shape[:2]
    masks = (np.stack([coco.annToMask(a) for a in anns]) if anns else np.zeros((0, h, w), np.uint8))
    boxes = np.asarray([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    labels = np.asarray([label_of[a["category_id"]] for a in anns], np.int64)
    crowd = np.asarray([bool(a.get("iscrowd", 0)) for a in anns], bool)
    return image, masks, boxes, labels, crowd


def timed(fn, items) -> float:
    start = time.perf_counter()
    for it in items:
        fn(it)
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"))
    p.add_argument("--rows", type=int, default=128, help="rows read per repeat (random order)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    coco_dir = Path(args.coco)
    ann = coco_dir / "annotations.json"
    if not ann.exists():
        print(f"no COCO sample at {coco_dir}; pass --coco", file=sys.stderr)
        return 1
    from pycocotools.coco import COCO

    from segstudio.data.coco_import import import_coco
    from segstudio.data.describe import describe
    from segstudio.data.open import open_dataset
    from segstudio.data.sample import read_sample

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(ann))
    label_of = {cid: i for i, cid in enumerate(sorted(coco.cats))}
    with tempfile.TemporaryDirectory(prefix="bench_read_") as tmp:
        import_coco(coco_dir / "images", ann, Path(tmp) / "ds")
        ds = open_dataset(str(Path(tmp) / "ds"))
        info = describe(ds)
        ids = [int(v) for v in ds["coco_image_id"][:]]
        order = np.random.default_rng(0).choice(len(ds), size=args.rows, replace=args.rows > len(ds))
        ours_t, base_t = [], []
        for _ in range(args.repeats):
            ours_t.append(timed(lambda i: read_sample(ds, int(i), info.mapping, info.box_format), order))
            base_t.append(timed(lambda i: read_pil_pycocotools(coco, coco_dir / "images", ids[int(i)], label_of),
                                order))
        # same content: first row both ways
        s = read_sample(ds, int(order[0]), info.mapping, info.box_format)
        ref = read_pil_pycocotools(coco, coco_dir / "images", ids[int(order[0])], label_of)
        same = bool(np.array_equal(s.image, ref[0]) and np.array_equal(s.masks, ref[1])
                    and np.array_equal(s.labels, ref[3]))
        ds = None   # closed before its folder is removed
    ours, base = args.rows / min(ours_t), args.rows / min(base_t)
    result = {"bench": "read", "rows": args.rows, "repeats": args.repeats, "segstudio_rows_per_s": round(ours, 1),
              "pil_pycocotools_rows_per_s": round(base, 1), "ratio": round(ours / base, 2), "same_sample": same}
    print(f"segstudio read_sample (Deep Lake):  {ours:.1f} rows/s (best of {args.repeats})")
    print(f"PIL + pycocotools (COCO folder):    {base:.1f} rows/s")
    print(f"ratio: {result['ratio']}x (target >= 1x); same sample content: {same}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
