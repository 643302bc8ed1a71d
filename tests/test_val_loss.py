"""Validation loss leaves the model and every random number generator exactly as they were."""
from __future__ import annotations

import random

import numpy as np
import torch

from segstudio.base.config import ModelConfig
from segstudio.engine.val_loss import validation_loss
from segstudio.models.maskrcnn import build_model


def _tiny_model():
    cfg = ModelConfig(fpn_channels=16, mask_head_channels=8, mask_head_layers=1, rpn_pre_nms_top_n_train=50,
                      rpn_post_nms_top_n_train=20, box_batch_size_per_image=16)
    return build_model(cfg, 3, 64, load_weights=False)


def _batches():
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, 64, 80, generator=g) for _ in range(2)]
    masks = torch.zeros(2, 64, 80, dtype=torch.uint8)
    masks[0, 5:30, 5:40] = 1
    masks[1, 30:60, 40:75] = 1
    targets = [{"boxes": torch.tensor([[5.0, 5.0, 40.0, 30.0], [40.0, 30.0, 75.0, 60.0]]),
                "labels": torch.tensor([1, 2]), "masks": masks, "iscrowd": torch.tensor([0, 1])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
                "masks": torch.zeros(0, 64, 80, dtype=torch.uint8)}]
    yield images, targets, [0, 1]


def _rng_states():
    return (torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate())


def test_state_dict_and_rng_states_are_bit_identical():
    model = _tiny_model()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())   # trainable norms: the risky case
    model.train()
    torch.manual_seed(3)
    np.random.seed(4)
    random.seed(5)
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    before_rng = _rng_states()
    flags = {name: m.training for name, m in model.named_modules()}
    losses = validation_loss(model, _batches(), torch.device("cpu"))
    assert {"loss", "loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness"} <= set(losses)
    assert np.isfinite(losses["loss"]) and losses["loss"] == sum(v for k, v in losses.items() if k != "loss")
    after = model.state_dict()
    assert all(torch.equal(before_state[k], after[k]) for k in before_state)   # BatchNorm statistics included
    rng = _rng_states()
    assert torch.equal(before_rng[0], rng[0]) and np.array_equal(before_rng[1], rng[1]) and before_rng[2] == rng[2]
    assert {name: m.training for name, m in model.named_modules()} == flags
    # the next draw is the one training would have made without the validation pass
    assert torch.equal(torch.rand(4), torch.rand(4, generator=torch.Generator().manual_seed(3)))


def test_the_same_losses_twice_and_eval_mode_kept():
    model = _tiny_model().eval()
    first = validation_loss(model, _batches(), torch.device("cpu"))
    second = validation_loss(model, _batches(), torch.device("cpu"))
    assert first == second and not model.training
    assert validation_loss(model, iter([]), torch.device("cpu")) == {}
