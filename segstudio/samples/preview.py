"""Original | augmented pictures of the first training rows, exactly as training sees them, plus preview.json.

Same code path as training: a SegmentationDataset with train=True and the run seed, epoch 0, so a
training run with the same config and seed receives these very pixels for these rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2

from segstudio.base.errors import ConfigError, UserError
from segstudio.base.files import atomic_write_text
from segstudio.data.mapped import open_mapped
from segstudio.data.open import strip_secrets
from segstudio.samples.augment import report_to_json
from segstudio.samples.augment_presets import resolve_spec
from segstudio.samples.loader import SegmentationDataset
from segstudio.samples.render import original_and_augmented


def write_preview(url: str, cfg, n: int, out_dir: Path, endpoint_url: str = "") -> dict:
    """Write the PNGs and preview.json into `out_dir` (created once the first picture is ready, so a
    failure leaves no folder behind); return the JSON document."""
    mapped = open_mapped(url, cfg.data, endpoint_url=endpoint_url)
    names = mapped.class_names
    rows = mapped.split(cfg.data).train[:n]
    dataset = SegmentationDataset(mapped, rows, cfg.augment, train=True, seed=cfg.train.seed)
    samples = []
    # exactly what training gets at epoch 0; rows read in batches, the next batch's requests in flight
    for i, (row, (raw, prepared)) in enumerate(zip(rows, dataset.samples_with_raw(rows, epoch=0))):
        if i == 0:
            _prepare_folder(out_dir)
        name = f"{i:03d}_row{row}.png"
        picture = original_and_augmented(raw, prepared, names, caption="as trained, epoch 0")
        if not cv2.imwrite(str(out_dir / name), picture[:, :, ::-1]):
            raise UserError(f"Cannot write {out_dir / name}; check that the folder is writable.")
        samples.append({"row": int(row), "file": name, "instances_in": raw.num_instances,
                        "instances_out": int(len(prepared.target["labels"])),
                        "size_out": list(prepared.image.shape[1:]), **report_to_json(prepared.report)})
    doc = {"url": strip_secrets(url), "version": mapped.version, "preset": cfg.augment.preset,
           "seed": cfg.train.seed, "epoch": 0, "image_size": cfg.augment.image_size, "spec": resolve_spec(cfg.augment),
           "class_names": names, "samples": samples}
    atomic_write_text(out_dir / "preview.json", json.dumps(doc, indent=1, default=str))
    return doc


def _prepare_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create output folder {out_dir} ({exc.strerror}); choose another --out.") from None
    for old in out_dir.glob("[0-9][0-9][0-9]_row*.png"):    # an earlier preview's pictures would mislead
        old.unlink()
