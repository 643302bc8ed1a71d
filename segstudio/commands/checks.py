"""Checks of command-line values shared by several subcommands; each failure is one sentence (ConfigError).

They run before anything is written, so a bad value never leaves a half-made output behind.
"""
from __future__ import annotations

import math
from pathlib import Path

from segstudio.base.errors import ConfigError


def fraction(option: str, value: float) -> float:
    """A finite number in [0, 1] (score thresholds)."""
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{option} must be a number between 0 and 1; got {value}.")
    return value


def device(option: str, name: str) -> str:
    """cpu, cuda, cuda:N or mps, and present on this machine."""
    import torch

    name = (name or "").strip().lower()
    if name == "cpu":
        return name
    if name == "cuda" or name.startswith("cuda:"):
        index = name[5:] if name.startswith("cuda:") else "0"
        if not index.isdigit():
            raise ConfigError(f"{option} {name!r} is not a device; use cpu, cuda or cuda:N.")
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {name}: this machine has no usable CUDA GPU; use {option} cpu.")
        if int(index) >= torch.cuda.device_count():
            raise ConfigError(f"{option} {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                              f"numbered from 0; pick one of them or use {option} cpu.")
        return name
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"{option} mps: this machine has no Apple GPU (MPS); use {option} cpu.")
        return name
    raise ConfigError(f"{option} {name!r} is not a device; use cpu, cuda, cuda:N or mps.")


def output_folder(option: str, path: str) -> Path:
    """A folder that exists or can be made; not an existing file. Nothing is created here."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder; give a folder for the output files.")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{option} {path} is inside {parent}, which is a file; give a folder path.")
    return out


def positive(option: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{option} must be 1 or more; got {value}.")
    return value


def non_negative(option: str, value: int) -> int:
    if value < 0:
        raise ConfigError(f"{option} must be 0 or more; got {value}.")
    return value
