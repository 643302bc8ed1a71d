"""Training images/s on CPU: the default CPU preset vs the tutorial's configuration, on the same batches.

Tutorial configuration: maskrcnn_resnet50_fpn with torchvision's default heads (256-channel FPN, four
256-channel mask convs, 1024-wide box head), 2000 proposals kept before/after NMS, 512 ROIs per image, and
the model's own resize of the 128 px crops to min_size 800 / max_size 1333. Both get the same batches of
8 crops made by segstudio's pipeline from the demo dataset (seed preset, 128 px). A tutorial step takes
about 70-120 s on 2 cores, so it is timed for only a few steps.

    python bench/bench_train_speed.py                       # ~5-8 minutes on 2 cores
    python bench/bench_train_speed.py --tutorial-steps 1 --preset-steps 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="", help="dataset URL (default: the demo dataset)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--preset-steps", type=int, default=10, help="timed steps of the CPU preset")
    p.add_argument("--tutorial-steps", type=int, default=2, help="timed steps of the tutorial configuration")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before timing each configuration")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def make_batches(url: str, batch_size: int, count: int):
    """`count` batches of training crops through the real pipeline (identical for both models)."""
    from segstudio.base.config import Config
    from segstudio.data.mapped import open_mapped
    from segstudio.samples.loader import SegmentationDataset, collate

    cfg = Config()
    if not url:
        from segstudio.data.demo import ensure_demo_dataset
        url = ensure_demo_dataset()
    mapped = open_mapped(url, cfg.data)
    rows = list(range(min(mapped.num_rows, batch_size * count)))
    data = SegmentationDataset(mapped, rows, cfg.augment, train=True, seed=0)
    samples = [data[(i, 0)] for i in range(len(rows))]
    batches = [collate(samples[i:i + batch_size]) for i in range(0, len(samples), batch_size)]
    return [b for b in batches if len(b[0]) == batch_size], len(mapped.class_names)


def tutorial_model_config():
    from segstudio.base.config import ModelConfig
    return ModelConfig(arch="maskrcnn_resnet50_fpn", weights="none", min_size=800, max_size=1333,
                       rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=2000,
                       rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000,
                       box_batch_size_per_image=512, mask_head_channels=256, mask_head_layers=4,
                       fpn_channels=256, trainable_backbone_layers=3)


class Stepper:
    """One model and optimizer; step() trains on the next batch and records wall and CPU seconds."""

    def __init__(self, model_cfg, num_classes: int, batches):
        import torch

        from segstudio.models.maskrcnn import build_model
        torch.manual_seed(0)
        self.model = build_model(model_cfg, num_classes + 1, 128).train()
        self.opt = torch.optim.SGD([p for p in self.model.parameters() if p.requires_grad], lr=0.005,
                                   momentum=0.9, weight_decay=5e-4)
        self.batches, self.i = batches, 0
        self.wall, self.cpu = [], []

    def step(self, record: bool = True, label: str = "") -> None:
        images, targets, _ = self.batches[self.i % len(self.batches)]
        self.i += 1
        t0, c0 = time.perf_counter(), time.process_time()
        loss = sum(self.model(images, targets).values())
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if record:
            self.wall.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)
            print(f"  {label} step {len(self.wall)}: {self.wall[-1]:.2f} s (cpu {self.cpu[-1]:.2f} s)", flush=True)


def main() -> int:
    args = parse_args()
    import torch

    from segstudio.base.config import Config
    torch.set_num_threads(args.threads)
    batches, num_classes = make_batches(args.dataset, args.batch_size, 6)
    preset = Config().model
    print(f"CPU preset ({preset.arch}, {Config().augment.image_size} px, FPN {preset.fpn_channels}, "
          f"{preset.rpn_post_nms_top_n_train} proposals, {preset.box_batch_size_per_image} ROIs/image, "
          f"mask head {preset.mask_head_layers}x{preset.mask_head_channels}) vs the tutorial configuration "
          "(maskrcnn_resnet50_fpn, 128 px crops resized to 800, 2000 proposals, 512 ROIs/image, "
          "mask head 4x256)", flush=True)
    fast = Stepper(preset, num_classes, batches)
    slow = Stepper(tutorial_model_config(), num_classes, batches)
    for _ in range(args.warmup):
        fast.step(record=False)
        slow.step(record=False)
    # Preset steps before and after the tutorial's, so a change in machine load hits both alike.
    half = args.preset_steps // 2
    for _ in range(half):
        fast.step(label="preset")
    for _ in range(args.tutorial_steps):
        slow.step(label="tutorial")
    for _ in range(args.preset_steps - half):
        fast.step(label="preset")
    fast, slow, fast_cpu, slow_cpu = fast.wall, slow.wall, fast.cpu, slow.cpu
    fast_ips = args.batch_size / statistics.median(fast)
    slow_ips = args.batch_size / statistics.median(slow)
    ratio = fast_ips / slow_ips
    cpu_ratio = statistics.median(slow_cpu) / statistics.median(fast_cpu)
    print(f"\nCPU preset {fast_ips:.2f} images/s vs tutorial {slow_ips:.3f} images/s: {ratio:.1f}x "
          f"(target >= 40x; {args.threads} threads, batch {args.batch_size}); CPU seconds per step: "
          f"{cpu_ratio:.1f}x fewer")
    print(json.dumps({"bench": "train_speed", "preset_images_per_s": round(fast_ips, 3),
                      "tutorial_images_per_s": round(slow_ips, 4), "ratio": round(ratio, 1),
                      "cpu_ratio": round(cpu_ratio, 1),
                      "preset_step_s": [round(t, 3) for t in fast], "tutorial_step_s": [round(t, 2) for t in slow],
                      "threads": args.threads, "batch_size": args.batch_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
