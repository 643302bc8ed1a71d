"""train.batch_size = "auto": the batch size a new run uses, chosen for the machine it starts on.

CUDA: the largest batch whose training step fits CUDA_SHARE of the free GPU memory. Two probe steps (batch
1 and 2, on synthetic images of the run's size) give the memory of a step as fixed + per_image * batch;
the batch that fits is then confirmed by a probe of its own, and shrunk by a quarter while that probe runs
out of memory (torch.cuda.OutOfMemoryError) or goes over the share. The optimiser's moments (two copies
of the weights for AdamW, one for SGD) are added to each probe's peak.

CPU (and MPS): throughput, not memory, decides: a Mask R-CNN step on the CPU costs about the same per
image from a few images per thread on, while larger batches mean fewer updates per minute. The rule:
CPU_IMAGES_PER_THREAD images per torch thread at 128 px, scaled by (128 / image_size)^2, within 2..16.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

AUTO = "auto"
CUDA_SHARE = 0.6
CUDA_MAX = 64
CPU_IMAGES_PER_THREAD = 2
CPU_RANGE = (2, 16)


def cpu_batch_size(threads: int, image_size: int) -> int:
    size = CPU_IMAGES_PER_THREAD * threads * (128 / image_size) ** 2
    return int(min(max(round(size), CPU_RANGE[0]), CPU_RANGE[1]))


def cuda_batch_size(peak_bytes: Callable[[int], int], free_bytes: int, share: float = CUDA_SHARE,
                    limit: int = CUDA_MAX) -> int:
    """The largest batch whose step's peak memory (`peak_bytes(batch)`, which may raise
    torch.cuda.OutOfMemoryError) fits `share` of `free_bytes`."""
    budget = share * free_bytes
    try:
        one, two = peak_bytes(1), peak_bytes(2)
    except torch.cuda.OutOfMemoryError:
        return 1
    per_image = max(two - one, 1)
    batch = int(min(max((budget - (one - per_image)) // per_image, 1), limit))
    for _ in range(8):
        if batch <= 2:
            return max(batch, 1)
        try:
            if peak_bytes(batch) <= budget:
                return batch
        except torch.cuda.OutOfMemoryError:
            pass
        batch = batch * 3 // 4
    return max(batch, 1)


def training_step_peak(cfg, device: torch.device) -> Callable[[int], int]:
    """peak_bytes(batch) for `cuda_batch_size`: one forward and backward pass of the run's model on
    synthetic images (a box and its mask each) at augment.image_size, plus the optimiser's moments."""
    from segstudio.models.maskrcnn import build_model  # noqa: PLC0415

    size = int(cfg.augment.image_size)
    classes = max(len(cfg.data.class_names), 1) + 1
    model = build_model(cfg.model, classes, size, load_weights=False).to(device).train()
    params = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    moments = params * (2 if cfg.train.optimizer == "adamw" else 1)

    def peak(batch: int) -> int:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        images = [torch.rand(3, size, size, device=device) for _ in range(batch)]
        mask = torch.zeros(1, size, size, dtype=torch.uint8, device=device)
        mask[:, size // 4:size // 2, size // 4:size // 2] = 1
        box = torch.tensor([[size / 4, size / 4, size / 2, size / 2]], device=device)
        targets = [{"boxes": box, "labels": torch.ones(1, dtype=torch.int64, device=device), "masks": mask}
                   for _ in range(batch)]
        try:
            with torch.autocast(device.type, enabled=bool(cfg.train.amp)):
                loss = sum(model(images, targets).values())
            loss.backward()
        finally:
            model.zero_grad(set_to_none=True)
        return torch.cuda.max_memory_allocated(device) + moments

    return peak


def resolve_batch_size(cfg, device: torch.device, warn: Callable[[str], None] = lambda m: None):
    """`cfg` with train.batch_size = "auto" replaced by the chosen size (said in a warning); other
    configs unchanged."""
    if cfg.train.batch_size != AUTO:
        return cfg
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        batch = cuda_batch_size(training_step_peak(cfg, device), free)
        torch.cuda.empty_cache()
        why = f"the largest that fits {CUDA_SHARE:.0%} of the {free / 2**30:.1f} GiB of free GPU memory"
    else:
        threads = torch.get_num_threads()
        batch = cpu_batch_size(threads, int(cfg.augment.image_size))
        why = (f"{CPU_IMAGES_PER_THREAD} per CPU thread ({threads}) at 128 px, scaled to "
               f"{cfg.augment.image_size} px, within {CPU_RANGE[0]}..{CPU_RANGE[1]}")
    warn(f'train.batch_size = "auto" chose {batch} ({why}); the run card records it.')
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=batch))
