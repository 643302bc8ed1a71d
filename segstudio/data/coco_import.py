"""Import a COCO instances file into a new Deep Lake dataset (schema of the demo data plus COCO extras).

Schema: images (Image jpg), masks (BinaryMask lz4, H x W x N), boxes (BoundingBox float32 ltwh pixel),
categories (ClassLabel uint32 with metadata class_names and coco_category_ids), iscrowd (bool per
instance), areas (float32), coco_image_id (int64), coco_annotation_ids (int64), file_name (text).

Rows are appended a chunk at a time and each chunk is committed, so an interrupted import leaves a
readable dataset of whole images; `resume=True` skips the COCO image ids already stored.
"""
from __future__ import annotations

import os
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from segstudio.base.errors import DataError
from segstudio.base.locking import dataset_lock
from segstudio.data.coco_images import ImageProblem, prepare_image
from segstudio.data.coco_json import CocoIndex, StopRequested, annotation_id, read_coco
from segstudio.data.coco_masks import annotation_rle, rasterise, rle_area_and_box
from segstudio.data.coco_summary import ImportSummary
from segstudio.data.open import local_path, probe_endpoint, s3_creds, scheme_of, storage_error
from segstudio.data.schema import add_instance_columns

COLUMNS = ("images", "masks", "boxes", "categories", "iscrowd", "areas", "coco_image_id",
           "coco_annotation_ids", "file_name")
META_KEY = "segstudio_import"
ID_SLICE = 1 << 16                # image ids read at a time from a dataset being resumed


def _create_schema(ds, coco: CocoIndex, meta: dict) -> None:
    from deeplake import types as T  # noqa: PLC0415

    add_instance_columns(ds, coco.class_names, iscrowd=True)
    ds.add_column("areas", T.Array("float32", 1))
    ds.add_column("coco_image_id", T.Int64())
    ds.add_column("coco_annotation_ids", T.Array("int64", 1))
    ds.add_column("file_name", T.Text())
    ds["categories"].metadata["coco_category_ids"] = list(coco.category_ids)
    ds.metadata[META_KEY] = meta
    ds.commit("segstudio import-coco: schema")


def _dest_exists(dest: str, creds: dict) -> bool:
    path = local_path(dest)
    if path is not None:
        return path.exists() and (not path.is_dir() or any(path.iterdir()))
    import deeplake  # noqa: PLC0415

    if creds.get("endpoint_url"):
        probe_endpoint(creds["endpoint_url"])
    try:
        return bool(deeplake.exists(dest, creds=creds or None))
    except Exception as exc:  # noqa: BLE001 - bad keys, unreachable storage: one sentence
        raise storage_error(exc, dest, creds) from None


def _open_dest(dest: str, coco: CocoIndex, resume: bool, meta: dict, endpoint_url: str = ""):
    """The dataset, created unless resuming an existing one; the image ids it holds are excluded from coco."""
    import deeplake  # noqa: PLC0415

    creds = s3_creds(None, endpoint_url) if scheme_of(dest) == "s3" else {}
    target = str(local_path(dest)) if local_path(dest) is not None else dest
    if _dest_exists(dest, creds):
        path = local_path(dest)
        if path is not None and not (path / "_deeplake_log").is_dir():
            what = "a file" if path.is_file() else "a folder that is not a Deep Lake dataset"
            raise DataError(f"{dest} is {what}; choose a new destination (import-coco never writes into it).")
        if not resume:
            raise DataError(f"{dest} already exists; choose a new destination, or add --resume to continue "
                            "an interrupted import into it.")
        try:
            ds = deeplake.open(target, creds=creds or None)
        except Exception:  # noqa: BLE001 - Deep Lake raises unrelated types for "not a dataset"
            raise DataError(f"{dest} exists but is not a Deep Lake dataset; choose a new destination.") from None
        if resume and len(ds) == 0 and not list(ds.schema.columns):
            # killed between creating the dataset and committing its schema: start it afresh
            _create_schema(ds, coco, meta)
            return ds
        try:
            stored = dict(ds.metadata[META_KEY])
        except Exception:  # noqa: BLE001 - absent key: IndexError/KeyError/RuntimeError by version
            raise DataError(f"{dest} was not made by segstudio import-coco, so it cannot be resumed; choose a "
                            "new destination.") from None
        if stored.get("fingerprint") != meta["fingerprint"]:
            raise DataError(f"{dest} was imported from a different annotations file "
                            f"({stored.get('annotations', '?')}); resume with that file or choose a new "
                            "destination.")
        for start in range(0, len(ds), ID_SLICE):
            coco.exclude(np.asarray(ds["coco_image_id"][start:start + ID_SLICE]).reshape(-1))
        return ds
    try:
        ds = deeplake.create(target, creds=creds or None)
    except Exception as exc:  # noqa: BLE001 - permissions, bad URL, storage errors
        raise DataError(f"Cannot create a dataset at {dest} ({type(exc).__name__}); check the path and that "
                        "it is writable.") from None
    _create_schema(ds, coco, meta)
    return ds


