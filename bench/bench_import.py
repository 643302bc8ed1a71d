"""COCO import throughput: segstudio's importer vs deeplake.from_coco on the same file, same run.

    python bench/bench_import.py [--coco ../shared/data/coco128] [--repeats 3]

Each repeat imports the whole file with both tools into fresh folders (alternating, so machine load hits
both alike); the figure is the ratio of the best times. It then checks that both datasets hold the same
images (decoded pixels) and identical non-crowd masks. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measured(fn) -> tuple:
    """(wall seconds, CPU seconds of all threads) of fn()."""
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu


def run_segstudio(images, ann, dest, chunk_size, workers) -> tuple:
    from segstudio.data.coco_import import import_coco

    return measured(lambda: import_coco(images, ann, dest, chunk_size=chunk_size, workers=workers or None))


def run_from_coco(images, ann, dest) -> tuple:
    import deeplake

    def go():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            deeplake.from_coco(str(images), {"instances": str(ann)}, str(dest),
                               file_to_group_mapping={"instances": ""})
    return measured(go)


def compare(ours_path, theirs_path) -> dict:
    """Same images (pixels) and identical non-crowd masks, matched by COCO image id."""
    import deeplake

    ours, theirs = deeplake.open_read_only(str(ours_path)), deeplake.open_read_only(str(theirs_path))
    their_row = {int(theirs[i]["images_meta"]["id"]): i for i in range(len(theirs))}
    images_same = masks_same = masks_compared = 0
    for i in range(len(ours)):
        a, b = ours[i], theirs[their_row[int(ours[i]["coco_image_id"])]]
        images_same += int(np.array_equal(a["images"], b["images"]))
        keep_a, keep_b = ~np.asarray(a["iscrowd"], bool), ~np.asarray(b["iscrowds"], bool)
        ma, mb = np.asarray(a["masks"])[:, :, keep_a], np.asarray(b["masks"])[:, :, keep_b]
        masks_compared += ma.shape[2]
        masks_same += int(ma.shape == mb.shape and np.array_equal(ma, mb)) * ma.shape[2]
    return {"rows": len(ours), "rows_theirs": len(theirs), "images_identical": images_same,
            "noncrowd_masks": masks_compared, "noncrowd_masks_identical": masks_same}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"),
                   help="folder with images/ and annotations.json")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0, help="decoding threads (0: one per CPU, at most 8)")
    args = p.parse_args(argv)
    coco = Path(args.coco)
    images, ann = coco / "images", coco / "annotations.json"
    if not ann.exists():
        print(f"no COCO sample at {coco}; pass --coco", file=sys.stderr)
        return 1
    n_images = len(json.loads(ann.read_text())["images"])
    ours_t, theirs_t, ours_cpu, theirs_cpu = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        for r in range(args.repeats):
            for name in ("ours", "theirs"):
                dest = Path(tmp) / f"{name}{r}"
                if name == "ours":
                    wall, cpu = run_segstudio(images, ann, dest, args.chunk_size, args.workers)
                    ours_t.append(wall), ours_cpu.append(cpu)
                else:
                    wall, cpu = run_from_coco(images, ann, dest)
                    theirs_t.append(wall), theirs_cpu.append(cpu)
            print(f"repeat {r + 1}: segstudio {ours_t[-1]:.2f} s ({ours_cpu[-1]:.2f} s CPU), "
                  f"deeplake.from_coco {theirs_t[-1]:.2f} s ({theirs_cpu[-1]:.2f} s CPU)")
        check = compare(Path(tmp) / "ours0", Path(tmp) / "theirs0")
        shutil.rmtree(tmp, ignore_errors=True)
    best_o, best_t = min(ours_t), min(theirs_t)
    result = {"bench": "import", "images": n_images, "repeats": args.repeats,
              "segstudio_s": round(best_o, 3), "from_coco_s": round(best_t, 3),
              "segstudio_img_per_s": round(n_images / best_o, 1), "from_coco_img_per_s": round(n_images / best_t, 1),
              "speedup_best": round(best_t / best_o, 2),
              "speedup_median": round(statistics.median(theirs_t) / statistics.median(ours_t), 2),
              "cpu_s": round(min(ours_cpu), 3), "from_coco_cpu_s": round(min(theirs_cpu), 3),
              "cpu_ratio": round(min(theirs_cpu) / min(ours_cpu), 2), "load_avg_1min": os.getloadavg()[0],
              "cpus": os.cpu_count(), **check}
    print(f"segstudio import-coco: {result['segstudio_img_per_s']} images/s (best of {args.repeats})")
    print(f"deeplake.from_coco:    {result['from_coco_img_per_s']} images/s")
    print(f"speed-up: {result['speedup_best']}x best, {result['speedup_median']}x median (target >= 3x); "
          f"CPU time {result['cpu_ratio']}x less; load average {result['load_avg_1min']:.1f} on {result['cpus']} CPUs")
    print(f"same images: {check['images_identical']}/{check['rows']}; identical non-crowd masks: "
          f"{check['noncrowd_masks_identical']}/{check['noncrowd_masks']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
