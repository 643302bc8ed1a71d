"""train.amp on the CPU: bfloat16 steps where the CPU has native bfloat16, float32 elsewhere or when off;
float32 master weights and no loss scaling either way."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from engine_fakes import CLASS_NAMES, make_sample
from test_engine import tiny_config

from segstudio.engine.loop import Plan, train_step
from segstudio.engine.session import build_training

PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def _native_bfloat16(monkeypatch, present: bool) -> None:
    for name in PROBES:
        monkeypatch.setattr(torch.cpu, name, lambda: present, raising=False)


def _step(tmp_path, amp: bool):
    cfg = tiny_config(tmp_path, amp=amp)
    cfg.data = dataclasses.replace(cfg.data, class_names=list(CLASS_NAMES))
    plan = Plan.from_config(cfg, 4)
    return build_training(cfg, torch.device("cpu"), plan, load_weights=False, warn=lambda m: None)


@pytest.mark.parametrize("native, amp, expected", [(True, True, True), (False, True, False), (True, False, False)])
def test_amp_runs_cpu_steps_in_bfloat16_only_where_native(tmp_path, monkeypatch, native, amp, expected):
    _native_bfloat16(monkeypatch, native)
    model, step = _step(tmp_path, amp)
    assert step.amp is expected and not step.scaler.is_enabled()
    seen = []
    model.backbone.body.conv1.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    samples = [make_sample(row) for row in range(2)]
    losses = train_step(step, [s[0] for s in samples], [s[1] for s in samples])
    assert seen == [torch.bfloat16 if expected else torch.float32]
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
