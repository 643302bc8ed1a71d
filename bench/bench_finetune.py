"""What pretrained weights buy: validation mask AP50 after N minutes, from scratch vs from pretrained weights.

Trains the same config twice on a real COCO export (coco128 from ../shared/data, imported with segstudio's
own importer) for the same wall-clock budget, then evaluates each run's last.pt on the same validation
split. The from-scratch arm is the baseline in the same run; the pretrained arm uses COCO weights for the
architecture when their file is in torch's cache folder, ImageNet backbone weights otherwise, and is
skipped with a clear line when neither is there (`segstudio weights download NAME` fetches them).

    python bench/bench_finetune.py                          # 10 minutes per arm, the machine's preset
    python bench/bench_finetune.py --minutes 1 --preset cpu # a smoke check of the from-scratch arm
    python bench/bench_finetune.py --preset gpu --minutes 15 # on a GPU: v2 at 512 px, COCO weights if here
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COCO128 = ROOT.parent / "shared" / "data" / "coco128"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per arm (default 10)")
    p.add_argument("--preset", default="", help="cpu, gpu or tutorial (default: gpu with a GPU, else cpu)")
    p.add_argument("--arch", default="", help="override model.arch (pretrained files exist for the ResNet-50 ones)")
    p.add_argument("--coco", default=str(COCO128), help="COCO folder with images/ and annotations.json")
    p.add_argument("--dataset", default="", help="an already imported dataset URL instead of --coco")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--arms", default="scratch,pretrained", help="which arms to run, comma-separated")
    return p.parse_args()


def dataset_url(args, tmp: str) -> str:
    if args.dataset:
        return args.dataset
    src = Path(args.coco)
    if not (src / "annotations.json").is_file():
        raise SystemExit(f"no COCO export at {src} (annotations.json missing); pass --coco or --dataset")
    from segstudio.data.coco_import import import_coco

    dest = os.path.join(tmp, "coco")
    started = time.perf_counter()
    summary = import_coco(src / "images", src / "annotations.json", dest)
    print(f"imported {src}: {summary.images_imported} images, {summary.instances} instances, "
          f"{len(summary.class_names)} classes in {time.perf_counter() - started:.1f} s", flush=True)
    return dest


def pretrained_choice(arch: str) -> tuple[str, str]:
    """-> (model.weights value, description); ("", reason) when no pretrained file is here."""
    from segstudio.models.weights import weights_for

    for kind in ("coco", "imagenet"):
        known = weights_for(arch, kind)
        if known is not None and known.present():
            return kind, f"{kind} ({known.file_name})"
    names = [k.name for k in (weights_for(arch, "coco"), weights_for(arch, "imagenet")) if k is not None]
    hint = f"`segstudio weights download {names[0]}`" if names else "a .pth file via model.weights"
    return "", f"no pretrained weights for {arch} in torch's cache folder (get them with {hint})"


def base_config(args, url: str, runs_dir: str):
    from segstudio.base.config_presets import default_preset, load_preset

    cfg = load_preset(args.preset or default_preset())
    if args.arch:
        cfg.model.arch = args.arch
    cfg.data.url, cfg.data.split_column = url, ""
    cfg.train.runs_dir, cfg.train.tensorboard = runs_dir, False
    cfg.eval.interval_epochs = 1
    return cfg


def run_arm(cfg, name: str, weights: str, budget_s: float) -> dict:
    from segstudio.engine.inference import evaluate_run, load_run_model
    from segstudio.engine.train import train

    cfg.model.weights, cfg.train.run_name = weights, name
    curve, started = [], [time.perf_counter()]

    def on_event(e):
        if e.kind == "started":   # the budget counts training, not opening the data and building the model
            started[0] = time.perf_counter()
        elif e.kind == "eval":
            m = e.metrics
            curve.append({"iteration": e.iteration, "seconds": round(time.perf_counter() - started[0], 1),
                          "mask_ap50": round(m.get("segm_map_50", 0.0), 4)})
            print(f"  [{name}] iter {e.iteration:5d} {curve[-1]['seconds']:7.1f} s  mask AP50 "
                  f"{curve[-1]['mask_ap50']:.3f}", flush=True)
        elif e.kind in ("warning", "error"):
            print(f"  [{name}] {e.kind}: {e.message}", flush=True)

    finished = train(cfg, on_event, lambda: time.perf_counter() - started[0] > budget_s)
    trained_s = time.perf_counter() - started[0]
    if finished.status == "failed":
        return {"arm": name, "status": "failed", "message": finished.message}
    device = "cuda" if cfg.train.device != "cpu" and _cuda() else "cpu"
    result = evaluate_run(load_run_model(finished.run_dir, "last", device=device), "", device=device)
    ap50 = float(result["metrics"].get("segm_map_50", 0.0))
    print(f"  [{name}] after {trained_s:.0f} s ({finished.iteration} iterations): mask AP50 {ap50:.3f}", flush=True)
    return {"arm": name, "weights": weights, "status": finished.status, "iterations": finished.iteration,
            "train_s": round(trained_s, 1), "mask_ap50": round(ap50, 4),
            "box_ap50": round(float(result["metrics"].get("bbox_map_50", 0.0)), 4), "curve": curve}


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def main() -> int:
    args = parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    tmp = tempfile.mkdtemp(prefix="bench-finetune-")
    url = dataset_url(args, tmp)
    cfg = base_config(args, url, os.path.join(tmp, "runs"))
    print(f"config: preset {args.preset or 'default'}, {cfg.model.arch}, {cfg.augment.image_size} px, batch "
          f"{cfg.train.batch_size}, {args.minutes:g} min per arm, device {cfg.train.device} "
          f"(cuda available: {_cuda()})", flush=True)
    results = {}
    if "scratch" in arms:
        results["scratch"] = run_arm(base_config(args, url, cfg.train.runs_dir), "scratch", "none", args.minutes * 60)
    if "pretrained" in arms:
        weights, what = pretrained_choice(cfg.model.arch)
        if not weights:
            print(f"pretrained arm skipped: {what}.", flush=True)
            results["pretrained"] = {"arm": "pretrained", "status": "skipped", "message": what}
        else:
            print(f"pretrained arm: {what}", flush=True)
            results["pretrained"] = run_arm(base_config(args, url, cfg.train.runs_dir), "pretrained", weights,
                                            args.minutes * 60)
    s, p = results.get("scratch", {}), results.get("pretrained", {})
    if "mask_ap50" in s and "mask_ap50" in p:
        gain = p["mask_ap50"] - s["mask_ap50"]
        print(f"\nmask AP50 after {args.minutes:g} min: pretrained {p['mask_ap50']:.3f} vs scratch "
              f"{s['mask_ap50']:.3f} ({gain:+.3f})")
    print(json.dumps({"bench": "finetune", "minutes": args.minutes, "arch": cfg.model.arch,
                      "image_size": cfg.augment.image_size, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
