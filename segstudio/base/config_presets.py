"""Config presets: whole training configs shipped in the package (cpu, gpu, tutorial), which fill the
Training tab's form or start `segstudio train`. Not to be confused with augmentation presets
(samples/augment_presets.AUGMENT_PRESETS: named transform lists, the config's augment.preset).

They are plain TOML files named preset-<name>.toml in resources/ (installed as segstudio.resources), read
through importlib.resources so they work from a source checkout, an installed wheel and a PyInstaller
bundle alike.
"""
from __future__ import annotations

from importlib import resources

from segstudio.base.accelerator import gpu_present
from segstudio.base.config import Config, load_config
from segstudio.base.errors import ConfigError

_PACKAGE = "segstudio.resources"
_PREFIX, _SUFFIX = "preset-", ".toml"
DEFAULT_PRESET = "cpu"      # without a GPU
GPU_PRESET = "gpu"          # with CUDA or Apple MPS present


def _resources():
    return resources.files(_PACKAGE)


def default_preset() -> str:
    """The preset the window and `segstudio train` start from: gpu with CUDA or MPS present, else cpu."""
    return GPU_PRESET if gpu_present() else DEFAULT_PRESET


def preset_names() -> list[str]:
    """Names of the shipped presets, the default first."""
    names = sorted(p.name[len(_PREFIX):-len(_SUFFIX)] for p in _resources().iterdir()
                   if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX))
    first = default_preset()
    return sorted(names, key=lambda n: n != first)


def preset_path(name: str):
    """A Traversable for preset `name`, or a ConfigError listing the choices."""
    entry = _resources() / f"{_PREFIX}{name}{_SUFFIX}"
    if not entry.is_file():
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(preset_names())}.")
    return entry


def load_preset(name: str | None = None) -> Config:
    """The validated Config of a shipped preset (cpu, gpu, tutorial); by default the machine's."""
    with resources.as_file(preset_path(name or default_preset())) as path:
        return load_config(path)


def preset_text(name: str) -> str:
    """The preset's TOML with its comments, e.g. to copy it as a starting config."""
    return preset_path(name).read_text(encoding="utf-8")

