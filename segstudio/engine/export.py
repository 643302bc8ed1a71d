"""Export a run's model (TorchScript, ONNX, OpenVINO) and certify it with the parity suite.

The file is written to a staging folder outside the run, run through `engine/parity.py` against the
eager model, and only moved to runs/<name>/export/<format>/ when every case passes; parity.json and
parity.md (a short table) go beside it. A failing export leaves the model out of the run folder and
its report as export/<format>.failed-parity.json.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from segstudio.base.errors import ExportError
from segstudio.base.files import atomic_write_text
from segstudio.data.mapped import open_mapped
from segstudio.engine import parity
from segstudio.engine.export_formats import FORMATS, write_format
from segstudio.engine.thresholds import run_thresholds
from segstudio.samples.model_io import image_tensor


def validation_images(loaded, count: int) -> tuple[list[tuple[str, Tensor]], str]:
    """Up to `count` validation images of the run (name, float 3xHxW), and where they came from.

    When the run's data cannot be read any more, seeded random images stand in (and the report says so)."""
    try:
        from segstudio.engine import rundir  # noqa: PLC0415

        cfg = loaded.cfg
        mapped = open_mapped(cfg.data.url, cfg.data, endpoint_url=cfg.data.endpoint_url)
        rows = (rundir.read_split(loaded.run_dir) or {}).get("val", [])[:count]
        rows = rows or list(range(min(count, mapped.num_rows)))
        return [(f"row {r}", image_tensor(mapped.read(r).image)) for r in rows], "validation split"
    except Exception:  # noqa: BLE001 - the dataset may be gone; random images still exercise the export
        g = torch.Generator().manual_seed(0)
        size = loaded.cfg.augment.image_size
        return [(f"random {i}", torch.rand(3, size, size + 7 * i % 40, generator=g)) for i in range(count)], \
            "random images (the run's dataset could not be read)"


def suite_images(loaded, count: int = 50, empty: int = 10) -> tuple[list[tuple[str, Tensor]], str]:
    images, source = validation_images(loaded, count)
    blanks = parity.empty_images(empty, loaded.cfg.augment.image_size)
    return images + [(f"empty {i}", t) for i, t in enumerate(blanks)], f"{len(images)} from the {source}, " \
        f"{len(blanks)} empty"


def export_metadata(loaded) -> dict:
    thresholds = run_thresholds(loaded.run_dir, loaded.class_names)
    return {"class_names": list(loaded.class_names), "score_threshold": thresholds["global"],
            "per_class_thresholds": thresholds["per_class"], "thresholds_from": thresholds["source"],
            "checkpoint": loaded.checkpoint, "iteration": loaded.iteration}


def export_run(loaded, fmt: str, *, count: int = 50, empty: int = 10, batches=None,
               sizes=None) -> dict:
    """Write, certify and place one export; -> the parity report plus path, format and metadata.

    Raises ExportError when the suite fails (the report names the first failing case)."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    model = loaded.model.eval()
    images, source = suite_images(loaded, count, empty)
    meta = export_metadata(loaded)
    export_dir = loaded.run_dir / "export"
    with tempfile.TemporaryDirectory(prefix=f"segstudio-export-{fmt}-") as staging:
        exported = write_format(fmt, model, meta, Path(staging), images[0][1])
        report = parity.run_suite(model, exported.runner, images, max_batch=exported.max_batch,
                                  refusal=exported.refusal, per_image=exported.per_image, batches=batches,
                                  sizes=sizes)
        report.update(format=fmt, image_source=source, metadata=meta,
                      files=[f.name for f in exported.files])
        return _place(report, Path(staging), export_dir, fmt)


def _place(report: dict, staging: Path, export_dir: Path, fmt: str) -> dict:
    export_dir.mkdir(parents=True, exist_ok=True)
    failed_report = export_dir / f"{fmt}.failed-parity.json"
    if not report["passed"]:
        atomic_write_text(failed_report, json.dumps(report, indent=2) + "\n")
        raise ExportError(f"The {fmt} export differs from PyTorch on {report['first_failure']}; the file was "
                          f"not kept (report: {failed_report}).")
    failed_report.unlink(missing_ok=True)
    final = export_dir / fmt
    report["path"] = str(final / report["files"][0])
    atomic_write_text(staging / "parity.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(staging / "parity.md", parity.table(report))
    if final.exists():
        shutil.rmtree(final)
    final.mkdir()
    for item in staging.iterdir():
        shutil.move(str(item), final / item.name)
    return report
