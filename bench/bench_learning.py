"""How good is the model after the minutes a user can spare? The cpu preset against the recipe it replaced.

Two arms, each trained from scratch for the same wall-clock budget on the same data, one seed after the
other, on an idle machine:
- before: the cpu preset's recipe as it was on 2026-12-06 (BEFORE below: batches of 8, AdamW 1e-3 over a
  44-epoch cosine, no moving average), with that day's engine: float32 steps and torchvision's RoIAlign
  (since 2026-12-07, amp runs CPU steps in bfloat16 and models/roi_pool.py pools with matrix products);
- after:  the cpu preset as shipped (resources/preset-cpu.toml) with the --set overrides: the arm a change
  to the recipe is measured with. Since 2026-12-07 it differs from before by BatchNorm in the FPN
  (model.fpn_norm), lr 1.5e-3 over a 38-epoch cosine evaluated every 4 epochs, and by the engine:
  bfloat16 steps where the CPU has them, the matrix-product RoIAlign.
Each arm prints its evaluation curve (iteration, seconds, mask AP50, the raw weights' mask AP50 when the
preset keeps an EMA) and its mask AP50 at the budget: the last evaluation finished within it. The summary
gives each arm's mean over the seeds and after/before (target: >= 1.3, and after's mean >= --target).

    python bench/bench_learning.py                                  # demo data, 10 minutes, seeds 0 1 2, both arms
    python bench/bench_learning.py --arms after --seeds 0 --set train.lr=0.002     # one row of a recipe search
    python bench/bench_learning.py --dataset ../shared/data/coco128 --minutes 30    # a COCO folder is imported first
Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

# The cpu preset's recipe before the search of 2026-12-06 (what differs from the preset as shipped).
BEFORE = {"train.epochs": 44, "train.batch_size": 8, "train.lr": 0.001, "train.warmup_iters": 50, "train.ema": False,
          "eval.interval_epochs": 2, "train.amp": False, "model.fpn_norm": "none"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of each arm and seed (default 10)")
    p.add_argument("--target", type=float, default=0.6, help="mask AP50 the after arm should reach (mean)")
    p.add_argument("--arms", default="before,after", help="before, after or both (default)")
    p.add_argument("--seeds", default="0,1,2", help="train.seed values, comma-separated (default 0,1,2)")
    p.add_argument("--dataset", default="", help="dataset URL or a COCO folder (default: the demo dataset)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the target machine)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value of the after arm (repeatable), e.g. train.lr=0.002")
    p.add_argument("--runs-dir", default="", help="keep the runs here (default: a temporary folder)")
    p.add_argument("--keep-going", action="store_true", help=argparse.SUPPRESS)   # old command lines: the default now
    return p.parse_args(argv)


def dataset_url(path: str, workdir: Path) -> str:
    """The dataset to train on: a COCO folder (images/ + annotations.json) is imported once into workdir."""
    folder = Path(path) if path else None
    if folder is None or not (folder / "annotations.json").is_file():
        return path
    from segstudio.data.coco_import import import_coco

    dest = workdir / f"{folder.name}-imported"
    if not dest.exists():
        print(f"importing {folder} into {dest}", flush=True)
        import_coco(str(folder / "images"), str(folder / "annotations.json"), str(dest))
    return str(dest)


def arm_config(arm: str, overrides: dict, url: str, seed: int, runs_dir: Path):
    from segstudio.base.config import apply_overrides
    from segstudio.base.config_presets import load_preset

    cfg = apply_overrides(load_preset("cpu"), BEFORE if arm == "before" else overrides)
    cfg.data.url, cfg.train.device, cfg.train.seed = url, "cpu", seed
    cfg.train.runs_dir, cfg.train.run_name, cfg.train.tensorboard = str(runs_dir), f"{arm}-seed{seed}", False
    return cfg


@contextlib.contextmanager
def engine_of(arm: str):
    """The before arm pools with torchvision's MultiScaleRoIAlign, as the engine of 2026-12-06 did."""
    from torchvision.ops import MultiScaleRoIAlign

    from segstudio.models import maskrcnn

    ours = maskrcnn.MatmulRoIAlign
    if arm == "before":
        maskrcnn.MatmulRoIAlign = MultiScaleRoIAlign
    try:
        yield
    finally:
        maskrcnn.MatmulRoIAlign = ours


