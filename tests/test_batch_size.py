"""train.batch_size = "auto": the CPU rule, the CUDA fit with a fake memory probe, the config and the run card."""
from __future__ import annotations

import pytest
import torch
from engine_fakes import FakeData

from segstudio.base.config import Config, apply_overrides, load_config, parse_overrides, save_config
from segstudio.base.errors import ConfigError
from segstudio.engine.batch_size import cpu_batch_size, cuda_batch_size, resolve_batch_size

GIB = 2**30


@pytest.mark.parametrize("threads, image_size, expected", [
    (2, 128, 4),     # 2 per thread
    (1, 128, 2),
    (4, 64, 16),     # 2 * 4 * (128/64)^2 = 32, capped at 16
    (2, 256, 2),     # 2 * 2 / 4 = 1, raised to 2
    (6, 181, 6),     # 12 * 0.5 = 6.0
])
def test_the_cpu_rule(threads, image_size, expected):
    assert cpu_batch_size(threads, image_size) == expected


def test_a_fake_cuda_probe_gives_the_largest_batch_that_fits_the_share():
    """A step needs 1 GiB + 0.5 GiB per image; 60% of 10 GiB free = 6 GiB holds (6 - 1) / 0.5 = 10 images."""
    probed = []

    def peak(batch):
        probed.append(batch)
        return GIB + batch * GIB // 2

    assert cuda_batch_size(peak, 10 * GIB) == 10
    assert probed == [1, 2, 10]
    assert cuda_batch_size(peak, 1000 * GIB) == 64   # capped


def test_running_out_of_memory_while_probing_shrinks_the_batch():
    """The same model, but the card runs out of memory above 6 images (fragmentation the fit cannot see):
    10 fails, 7 fails, 5 fits."""
    def peak(batch):
        if batch > 6:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return GIB + batch * GIB // 2

    assert cuda_batch_size(peak, 10 * GIB) == 5

    def none_fits(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    assert cuda_batch_size(none_fits, 10 * GIB) == 1


def test_the_config_accepts_auto_and_nothing_else_in_words(tmp_path):
    cfg = apply_overrides(Config(), parse_overrides(["train.batch_size=auto"]))
    save_config(cfg, tmp_path / "auto.toml")
    assert load_config(tmp_path / "auto.toml").train.batch_size == "auto"
    with pytest.raises(ConfigError, match="train.batch_size must be an integer"):
        apply_overrides(Config(), {"train.batch_size": "big"})


@pytest.mark.slow   # a one-iteration training run
def test_a_run_with_auto_records_the_chosen_size(tmp_path):
    from test_engine import Recorder, tiny_config

    from segstudio.engine.train import train

    cfg = tiny_config(tmp_path, max_iters=1)
    cfg.train.batch_size, cfg.eval.max_images = "auto", 1
    rec = Recorder()
    fin = train(cfg, rec, rec.should_stop, data=FakeData())
    assert fin.status == "completed", fin.message
    chosen = cpu_batch_size(torch.get_num_threads(), 64)
    assert any(f'"auto" chose {chosen} ' in w.message for w in rec.of("warning"))
    assert load_config(tmp_path / "runs" / "t" / "config.toml").train.batch_size == chosen
    assert resolve_batch_size(Config(), torch.device("cpu")).train.batch_size == 8   # not "auto": unchanged
