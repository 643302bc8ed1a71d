"""One tiny trained run per test session, shared by the export, video and predict-window tests (training it
takes ~10 s); tests may write into its export/ and eval/ folders but not change its checkpoints."""
from __future__ import annotations

from pathlib import Path

import torch
from tiny_config import write_config

_RUNS: dict[str, Path] = {}


def tiny_run(demo_dataset: str, tmp_path_factory) -> Path:
    """runs/tiny: 4 iterations on the demo dataset (its model is weak: many detections scoring ~0.15)."""
    if demo_dataset not in _RUNS:
        from segstudio.cli import main

        tmp = tmp_path_factory.mktemp("tiny_run")
        assert main(["train", "--config", str(write_config(tmp, demo_dataset, name="tiny", iters=4))]) == 0
        _RUNS[demo_dataset] = tmp / "runs" / "tiny"
    return _RUNS[demo_dataset]


def confident(model: torch.nn.Module, shift: float = 2.0) -> torch.nn.Module:
    """The model with its background logit raised by `shift`: weak detections drop out and some images
    come back with nothing, as from a well-trained model (and the suite runs in seconds)."""
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[0] += shift
    return model
