"""Access to core modules that may not exist yet in this build.

The window only calls the core. While a piece of the core is missing, `core(name)` raises
NotImplementedYet so the panel can say "not implemented yet" instead of faking the feature.
"""
from __future__ import annotations

import importlib

from segstudio.errors import NotImplementedYet


def core(module: str, *names: str):
    """Import segstudio.<module> and return it (or the named attributes) or raise NotImplementedYet."""
    try:
        mod = importlib.import_module(f"segstudio.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("segstudio"):
            raise NotImplementedYet(f"segstudio.{module} is not implemented yet.") from None
        raise
    if not names:
        return mod
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise NotImplementedYet(f"segstudio.{module}.{missing[0]} is not implemented yet.")
    values = tuple(getattr(mod, n) for n in names)
    return values[0] if len(values) == 1 else values


def available(module: str, *names: str) -> bool:
    try:
        core(module, *names)
        return True
    except NotImplementedYet:
        return False
