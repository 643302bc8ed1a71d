"""Evaluation cost of the analyses: `segstudio eval` with PR curves, thresholds, confusion matrix and error
types against the COCO-AP-only evaluation of the same checkpoint on the same images, as a ratio.

coco128 is imported into a temporary Deep Lake dataset, a run of the default CPU preset is trained for a
few iterations (its weights do not matter), and its detector is set to keep every detection (score
threshold 0, 100 per image): the most predictions an evaluation can store and analyse, the worst case.
After a warm-up evaluation, rounds run the two evaluations in alternating order so drifting machine load
hits both alike; the figures are
the ratio of the median wall times and of the median CPU times of this process (the issue's budget: at
most 1.10), and the added work timed directly (storing each image's predictions as RLE, then analysing
and saving) over the COCO-AP-only time: on a shared machine the wall ratio swings with other load.

    python bench/bench_eval.py                      # coco128 at ../shared/data/coco128, ~5 minutes on 2 cores
    python bench/bench_eval.py --coco DIR --rounds 3 --images 64
    python bench/bench_eval.py --paste --images 24 --rounds 4   # the model's mask paste against torchvision's

With --paste the two arms are both COCO AP only and differ in how the model pastes its masks into the
image: torchvision's paste_masks_in_image (an image-size tensor per mask, stacked) against
models/resize.paste_masks (the same values into one tensor).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coco", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco128"),
                   help="a COCO folder with images/ and annotations.json (default: coco128)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--images", type=int, default=128, help="evaluate on the first N rows")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep-default-threshold", action="store_true",
                   help="keep the detector's own score threshold (fewer detections) instead of 0")
    p.add_argument("--paste", action="store_true", help="compare the mask paste instead of the analyses")
    return p.parse_args()


def prepare(coco: Path, tmp: Path, images: int):
    """(run folder, dataset URL) of a few-iteration run on the imported COCO folder."""
    from segstudio.base.config import Config
    from segstudio.data.coco_import import import_coco
    from segstudio.engine.train import train

    url = str(tmp / "coco")
    import_coco(str(coco / "images"), str(coco / "annotations.json"), url)
    cfg = Config()
    cfg.data.url = url
    cfg.train.runs_dir, cfg.train.run_name = str(tmp / "runs"), "bench"
    cfg.train.max_iters, cfg.train.epochs, cfg.train.workers = 2, 1, 0
    cfg.eval.interval_epochs, cfg.eval.max_images, cfg.eval.score_threshold = 0, 1, 0.0
    train(cfg, lambda event: None, lambda: False)
    return Path(cfg.train.runs_dir) / "bench", url


def main() -> int:
    args = parse_args()
    import torch

    from segstudio.engine.inference import evaluate_run, load_run_model

    torch.set_num_threads(args.threads)
    coco = Path(args.coco)
    if not (coco / "annotations.json").is_file():
        print(f"no COCO folder at {coco} (images/ and annotations.json); pass --coco DIR")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        run_dir, url = prepare(coco, Path(tmp), args.images)
        loaded = load_run_model(str(run_dir), "last")
        if not args.keep_default_threshold:
            loaded.model.roi_heads.score_thresh = 0.0
        _limit_rows(run_dir, args.images)
        collect_s = _time_collection()
        arms = ([("torchvision_paste", False), ("one_tensor_paste", False)] if args.paste
                else [("coco_ap_only", False), ("with_analyses", True)])
        times, cpu = {name: [] for name, _ in arms}, {name: [] for name, _ in arms}
        added = []
        evaluate_run(loaded, "", analyse=True)   # warm-up: first-call costs (imports, caches) hit neither arm
        for round_ in range(args.rounds):
            for name, analyse in (arms if round_ % 2 == 0 else arms[::-1]):   # the order alternates
                _use_paste(loaded.model, torchvision=name == "torchvision_paste")
                collect_s[0] = 0.0
                started, cpu_started = time.perf_counter(), time.process_time()
                result = evaluate_run(loaded, "", analyse=analyse)
                times[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - cpu_started)
                if analyse:
                    added.append(collect_s[0] + result["analysis_seconds"])
        detections = sum(len(im["pred"]["scores"]) for im in json.loads(
            (run_dir / "eval" / "predictions.json").read_text())["images"])
        if args.paste:
            return _paste_report(times, cpu, result["images"], detections, args.rounds)
        base, full = statistics.median(times["coco_ap_only"]), statistics.median(times["with_analyses"])
        base_cpu, full_cpu = statistics.median(cpu["coco_ap_only"]), statistics.median(cpu["with_analyses"])
        print(f"images {result['images']}, detections stored {detections}, rounds {args.rounds}")
        print(f"COCO AP only: median {base:.1f} s {[round(t, 1) for t in times['coco_ap_only']]}, "
              f"CPU {base_cpu:.1f} s")
        print(f"with analyses: median {full:.1f} s {[round(t, 1) for t in times['with_analyses']]}, "
              f"CPU {full_cpu:.1f} s")
        print(f"added work timed directly: {[round(a, 2) for a in added]} s "
              f"= {statistics.median(added) / base:.3f} of the COCO-AP-only time")
        print(f"ratio wall {full / base:.3f}, CPU {full_cpu / base_cpu:.3f} (budget 1.10)")
    return 0


def _use_paste(model, torchvision: bool) -> None:
    """Make `model` paste its masks with torchvision's postprocess, or with its own (the class's)."""
    import types

    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    transform = model.transform
    if torchvision:
        transform.postprocess = types.MethodType(GeneralizedRCNNTransform.postprocess, transform)
    else:
        transform.__dict__.pop("postprocess", None)


def _paste_report(times: dict, cpu: dict, images: int, detections: int, rounds: int) -> int:
    base, ours = statistics.median(times["torchvision_paste"]), statistics.median(times["one_tensor_paste"])
    base_cpu, ours_cpu = statistics.median(cpu["torchvision_paste"]), statistics.median(cpu["one_tensor_paste"])
    print(f"images {images}, detections {detections}, rounds {rounds}")
    for name in times:
        print(f"{name}: median {statistics.median(times[name]):.1f} s {[round(t, 1) for t in times[name]]}, "
              f"CPU {statistics.median(cpu[name]):.1f} s")
    print(f"evaluation time, one-tensor paste / torchvision's: wall {ours / base:.3f}, CPU {ours_cpu / base_cpu:.3f}")
    print(json.dumps({"bench": "eval_paste", "images": images, "detections": detections, "rounds": rounds,
                      "times": times, "cpu": cpu, "wall_ratio": ours / base, "cpu_ratio": ours_cpu / base_cpu}))
    return 0


def _time_collection() -> list:
    """Wrap eval_store.make_image (called per image inside the evaluation) to add its seconds to a cell."""
    from segstudio.engine import eval_store

    total, original = [0.0], eval_store.make_image

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - started
    eval_store.make_image = timed
    return total


def _limit_rows(run_dir: Path, images: int) -> None:
    """Evaluate on the first `images` rows of the dataset (the run's validation split is rewritten)."""
    from segstudio.data.mapped import open_mapped
    from segstudio.engine.rundir import load_run_config
    cfg = load_run_config(run_dir)
    rows = open_mapped(cfg.data.url, cfg.data).num_rows
    split_path = run_dir / "split.json"
    split = json.loads(split_path.read_text())
    split["val"] = list(range(min(images, rows)))
    split_path.write_text(json.dumps(split))


if __name__ == "__main__":
    sys.exit(main())
