"""The augmentation audit against plain reading and augmenting of the same samples, as a ratio in one run.

    python bench/bench_audit.py [--rows 2000] [--draws 4] [--workers 2] [--reps 1]

coco128 has 128 images; to audit 2,000 distinct rows the bench writes a COCO file whose 2,000 images
cycle through coco128's 128 pictures (each with its own annotations), imports it with
`segstudio import-coco` into a temporary folder, and uses every row for training (data.val_fraction 0).
All sides use the cpu preset (multiscale at 128 px, resnet18 anchors), the same rows, draws 0..D-1
with training's seeds, the loader's spawn workers and batches of 8:
  plain      build_loader over SegmentationDataset, one pass per draw (epoch), as training reads:
             each row read D times, augmented, collated
  read-once  the same loader, each row read once and augmented D times (as the audit reads), no figures:
             the audit's own cost is audit / read-once
  audit      segstudio.audit.run.audit_mapped (cache off): read once + augment D times + the figures
Target: audit <= 1.5x plain. Also reports the cached audit's time. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
COCO128 = ROOT.parent / "shared" / "data" / "coco128"

from segstudio.samples.augment import prepare_sample, sample_seed  # noqa: E402 - after the path is set
from segstudio.samples.loader import SegmentationDataset  # noqa: E402


def repeated_coco(src: Path, n: int, out: Path) -> Path:
    """A COCO file of `n` images cycling through src's, each repeat with its own ids."""
    coco = json.loads((src / "annotations.json").read_text())
    by_image: dict = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    images, anns = [], []
    for i in range(n):
        base = coco["images"][i % len(coco["images"])]
        images.append(dict(base, id=i + 1))
        for ann in by_image.get(base["id"], []):
            anns.append(dict(ann, id=len(anns) + 1, image_id=i + 1))
    out.write_text(json.dumps(dict(coco, images=images, annotations=anns)))
    return out


def import_dataset(tmp: Path, rows: int) -> str:
    ann = repeated_coco(COCO128, rows, tmp / "annotations.json")
    dest = tmp / "coco2000"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "segstudio", "import-coco", str(COCO128 / "images"), str(ann), str(dest)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return str(dest)


class ReadOnce(SegmentationDataset):
    """An item is one row read once and augmented `draws` times, as the audit reads, without its figures."""
    draws = 1

    def __getitem__(self, key):
        row = self.rows[int(key[0])]
        raw = self.read(row)
        return [prepare_sample(raw, self.pipeline, sample_seed(self.seed, d, row)) for d in range(self.draws)]


def plain(mapped, cfg, rows: list[int], draws: int, workers: int) -> float:
    from segstudio.samples.loader import SegmentationDataset, build_loader

    start = time.perf_counter()
    dataset = SegmentationDataset(mapped, rows, cfg.augment, train=True, seed=cfg.train.seed)
    loader = build_loader(dataset, 8, workers, shuffle=False, seed=cfg.train.seed, group_by_aspect=False)
    n = 0
    for draw in range(draws):
        loader.batch_sampler.set_epoch(draw)
        for images, _targets, _rows in loader:
            n += len(images)
    assert n == len(rows) * draws, n
    return time.perf_counter() - start


def _as_list(batch):
    return batch


def read_once(mapped, cfg, rows: list[int], draws: int, workers: int) -> float:
    from segstudio.samples.loader import build_loader

    start = time.perf_counter()
    dataset = ReadOnce(mapped, rows, cfg.augment, train=True, seed=cfg.train.seed)
    dataset.draws = draws
    loader = build_loader(dataset, 8, workers, shuffle=False, seed=cfg.train.seed, group_by_aspect=False,
                          collate_fn=_as_list)
    n = sum(len(samples) for batch in loader for samples in batch)
    assert n == len(rows) * draws, n
    return time.perf_counter() - start


def audit(mapped, cfg, rows: int, draws: int, workers: int, use_cache: bool = False) -> tuple[float, object]:
    from segstudio.audit.run import audit_mapped

    start = time.perf_counter()
    result = audit_mapped(mapped, cfg, rows=rows, draws=draws, workers=workers, use_cache=use_cache)
    return time.perf_counter() - start, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    from segstudio.audit.report import headline
    from segstudio.audit.run import audit_rows
    from segstudio.base.config_presets import load_preset
    from segstudio.data.mapped import open_mapped
    from segstudio.data.splits import make_split

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGSTUDIO_CACHE_DIR"] = str(Path(tmp) / "cache")     # no user's cached audit
        t0 = time.perf_counter()
        url = import_dataset(Path(tmp), args.rows)
        print(f"imported {args.rows} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        cfg = load_preset("cpu")
        cfg.data.val_fraction = 0.0
        mapped = open_mapped(url, cfg.data)
        rows = audit_rows(make_split(mapped.ds, cfg.data).train, args.rows, cfg.train.seed)
        plain_s, once_s, audit_s = [], [], []
        for rep in range(args.reps):     # alternate, so that all see the same machine load
            plain_s.append(plain(mapped, cfg, rows, args.draws, args.workers))
            once_s.append(read_once(mapped, cfg, rows, args.draws, args.workers))
            # the last one stores its result (a miss costs one file lookup), so the next call finds it
            seconds, result = audit(mapped, cfg, args.rows, args.draws, args.workers, rep == args.reps - 1)
            audit_s.append(seconds)
        cached_s, cached = audit(mapped, cfg, args.rows, args.draws, args.workers, use_cache=True)
        assert cached.cached
    ratio, own = min(audit_s) / min(plain_s), min(audit_s) / min(once_s)
    print(headline(result), file=sys.stderr)
    print(f"{len(rows)} rows x {args.draws} draws, {args.workers} workers: plain read+augment {min(plain_s):.1f} s, "
          f"read once + augment {min(once_s):.1f} s, audit {min(audit_s):.1f} s: {ratio:.2f}x plain (target <= "
          f"1.5x), {own:.2f}x read-once (the figures' own cost); cached audit {cached_s:.2f} s")
    print(json.dumps({"bench": "audit", "rows": len(rows), "draws": args.draws, "workers": args.workers,
                      "plain_s": round(min(plain_s), 2), "read_once_s": round(min(once_s), 2),
                      "audit_s": round(min(audit_s), 2), "ratio": round(ratio, 3),
                      "ratio_read_once": round(own, 3), "cached_s": round(cached_s, 3), "target": 1.5}))
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