def _read_image(images_dir: str, file_name: str, json_size):
    """prepare_image for a COCO file_name; exporters sometimes add folders, so fall back to the base name."""
    try:
        return prepare_image(os.path.join(images_dir, file_name), json_size)
    except ImageProblem as exc:
        base = os.path.basename(file_name.replace("\\", "/"))
        if str(exc) != "missing image file" or base == file_name:
            raise
        return prepare_image(os.path.join(images_dir, base), json_size)


def _clip_box(box, width: int, height: int):
    """ltwh box clipped to the image, or None when it is not four finite numbers."""
    try:
        left, top, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        return None
    if not all(np.isfinite([left, top, w, h])):
        return None
    x1, y1 = min(max(left, 0.0), width), min(max(top, 0.0), height)
    x2, y2 = min(max(left + w, 0.0), width), min(max(top + h, 0.0), height)
    return [x1, y1, x2 - x1, y2 - y1]


def _flag(value) -> bool:
    """iscrowd as exporters write it: 0/1, true/false, or the strings "0"/"1"/"true"/"false"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _instances(anns: list, label_of: dict, width: int, height: int, skipped: Counter) -> dict:
    rles, boxes, labels, crowd, areas, ann_ids = [], [], [], [], [], []
    for ann in anns:
        rle, problem = annotation_rle(ann["segmentation"], height, width)
        if rle is None:
            skipped[problem] += 1
            continue
        area, mask_box = rle_area_and_box(rle)
        box = _clip_box(ann.get("bbox"), width, height) or mask_box
        given_area = ann.get("area")
        rles.append(rle)
        boxes.append(box)
        labels.append(label_of[int(ann["category_id"])])
        crowd.append(_flag(ann.get("iscrowd", 0)))
        areas.append(float(given_area) if isinstance(given_area, (int, float)) else area)
        ann_ids.append(annotation_id(ann))
    return {"masks": rasterise(rles, height, width),
            "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
            "categories": np.asarray(labels, np.uint32), "iscrowd": np.asarray(crowd, bool),
            "areas": np.asarray(areas, np.float32), "coco_annotation_ids": np.asarray(ann_ids, np.int64)}


def _prepare_row(record: dict, anns: list, label_of: dict, images_dir: Path):
    """(row dict, image action, note, skipped Counter) or (None, reason, "", skipped) for a skipped image."""
    skipped = Counter()
    json_size = None
    if record["width"] is not None and record["height"] is not None:
        json_size = (record["width"], record["height"])
    try:
        image = _read_image(str(images_dir), str(record["file_name"]), json_size)
    except ImageProblem as exc:
        if anns:
            skipped["annotation of a skipped image"] += len(anns)
        return None, str(exc), "", skipped
    row = _instances(anns, label_of, image.width, image.height, skipped)
    row.update(images=image.data, coco_image_id=int(record["id"]), file_name=str(record["file_name"]))
    return row, image.action, image.note, skipped


MEMORY_BUDGET = 256 * 2 ** 20     # bytes of decoded masks per chunk, and per prefetch window


def _row_bytes(result) -> int:
    row = result[0]
    return int(row["masks"].nbytes) + len(row["images"]) if row is not None else 0


def _chunk_bytes(chunk: list) -> int:
    return sum(_row_bytes(result) for _, result in chunk)


def _prepared(pool, coco: CocoIndex, images_dir: Path, window: int):
    """(record, prepared row) in file order, decoded ahead by the pool while the caller writes (the index is
    read here, in the thread that made it).

    The window of images decoded ahead shrinks when rows are large (many instances on big images), so
    memory stays near MEMORY_BUDGET instead of growing with the chunk size.
    """
    pending: deque = deque()
    records = coco.images()
    avg = 0.0
    try:
        while True:
            ahead = window if avg == 0 else max(2, min(window, int(MEMORY_BUDGET // max(avg, 1.0))))
            while len(pending) < ahead:
                rec, anns = next(records, (None, None))
                if rec is None:
                    break
                pending.append((rec, pool.submit(_prepare_row, rec, anns, coco.label_of, images_dir)))
            if not pending:
                return
            rec, future = pending.popleft()
            result = future.result()
            avg = 0.8 * avg + 0.2 * _row_bytes(result) if avg else float(_row_bytes(result) or 1)
            yield rec, result
    finally:        # stopped early: drop the work queued ahead
        for _, future in pending:
            future.cancel()


def _append_chunk(ds, results: list, chunk: list, summary: ImportSummary) -> None:
    """Append the rows of one chunk and commit them, so an interruption loses at most this chunk."""
    rows = [r for r, *_ in results if r is not None]
    for (row, action, note, skipped), rec in zip(results, chunk):
        summary.add_row(row, action, note, skipped, rec)
    if rows:
        ds.append({col: [r[col] for r in rows] for col in COLUMNS})
        ds.commit(f"segstudio import-coco: {len(ds)} rows")


def import_coco(images_dir, annotations, dest, resume: bool = False, progress=None, should_stop=None,
                chunk_size: int = 32, workers: int | None = None, endpoint_url: str = "",
                reading=None) -> ImportSummary:
    """Import COCO instances into a new Deep Lake dataset at `dest`; see the module docstring.

    workers: threads decoding images and rasterising masks (pycocotools and numpy release the GIL);
    default: one per CPU, at most 8. endpoint_url: an S3-compatible endpoint for an s3:// dest.
    reading(done, total): bytes of the annotations file read so far, over its three passes, before the
    first progress(done, total) of images. should_stop is also asked while the file is read.
    """
    started = time.perf_counter()
    images_dir = Path(images_dir)
    if images_dir.is_file():
        raise DataError(f"{images_dir} is a file, not a folder of images; give the folder holding the image "
                        "files first, then the annotations file.")
    if not images_dir.is_dir():
        raise DataError(f"Images folder {images_dir} does not exist; give the folder holding the image files.")
    try:
        coco = read_coco(annotations, should_stop, reading)
    except StopRequested:
        return ImportSummary(dest=str(dest), images_in_file=0, class_names=[], stopped=True,
                             seconds=time.perf_counter() - started)
    # the whole path: a resume refused for "a different annotations file (annotations.json)" named no file
    where = str(annotations) if "://" in str(annotations) else os.path.abspath(annotations)
    meta = {"annotations": where, "fingerprint": coco.fingerprint,
            "images_in_file": coco.images_in_file, "complete": False}
    # One writer: a second import (or --resume) into the same dataset is refused while this one runs.
    with coco, dataset_lock(str(local_path(str(dest)) or dest)):
        return _import_into(dest, coco, meta, images_dir, resume, progress, should_stop, chunk_size, workers,
                            started, endpoint_url)


def _import_into(dest, coco: CocoIndex, meta: dict, images_dir: Path, resume: bool, progress, should_stop,
                 chunk_size: int, workers: int | None, started: float, endpoint_url: str) -> ImportSummary:
    ds = _open_dest(str(dest), coco, resume, meta, endpoint_url)
    total = coco.images_in_file
    summary = ImportSummary(dest=str(dest), images_in_file=total, class_names=coco.class_names,
                            resumed_rows=len(ds) if resume else 0)
    summary.add_file_problems(coco.skipped, coco.examples)
    done = total - coco.todo_count()
    if progress:
        progress(done, total)
    workers = workers or min(8, os.cpu_count() or 2)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        chunk: list = []
        for rec, result in _prepared(pool, coco, images_dir, chunk_size):
            chunk.append((rec, result))
            if len(chunk) < chunk_size and _chunk_bytes(chunk) < MEMORY_BUDGET and done + len(chunk) < total:
                continue
            _append_chunk(ds, [r for _, r in chunk], [c for c, _ in chunk], summary)
            done += len(chunk)
            chunk = []
            if progress:
                progress(done, total)
            if should_stop is not None and should_stop() and done < total:
                summary.stopped = True
                break
    if not summary.stopped:
        meta["complete"] = True
        ds.metadata[META_KEY] = meta
        ds.commit("segstudio import-coco: complete")
    summary.rows_in_dataset = len(ds)
    summary.seconds = time.perf_counter() - started
    return summary
