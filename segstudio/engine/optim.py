"""Optimizer and a per-iteration learning-rate schedule (linear warm-up, then constant, step or cosine).

The schedule is a LambdaLR stepped once per iteration, so its state is just a counter: resuming from a
checkpoint lands on exactly the learning rate the run had, and the curve continues.
"""
from __future__ import annotations

import math

import torch


def build_optimizer(model: torch.nn.Module, train_cfg) -> torch.optim.Optimizer:
    # No weight decay on norm layers and biases: decaying BatchNorm scales towards zero only hurts.
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": train_cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if train_cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=train_cfg.lr)
    return torch.optim.SGD(groups, lr=train_cfg.lr, momentum=train_cfg.momentum)


def lr_factor(iteration: int, train_cfg, iters_per_epoch: int, total_iters: int) -> float:
    """Multiplier of train.lr for 0-based `iteration`."""
    warmup = min(train_cfg.warmup_iters, max(total_iters - 1, 0))
    if iteration < warmup:
        return 0.001 + (1.0 - 0.001) * iteration / warmup
    if train_cfg.schedule == "cosine":
        span = max(total_iters - warmup, 1)
        progress = min((iteration - warmup) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if train_cfg.schedule == "step":
        epoch = iteration // max(iters_per_epoch, 1)
        passed = sum(1 for m in train_cfg.step_milestones if epoch >= int(m))
        return train_cfg.step_gamma ** passed
    return 1.0


def build_scheduler(optimizer, train_cfg, iters_per_epoch: int, total_iters: int):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_factor(it, train_cfg, iters_per_epoch, total_iters))
