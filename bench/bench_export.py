"""CPU latency and throughput of a run's model in PyTorch eager, TorchScript, onnxruntime and OpenVINO.

    python bench/bench_export.py RUN [--images 16] [--reps 3] [--threads 0]

All four run in one process on the same validation images (the run's own, at the size they are stored),
one after another in a round-robin per repetition, so machine load hits them alike; ratios are against
PyTorch eager measured in the same run. Batch 1: one image per call (median and p90 latency per image).
Batch 8: eight images per call in every format (ONNX and OpenVINO through their batch Loop, images
padded to the batch's largest size; a format that refused batches would show "8 calls"). The exported files are
written by segstudio's own writers into a temporary folder (no parity suite here: `segstudio export`
runs it). Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

warnings.filterwarnings("ignore")


def runners(loaded, images, folder: Path) -> dict:
    from segstudio.engine.export import export_metadata
    from segstudio.engine.export_formats import write_format

    model = loaded.model.eval()
    meta = export_metadata(loaded)
    out = {"PyTorch eager": (lambda batch: model(batch), None)}
    for fmt, name in (("torchscript", "TorchScript"), ("onnx", "onnxruntime"), ("openvino", "OpenVINO")):
        sub = folder / fmt
        sub.mkdir()
        try:
            exported = write_format(fmt, model, meta, sub, images[0])
        except Exception as exc:  # noqa: BLE001 - a missing runtime leaves its row out, with the reason
            print(f"{name}: skipped ({exc})", file=sys.stderr)
            continue
        out[name] = (exported.runner, exported.max_batch)
    return out


def time_calls(run, batches) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        with torch.no_grad():
            run(batch)
        times.append(time.perf_counter() - start)
    return times


def measure(runs: dict, images, reps: int) -> dict:
    singles = [[img] for img in images]
    eights = [images[i:i + 8] for i in range(0, len(images) - 7, 8)]
    samples = {name: {"b1": [], "b8": []} for name in runs}
    for run, _ in runs.values():   # warm-up: first calls allocate and pick kernels
        time_calls(run, singles[:2])
    for _ in range(reps):
        for name, (run, _) in runs.items():
            samples[name]["b1"] += time_calls(run, singles)
            samples[name]["b8"] += time_calls(run, eights)
    return samples


def summarise(samples: dict, runs: dict) -> list[dict]:
    rows = []
    for name, s in samples.items():
        b1, b8 = sorted(s["b1"]), sorted(s["b8"])
        rows.append({"runtime": name, "b1_img_s": len(b1) / sum(b1), "b8_img_s": 8 * len(b8) / sum(b8),
                     "median_ms": 1000 * statistics.median(b1), "p90_ms": 1000 * b1[int(0.9 * (len(b1) - 1))],
                     "batch8": "one call" if runs[name][1] is None else "8 calls"})
    base = rows[0]
    for r in rows:
        r["x_b1"], r["x_b8"] = r["b1_img_s"] / base["b1_img_s"], r["b8_img_s"] / base["b8_img_s"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from segstudio.engine.export import validation_images
    from segstudio.engine.inference import load_run_model

    loaded = load_run_model(args.run)
    images = [t for _, t in validation_images(loaded, args.images)[0]]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        runs = runners(loaded, images, Path(tmp))
        rows = summarise(measure(runs, images, args.reps), runs)
    print(f"{len(images)} images x {args.reps} reps, torch threads {torch.get_num_threads()}")
    print("| runtime | img/s batch 1 | img/s batch 8 | median ms | p90 ms | vs eager b1 | vs eager b8 | batch 8 as |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runtime']} | {r['b1_img_s']:.1f} | {r['b8_img_s']:.1f} | {r['median_ms']:.1f} | "
              f"{r['p90_ms']:.1f} | {r['x_b1']:.2f}x | {r['x_b8']:.2f}x | {r['batch8']} |")
    print(json.dumps({"bench": "export", "rows": rows}))


if __name__ == "__main__":
    main()
