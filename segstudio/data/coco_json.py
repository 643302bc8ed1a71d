"""Read and check a COCO instances file: images, categories (class names) and annotations per image.

Problems in the file itself (not JSON, missing keys) are DataErrors naming what is wrong. Problems in
single records (annotations pointing at unknown images or categories, duplicate image ids, annotations
without a segmentation) are counted and skipped, never fatal.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from segstudio.errors import DataError


INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


@dataclass
class CocoFile:
    path: str
    images: list                 # image records in file order, unique ids
    class_names: list            # index = class label (categories sorted by id)
    category_ids: list           # COCO category id of each class label
    label_of: dict               # COCO category id -> class label
    anns_by_image: dict          # image id -> list of annotation records (valid ones only)
    skipped: Counter = field(default_factory=Counter)   # reason -> count
    examples: dict = field(default_factory=dict)        # reason -> first few offending ids


def _note(coco_skipped: Counter, examples: dict, reason: str, what) -> None:
    coco_skipped[reason] += 1
    examples.setdefault(reason, [])
    if len(examples[reason]) < 5:
        examples[reason].append(what)


def load_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw.startswith(b"\xef\xbb\xbf"):     # a UTF-8 byte-order mark, as some Windows tools write
            raw = raw[3:]
        data = json.loads(raw)
    except FileNotFoundError:
        raise DataError(f"Annotations file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give the COCO annotations .json file.") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text JSON file; give the COCO annotations .json file.") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                        "fix or re-export the file.") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a JSON {type(data).__name__}, not a COCO object with 'images', "
                        "'annotations' and 'categories'; give a COCO instances file.")
    return data


def _require_list(data: dict, key: str, path) -> list:
    if key not in data:
        raise DataError(f"{path} has no '{key}' list, so it is not a COCO instances file; re-export it "
                        "in COCO format.")
    if not isinstance(data[key], list):
        raise DataError(f"'{key}' in {path} is a {type(data[key]).__name__}, not a list; fix the file.")
    return data[key]


def _require_keys(record, keys: tuple, where: str, path) -> None:
    if not isinstance(record, dict):
        raise DataError(f"{where} in {path} is not a JSON object; fix the file.")
    missing = [k for k in keys if k not in record]
    if missing:
        raise DataError(f"{where} in {path} has no '{missing[0]}' key; fix or re-export the file.")


def categories_to_classes(categories: list, path) -> tuple:
    """(class_names, category_ids, label_of): sorted by id, unused ones kept, duplicate names
    disambiguated as "name (id N)" so that ids stay distinct and no two classes share a name."""
    seen_ids = set()
    cats = []
    for i, c in enumerate(categories):
        _require_keys(c, ("id",), f"categories[{i}]", path)
        cid = _as_int(c["id"], f"categories[{i}].id", path)
        if cid in seen_ids:
            raise DataError(f"Category id {cid} appears twice in {path}; give each category its own id.")
        seen_ids.add(cid)
        name = str(c.get("name") or "").strip() or f"class {cid}"
        cats.append((cid, name))
    cats.sort()
    counts = Counter(name for _, name in cats)
    names = [f"{name} (id {cid})" if counts[name] > 1 else name for cid, name in cats]
    ids = [cid for cid, _ in cats]
    return names, ids, {cid: label for label, cid in enumerate(ids)}


def _as_int(value, where: str, path) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DataError(f"{where} in {path} is {value!r}, not an integer id; fix the file.")
    try:
        out = int(value)
    except ValueError:
        raise DataError(f"{where} in {path} is {value!r}, not an integer id; fix the file.") from None
    if isinstance(value, float) and out != value:
        raise DataError(f"{where} in {path} is {value!r}, not an integer id; fix the file.")
    if not INT64_MIN <= out <= INT64_MAX:     # stored as int64: a larger id would wrap and break --resume
        raise DataError(f"{where} in {path} is {value!r}, too large for a 64-bit id; renumber the ids.")
    return out


def annotation_id(ann: dict) -> int:
    """The annotation's id as int64, or -1 when absent or unusable (it is only kept for reference)."""
    value = ann.get("id", -1)
    try:
        out = int(value)
    except (TypeError, ValueError, OverflowError):
        return -1
    return out if INT64_MIN <= out <= INT64_MAX else -1


def _has_segmentation(seg) -> bool:
    if isinstance(seg, dict):
        return "counts" in seg and "size" in seg
    if isinstance(seg, list) and len(seg) >= 6 and all(isinstance(v, (int, float)) for v in seg):
        return True     # a flat list: one polygon
    return isinstance(seg, list) and any(isinstance(p, list) and len(p) >= 6 for p in seg)


def read_coco(path: str | Path) -> CocoFile:
    """Parse and check a COCO instances file."""
    data = load_json(path)
    images_raw = _require_list(data, "images", path)
    anns_raw = _require_list(data, "annotations", path)
    cats_raw = _require_list(data, "categories", path)
    class_names, category_ids, label_of = categories_to_classes(cats_raw, path)
    skipped, examples = Counter(), {}
    images, known = [], set()
    for i, img in enumerate(images_raw):
        _require_keys(img, ("id", "file_name"), f"images[{i}]", path)
        iid = _as_int(img["id"], f"images[{i}].id", path)
        if iid in known:
            _note(skipped, examples, "duplicate image id", iid)
            continue
        known.add(iid)
        images.append(dict(img, id=iid))
    anns_by_image = defaultdict(list)
    for i, ann in enumerate(anns_raw):
        _require_keys(ann, ("image_id", "category_id"), f"annotations[{i}]", path)
        iid = _as_int(ann["image_id"], f"annotations[{i}].image_id", path)
        cid = _as_int(ann["category_id"], f"annotations[{i}].category_id", path)
        if iid not in known:
            _note(skipped, examples, "annotation for an unknown image", ann.get("id", i))
        elif cid not in label_of:
            _note(skipped, examples, "annotation with an unknown category", ann.get("id", i))
        elif not _has_segmentation(ann.get("segmentation")):
            _note(skipped, examples, "annotation without a usable segmentation", ann.get("id", i))
        else:
            anns_by_image[iid].append(ann)
    if not class_names:
        raise DataError(f"{path} has an empty 'categories' list, so its masks would have no class names; "
                        "export it again with the label classes included.")
    return CocoFile(str(path), images, class_names, category_ids, label_of, dict(anns_by_image),
                    skipped, examples)
