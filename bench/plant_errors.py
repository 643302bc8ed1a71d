"""Planted label errors for bench_label_issues.py: a share of a dataset's instances spoiled on purpose, on a
copy, with an exact record of what was done and where.

Five ways of spoiling, dealt round-robin over the chosen instances (at most one per row, so every record
names its instance unambiguously): `deleted` (the annotation removed), `class_swapped` (another class),
`mask_shifted` (moved by a third of its size), `mask_eroded` (shrunk to about half its area) and `spurious`
(a made-up annotation where no object is). The spoilt masks keep their boxes in step (boxes are
recomputed from the masks, as COCO's are from its polygons). Written with data.label_fixes.write_fixes, as
one commit on the copy's main branch.
"""
from __future__ import annotations

import dataclasses

import numpy as np

PLANTED_KINDS = ("deleted", "class_swapped", "mask_shifted", "mask_eroded", "spurious")
# what the finder should call each planted error
EXPECTED_KIND = {"deleted": "missing", "class_swapped": "wrong_class", "mask_shifted": "sloppy_mask",
                 "mask_eroded": "sloppy_mask", "spurious": "spurious"}


@dataclasses.dataclass
class Planted:
    kind: str
    row: int
    instance: int          # the annotation's index after planting (-1 for a deleted one)
    box: list              # x1, y1, x2, y2 of the original object (deleted) or of the planted annotation
    label: int             # 0-based class as stored after planting (deleted: the class it had)


def _box(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)] if len(xs) else [0.0] * 4


def _shifted(mask: np.ndarray, rng) -> np.ndarray:
    x1, y1, x2, y2 = _box(mask)
    dy, dx = (np.array([y2 - y1, x2 - x1]) / 3 * rng.choice([-1, 1], 2)).round().astype(int)
    out = np.zeros_like(mask)
    h, w = mask.shape
    src = mask[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    out[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out if out.any() else mask


def _eroded(mask: np.ndarray) -> np.ndarray:
    import cv2

    m, area = mask.astype(np.uint8), int(mask.sum())
    while m.sum() > area / 2:
        smaller = cv2.erode(m, np.ones((3, 3), np.uint8))
        if smaller.sum() == 0:
            break
        m = smaller
    return m.astype(bool)


def _empty_spot(masks: np.ndarray, rng, tries: int = 50) -> np.ndarray | None:
    """A rectangle of 15-30% of the image's sides over (almost) no object, or None."""
    h, w = masks.shape[1:]
    taken = masks.any(axis=0) if len(masks) else np.zeros((h, w), bool)
    for _ in range(tries):
        bh, bw = int(h * rng.uniform(0.15, 0.3)), int(w * rng.uniform(0.15, 0.3))
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        if taken[y:y + bh, x:x + bw].mean() < 0.02:
            spot = np.zeros((h, w), bool)
            spot[y:y + bh, x:x + bw] = True
            return spot
    return None


def _plan(mapped, share: float, seed: int) -> list[tuple[int, int]]:
    """(row, instance) pairs: `share` of all instances, at most one per row."""
    counts = [mapped.read(r).num_instances for r in range(mapped.num_rows)]
    total = sum(counts)
    rng = np.random.default_rng(seed)
    rows = [r for r in rng.permutation(len(counts)) if counts[r]]
    wanted = max(len(PLANTED_KINDS), round(share * total))
    return [(int(r), int(rng.integers(counts[r]))) for r in rows[:wanted]], total


def plant_errors(url: str, share: float = 0.05, seed: int = 0) -> tuple[list[Planted], int]:
    """Spoil `share` of the instances of the (local, writable) dataset at `url`; returns what was planted
    and the number of instances there were."""
    from segstudio.data.label_fixes import Fix, write_fixes
    from segstudio.data.mapped import open_mapped
    from segstudio.data.open import open_dataset

    mapped = open_mapped(url)
    plan, total = _plan(mapped, share, seed)
    rng = np.random.default_rng(seed + 1)
    fixes, planted = [], []
    for i, (row, j) in enumerate(plan):
        raw = mapped.read(row)
        kind = PLANTED_KINDS[i % len(PLANTED_KINDS)]
        fix, record = _spoil(kind, raw, j, len(mapped.class_names), rng)
        if fix is not None:
            fixes.append(Fix(row=row, **fix))
            planted.append(Planted(kind, row, **record))
    ds = open_dataset(url, read_only=False)
    write_fixes(ds, fixes, mapped.mapping, mapped.box_format, len(mapped.class_names),
                f"bench: {len(fixes)} planted label errors")
    return planted, total


def _spoil(kind: str, raw, j: int, num_classes: int, rng) -> tuple[dict | None, dict]:
    mask, label = raw.masks[j].astype(bool), int(raw.labels[j])
    if kind == "deleted":
        return {"action": "delete", "instance": j}, {"instance": -1, "box": _box(mask), "label": label}
    if kind == "class_swapped":
        other = int((label + rng.integers(1, num_classes)) % num_classes)
        return {"action": "relabel", "instance": j, "label": other}, {"instance": j, "box": _box(mask), "label": other}
    if kind in ("mask_shifted", "mask_eroded"):
        spoilt = _shifted(mask, rng) if kind == "mask_shifted" else _eroded(mask)
        return ({"action": "replace", "instance": j, "label": label, "mask": spoilt},
                {"instance": j, "box": _box(spoilt), "label": label})
    spot = _empty_spot(raw.masks.astype(bool), rng)
    if spot is None:
        return None, {}
    other = int(rng.integers(num_classes))
    return ({"action": "add", "label": other, "mask": spot},
            {"instance": raw.num_instances, "box": _box(spot), "label": other})
