"""Shipped config presets, icon and desktop entry: present, valid, and found through the package."""
import configparser
import dataclasses
import struct
from pathlib import Path

import pytest

from segstudio.base.config import Config, load_config
from segstudio.base.config_presets import load_preset, preset_names, preset_path, preset_text
from segstudio.base.desktop import desktop_file_path, icon_path
from segstudio.base.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_preset_names_default_first():
    assert preset_names() == ["cpu", "gpu", "tutorial"]


@pytest.mark.parametrize("name", ["cpu", "gpu", "tutorial"])
def test_every_preset_loads_with_load_config(name):
    assert isinstance(load_config(ROOT / "resources" / f"preset-{name}.toml"), Config)
    assert isinstance(load_preset(name), Config)
    assert preset_text(name).startswith(f'# segstudio preset "{name}"')


def test_cpu_preset_is_the_default_model():
    cfg = load_preset("cpu")
    assert cfg.model == Config().model
    assert cfg.augment.image_size == Config().augment.image_size == 128
    recipe = lambda c: (c.train.epochs, c.train.batch_size, c.train.optimizer, c.train.lr, c.train.weight_decay,  # noqa: E731
                        c.train.schedule, c.train.warmup_iters, c.train.ema, c.eval.interval_epochs)
    assert recipe(cfg) == recipe(Config())    # a config file that leaves the recipe out gets the cpu preset's


def test_gpu_and_tutorial_presets_say_what_they_promise():
    gpu, tut = load_preset("gpu"), load_preset("tutorial")
    assert (gpu.model.arch, gpu.augment.image_size, gpu.train.amp) == ("maskrcnn_resnet50_fpn_v2", 512, True)
    assert gpu.model.box_batch_size_per_image > Config().model.box_batch_size_per_image
    m, t = tut.model, tut.train
    assert (m.arch, m.min_size, m.max_size, tut.augment.image_size) == ("maskrcnn_resnet50_fpn", 800, 1333, 128)
    assert (t.batch_size, t.lr, t.momentum, t.weight_decay, t.optimizer) == (8, 0.005, 0.9, 5e-4, "sgd")
    assert (m.rpn_pre_nms_top_n_train, m.rpn_post_nms_top_n_train, m.box_batch_size_per_image) == (2000, 2000, 512)
    assert (m.mask_head_channels, m.mask_head_layers) == (256, 4)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="Unknown preset 'fast'; choose one of cpu, gpu, tutorial"):
        preset_path("fast")


def test_presets_set_no_dataset():
    for name in preset_names():
        assert dataclasses.asdict(load_preset(name).data) == dataclasses.asdict(Config().data)


def test_icon_files():
    png = Path(icon_path())
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (256, 256)
    assert Path(icon_path("svg")).read_text().lstrip().startswith("<?xml")


def test_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(desktop_file_path())
    d = entry["Desktop Entry"]
    assert (d["Type"], d["Exec"], d["Icon"], d["StartupWMClass"]) == ("Application", "segstudio gui",
                                                                       "segstudio", "segstudio")
