"""Engine overhead: segstudio's train() vs a bare loop in the style of torchvision's reference engine.

Both train the same model (the default CPU preset) on the same cached batches, so the difference is
what the engine adds per iteration: events, metrics.jsonl lines, stop checks, the NaN guard, the
learning-rate schedule. The bare loop does what references/detection/engine.py's train_one_epoch does
(forward, sum of losses, .item(), zero_grad, backward, step, warm-up scheduler). Rounds alternate
between the two so drifting machine load hits both alike; the figure is the median time per iteration.

    python bench/bench_engine_overhead.py                 # about 2 minutes on 2 cores
    python bench/bench_engine_overhead.py --rounds 4 --iters 20
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_train_speed import make_batches


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=12, help="iterations per round and loop")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


class CachedData:
    """The engine's data interface over batches held in memory (no validation split)."""

    def __init__(self, batches, class_names):
        from segstudio.base.config import DataConfig

        self.batches, self.class_names = batches, class_names
        self.data_config = DataConfig(url="cached batches", class_names=list(class_names))
        self.train_rows = list(range(sum(len(b[0]) for b in batches)))
        self.val_rows = []
        self.iters_per_epoch = len(batches)

    def train_batches(self, epoch, skip=0):
        return iter(self.batches[skip:])

    def val_batches(self):
        return iter(())

    def run_info(self):
        return {"dataset": "cached batches"}

    def split_dict(self):
        return None

    def close(self):
        pass


def bare_loop(cfg, num_classes, batches) -> list[float]:
    """references/detection/engine.py train_one_epoch, minus its logger and prints."""
    import torch

    from segstudio.models.maskrcnn import build_model
    torch.manual_seed(0)
    model = build_model(cfg.model, num_classes + 1, cfg.augment.image_size).train()
    params = [p for p in model.parameters() if p.requires_grad]
    # The optimizer the config names (the reference's train.py offers SGD and AdamW alike).
    if cfg.train.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.train.lr, momentum=cfg.train.momentum,
                              weight_decay=cfg.train.weight_decay)
    warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.001, total_iters=cfg.train.warmup_iters)
    stamps = []
    for images, targets, _ in batches:
        loss_dict = model(images, targets)
        losses = sum(loss_dict.values())
        loss_value = losses.item()
        if not math.isfinite(loss_value):
            raise RuntimeError("non-finite loss")
        opt.zero_grad()
        losses.backward()
        opt.step()
        warmup.step()
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:])]


def engine_loop(cfg, class_names, batches, runs_dir) -> list[float]:
    from segstudio.engine.train import train
    stamps = []

    def on_event(e):
        if e.kind == "iteration":
            stamps.append(time.perf_counter())
    fin = train(cfg, on_event, lambda: False, data=CachedData(batches, class_names))
    if fin.status != "completed":
        raise RuntimeError(fin.message)
    return [b - a for a, b in zip(stamps, stamps[1:])]


def bookkeeping_us(n: int = 2000) -> float:
    """Microseconds of engine bookkeeping per iteration (event, metrics.jsonl line, stop/NaN flags).

    Independent of the model, so machine load barely moves it: a floor for the overhead above."""
    from segstudio.engine import distributed as dist_utils
    from segstudio.engine.events import IterationEvent
    from segstudio.engine.rundir import MetricsLog
    log = MetricsLog(tempfile.mkdtemp(prefix="bench-overhead-log-"))
    losses = {f"loss_{i}": 0.5 for i in range(5)}
    started = time.perf_counter()
    for i in range(n):
        dist_utils.any_true(False)
        dist_utils.all_true(True)
        log.write(IterationEvent(iteration=i, epoch=0, total_iters=n, losses=dict(losses), loss=2.5, lr=1e-3,
                                 images_per_s=10.0, data_wait=0.01, elapsed_s=1.0, eta_s=1.0).to_dict())
    log.close()
    return (time.perf_counter() - started) / n * 1e6


def main() -> int:
    args = parse_args()
    import torch

    from segstudio.base.config import Config
    torch.set_num_threads(args.threads)
    batches, num_classes = make_batches(args.dataset, Config().train.batch_size, args.iters)
    batches = (batches * args.iters)[:args.iters]
    class_names = [f"c{i}" for i in range(num_classes)]
    runs = tempfile.mkdtemp(prefix="bench-overhead-")
    cfg = Config()
    cfg.train.runs_dir, cfg.train.epochs, cfg.train.device = runs, 1, "cpu"
    cfg.eval.interval_epochs = 0
    bare, engine = [], []
    for r in range(args.rounds):
        bare += bare_loop(cfg, num_classes, batches)
        engine += engine_loop(cfg, class_names, batches, runs)
        print(f"round {r + 1}: bare {statistics.median(bare):.3f} s/it, engine {statistics.median(engine):.3f} s/it",
              flush=True)
    b, e = statistics.median(bare), statistics.median(engine)
    overhead = (e - b) / b
    book = bookkeeping_us()
    print(f"\nmedian per iteration: bare loop {b:.3f} s, engine {e:.3f} s: overhead {overhead:+.1%} (target <= 3%)")
    print(f"engine bookkeeping alone: {book:.0f} us per iteration ({book / 1e6 / b:.4%} of a bare step)")
    print(json.dumps({"bench": "engine_overhead", "bare_s_per_iter": round(b, 4), "engine_s_per_iter": round(e, 4),
                      "overhead": round(overhead, 4), "bookkeeping_us": round(book, 1), "iterations": len(bare),
                      "threads": args.threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
