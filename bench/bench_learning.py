"""Does the default CPU preset learn the demo dataset from scratch within 15 minutes?

Trains with the config defaults (ResNet-18-FPN, 128 px, trimmed heads, no pretrained weights) on the
demo dataset, evaluating every epoch, and prints the curve (iteration, seconds, mask AP50, box AP50) and
the time at which validation mask AP50 first reached the target. Baseline in the same run: the first
evaluation (an untrained model scores ~0). Run it on an idle machine; other processes slow it down
(the curve also lists the training process's CPU seconds, which contention inflates far less).

    python bench/bench_learning.py                   # 15 minutes, the demo dataset at its default path
    python bench/bench_learning.py --minutes 5 --dataset /path/to/demo --set train.epochs=20
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="time budget (default 15)")
    p.add_argument("--target", type=float, default=0.5, help="validation mask AP50 to reach")
    p.add_argument("--dataset", default="", help="dataset URL (default: the demo dataset)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the target machine)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable), e.g. train.lr=0.01")
    p.add_argument("--runs-dir", default="", help="keep the run here (default: a temporary folder)")
    p.add_argument("--keep-going", action="store_true", help="train the whole budget after the target")
    return p.parse_args()


def apply_overrides(cfg, pairs):
    import tomllib

    from segstudio.base.config import config_from_dict, config_to_dict
    values = config_to_dict(cfg)
    for pair in pairs:
        key, _, raw = pair.partition("=")
        section, _, name = key.partition(".")
        values[section][name] = tomllib.loads(f"v = {raw}")["v"]
    return config_from_dict(values)


def main() -> int:
    args = parse_args()
    import torch

    from segstudio.base.config import Config
    from segstudio.engine.train import train

    torch.set_num_threads(args.threads)
    cfg = apply_overrides(Config(), args.set)
    cfg.data.url = args.dataset
    cfg.train.runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="bench-learning-")
    cfg.train.run_name = "learning"
    curve, reached = [], {}
    started, cpu_started = time.perf_counter(), time.process_time()
    budget = args.minutes * 60

    def on_event(e):
        if e.kind == "eval":
            t = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            m = e.metrics
            curve.append({"iteration": e.iteration, "seconds": round(t, 1), "cpu_s": round(cpu, 1),
                          "mask_ap50": round(m.get("segm_map_50", 0), 4), "mask_ap": round(m.get("segm_map", 0), 4),
                          "box_ap50": round(m.get("bbox_map_50", 0), 4)})
            print(f"iter {e.iteration:5d}  {t:7.1f} s  (cpu {cpu:7.1f} s)  mask AP50 {m.get('segm_map_50', 0):.3f}  "
                  f"mask AP {m.get('segm_map', 0):.3f}  box AP50 {m.get('bbox_map_50', 0):.3f}", flush=True)
            if m.get("segm_map_50", 0) >= args.target and not reached:
                reached.update(seconds=t, iteration=e.iteration)
        elif e.kind in ("error", "warning", "finished"):
            print(f"{e.kind}: {getattr(e, 'message', '')} {getattr(e, 'status', '')}", flush=True)

    def should_stop():
        return time.perf_counter() - started > budget or (bool(reached) and not args.keep_going)

    print(f"config: {cfg.model.arch}, image_size {cfg.augment.image_size}, batch {cfg.train.batch_size}, "
          f"lr {cfg.train.lr}, epochs {cfg.train.epochs}, threads {args.threads}", flush=True)
    finished = train(cfg, on_event, should_stop)
    total = time.perf_counter() - started
    best = max((c["mask_ap50"] for c in curve), default=0.0)
    baseline = curve[0]["mask_ap50"] if curve else 0.0
    print(f"\nbest mask AP50 {best:.3f} (first evaluation {baseline:.3f}); "
          + (f"reached {args.target} after {reached['seconds']:.0f} s (iteration {reached['iteration']})"
             if reached else f"did not reach {args.target} in {total:.0f} s"))
    print(json.dumps({"bench": "learning", "target_ap50": args.target, "reached": bool(reached),
                      "seconds_to_target": round(reached.get("seconds", -1), 1),
                      "best_mask_ap50": best, "first_mask_ap50": baseline, "status": finished.status,
                      "run_dir": finished.run_dir, "curve": curve}))
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
