"""A dataset with known changes between two versions, and run cards that read them (tests of Compare's data side)."""
from __future__ import annotations

import deeplake
import numpy as np
import tomli_w

from segstudio.base.config import Config, config_to_dict
from segstudio.data.demo import create_demo_dataset


def make_changed_dataset(root) -> tuple[str, str, str]:
    """(url, A's ref, B's ref). 10 demo rows on main (A); branch exp (B): row 2 deleted, then (as B numbers
    rows) row 5's classes and row 0's boxes changed, and two rows of another demo dataset appended (rows 9, 10)."""
    url, other = str(root / "ds"), str(root / "other")
    create_demo_dataset(url, num_images=10, seed=0)
    create_demo_dataset(other, num_images=2, seed=1)
    ds = deeplake.open(url)
    main_ref = f"main@{ds.version}"
    ds.branch("exp")
    exp = ds.branches["exp"].open()
    exp.delete(2)
    labels = np.asarray(exp["categories"][5])
    exp["categories"][5] = ((labels + 1) % 3).astype(labels.dtype)
    exp["boxes"][0] = np.asarray(exp["boxes"][0]) + 1
    extra = deeplake.open_read_only(other)
    exp.append({c.name: [extra[c.name][r] for r in range(2)] for c in exp.schema.columns})
    exp.commit("known changes")
    return url, main_ref, f"exp@{exp.version}"


def write_card(run, url: str, commit: str):
    """A run folder whose config.toml says it read `url` at `commit`."""
    cfg = Config()
    cfg.data.url, cfg.data.commit = url, commit
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.toml").write_text(tomli_w.dumps(config_to_dict(cfg)))
    return run