def run_arm(cfg, minutes: float) -> dict:
    """Train `cfg` for `minutes` of wall-clock time; its evaluation curve and mask AP50 at the budget."""
    from segstudio.engine.train import train

    curve, budget = [], minutes * 60
    started, cpu_started = time.perf_counter(), time.process_time()

    def on_event(e):
        if e.kind == "eval":
            m, raw = e.metrics, e.model_metrics or {}
            point = {"iteration": e.iteration, "seconds": round(time.perf_counter() - started, 1),
                     "cpu_s": round(time.process_time() - cpu_started, 1),
                     "mask_ap50": round(m.get("segm_map_50", 0), 4), "mask_ap": round(m.get("segm_map", 0), 4),
                     "box_ap50": round(m.get("bbox_map_50", 0), 4)}
            if raw:
                point["raw_mask_ap50"] = round(raw.get("segm_map_50", 0), 4)
            curve.append(point)
            print(f"  iter {e.iteration:5d}  {point['seconds']:7.1f} s  (cpu {point['cpu_s']:7.1f} s)  mask AP50 "
                  f"{point['mask_ap50']:.3f}" + (f" (raw weights {point['raw_mask_ap50']:.3f})" if raw else "")
                  + f"  mask AP {point['mask_ap']:.3f}  box AP50 {point['box_ap50']:.3f}", flush=True)
        elif e.kind in ("error", "warning"):
            print(f"  {e.kind}: {e.message}", flush=True)

    finished = train(cfg, on_event, lambda: time.perf_counter() - started > budget)
    within = [c for c in curve if c["seconds"] <= budget]
    return {"status": finished.status, "seconds": round(time.perf_counter() - started, 1),
            "mask_ap50": within[-1]["mask_ap50"] if within else 0.0,
            "best_mask_ap50": max((c["mask_ap50"] for c in within), default=0.0), "curve": curve}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    arms = [a for a in args.arms.split(",") if a]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    from segstudio.base.config import parse_overrides

    overrides = parse_overrides(args.set)
    workdir = Path(args.runs_dir or tempfile.mkdtemp(prefix="bench-learning-"))
    url = dataset_url(args.dataset, workdir)
    results: dict = {arm: {} for arm in arms}
    for seed in seeds:
        for arm in arms:
            cfg = arm_config(arm, overrides, url, seed, workdir)
            t = cfg.train
            print(f"{arm}, seed {seed}: {cfg.model.arch}, {cfg.augment.image_size} px, batch {t.batch_size}, "
                  f"{t.optimizer} lr {t.lr}, {t.schedule} over {t.epochs} epochs, warm-up {t.warmup_iters}, "
                  f"EMA {t.ema}, amp {t.amp}, FPN norm {cfg.model.fpn_norm}, {args.minutes:g} min, "
                  f"{args.threads} threads", flush=True)
            with engine_of(arm):
                results[arm][seed] = found = run_arm(cfg, args.minutes)
            print(f"{arm}, seed {seed}: mask AP50 {found['mask_ap50']:.3f} at {args.minutes:g} min "
                  f"({found['status']} after {found['seconds']:.0f} s)", flush=True)
    means = {arm: sum(r["mask_ap50"] for r in runs.values()) / len(runs) for arm, runs in results.items()}
    print("\n" + "\n".join(f"{arm:>6s}: mask AP50 at {args.minutes:g} min, mean of seeds {seeds}: {mean:.3f} ("
                           + ", ".join(f"{results[arm][s]['mask_ap50']:.3f}" for s in seeds) + ")"
                           for arm, mean in means.items()))
    ratio = means["after"] / means["before"] if {"before", "after"} <= means.keys() and means["before"] else None
    met = means.get("after", 0.0) >= args.target and (ratio is None or ratio >= 1.3)
    if ratio is not None:
        print(f"after / before: {ratio:.2f}x (target >= 1.3x); after >= {args.target}: {means['after'] >= args.target}")
    print(json.dumps({"bench": "learning", "minutes": args.minutes, "dataset": args.dataset or "demo",
                      "seeds": seeds, "threads": args.threads, "overrides": overrides, "means": means,
                      "ratio": ratio, "target_ap50": args.target, "met": met, "runs": results}))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
