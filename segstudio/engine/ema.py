"""An exponential moving average (EMA) of the model's weights, BatchNorm statistics included.

After the k-th training step, every floating-point parameter and buffer of the average becomes
    ema = d_k * ema + (1 - d_k) * model,   d_k = min(train.ema_decay, (1 + k) / (10 + k)),
the warm-up of TensorFlow's ExponentialMovingAverage(num_updates=k): early on, when the weights move
fast, the average follows them closely (d_1 = 0.18, d_10 = 0.58, d_100 = 0.92) and it settles on
train.ema_decay after some thousands of steps. Integer buffers (BatchNorm's batch counter) are copied.

The average is a second copy of the unwrapped model (in eval mode, no gradients). A checkpoint keeps it
under "ema" (weights and step count: part of the exact-resume state) and names under "weights" which
of the two inference should load: the one that scored higher at the latest evaluation.
"""
from __future__ import annotations

import copy
import dataclasses

import torch

WEIGHTS_KEY = "weights"   # in a checkpoint: "ema" or "model", the weights inference loads


class ModelEMA:
    """The moving average of `model`'s weights; `update(model)` after every optimiser step."""

    def __init__(self, model: torch.nn.Module, decay: float, updates: int = 0):
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.decay, self.updates = float(decay), int(updates)

    def decay_at(self, k: int) -> float:
        """The decay of the k-th update (k = 1, 2, ...)."""
        return min(self.decay, (1 + k) / (10 + k))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        weight = 1.0 - self.decay_at(self.updates)
        averaged = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = averaged[name]
            if target.is_floating_point():
                target.lerp_(value.detach().to(target.dtype), weight)
            else:
                target.copy_(value)

    def state_dict(self) -> dict:
        return {"model": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.updates = int(state["updates"])


def build_ema(cfg, model: torch.nn.Module, checkpoint: dict | None, warn) -> ModelEMA | None:
    """The run's EMA when train.ema is on: restored from a resumed checkpoint, or started from `model`."""
    if not cfg.train.ema:
        return None
    ema = ModelEMA(model, cfg.train.ema_decay)
    saved = (checkpoint or {}).get("ema")
    if saved:
        ema.load_state_dict(saved)
    elif checkpoint is not None:
        warn("train.ema is on but the checkpoint holds no average of the weights; it starts from the resumed "
             "weights.")
    return ema


def inference_weights(checkpoint: dict) -> dict:
    """The state dict inference should load from a segstudio checkpoint: the EMA's when it scored higher."""
    if checkpoint.get(WEIGHTS_KEY) == "ema" and isinstance(checkpoint.get("ema"), dict):
        return checkpoint["ema"]["model"]
    return checkpoint["model"]


def with_ema_metrics(event, ema: ModelEMA, measure, checkpoints):
    """The evaluation event of the trained weights -> the EMA's (the trained weights' metrics kept in
    model_metrics); `checkpoints.weights` becomes the one with the higher mask AP (ties go to the EMA)."""
    metrics, per_class, seconds = measure(ema.module)
    ema_wins = metrics.get("segm_map", -1.0) >= event.metrics.get("segm_map", -1.0)
    checkpoints.weights = "ema" if ema_wins else "model"
    return dataclasses.replace(event, metrics=metrics, per_class=per_class, duration_s=event.duration_s + seconds,
                               weights="ema", model_metrics=event.metrics)


def winning_metrics(event, weights: str) -> dict:
    """The metrics of the weights a checkpoint would hold (what best.pt and early stopping go by)."""
    return event.model_metrics if weights == "model" and event.model_metrics else event.metrics
