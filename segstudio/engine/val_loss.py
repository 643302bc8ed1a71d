"""Validation loss: the model's loss terms on the validation split, leaving every bit of state as it was.

torchvision's detection models return losses only in training mode, and training mode would (a) update
BatchNorm running statistics (models built without pretrained weights use nn.BatchNorm2d, not the frozen
kind) and (b) draw from the random number generators (the RPN and ROI heads sample proposals with
torch.randperm). So, for the pass: no gradients; training mode with every BatchNorm module in eval mode
(running statistics used, not updated); the torch (CPU and CUDA), numpy and python RNG states saved and
restored afterwards; every module's training flag restored. The model's state dict and the RNG states
are bit-identical before and after (tests/test_val_loss.py), so a resumed run stays bit-exact.
Crowd regions are left out of the targets (they are not instances to learn).
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Callable, Iterable

import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm


@contextmanager
def preserved_rng():
    """Restore the torch (CPU and initialised CUDA), numpy and python RNG states on the way out."""
    cpu, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextmanager
def loss_mode(model: torch.nn.Module):
    """Training mode (losses out) with BatchNorm in eval mode; every module's flag restored afterwards."""
    flags = {m: m.training for m in model.modules()}
    model.train()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
    try:
        yield
    finally:
        for m, flag in flags.items():
            m.training = flag


def _loss_target(target: dict, device: torch.device) -> dict:
    crowd = target.get("iscrowd")
    keep = torch.ones(len(target["labels"]), dtype=torch.bool) if crowd is None else ~torch.as_tensor(crowd).bool()
    return {"boxes": torch.as_tensor(target["boxes"]).float().reshape(-1, 4)[keep].to(device),
            "labels": torch.as_tensor(target["labels"]).long()[keep].to(device),
            "masks": torch.as_tensor(target["masks"]).to(torch.uint8)[keep].to(device)}


@torch.no_grad()
def validation_loss(model: torch.nn.Module, batches: Iterable, device: torch.device, *, max_images: int = 0,
                    should_stop: Callable[[], bool] | None = None, amp: bool = False) -> dict:
    """{"loss": total, "loss_classifier": ..., ...}: the image-weighted mean over the validation batches of
    (images, targets, rows), or {} when no image was seen."""
    sums: dict = {}
    seen = 0
    with preserved_rng(), loss_mode(model):
        for images, targets, _rows in batches:
            if should_stop is not None and should_stop():
                break
            images = [img.to(device, non_blocking=True) for img in images]
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                losses = model(images, [_loss_target(t, device) for t in targets])
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value) * len(images)
            seen += len(images)
            if max_images and seen >= max_images:
                break
    if not seen:
        return {}
    means = {name: total / seen for name, total in sums.items()}
    return {"loss": sum(means.values()), **means}
