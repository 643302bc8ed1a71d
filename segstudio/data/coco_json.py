"""Read and check a COCO instances file without holding it in memory.

The file is parsed incrementally (ijson, with yajl's C parser) in three passes, so the order of its keys
does not matter ("annotations" may come before "images"): the categories (a short list, kept), the
images, then the annotations. Images and annotations go to a temporary SQLite file indexed by image id;
the importer walks the images in file order and reads each one's annotations back. Memory stays flat
whatever the size of the file (the categories, one batch of records, SQLite's page cache capped at 32 MB;
nothing per image); the temporary file takes about the JSON's size on disk, in the system's temporary
folder (TMPDIR), and is deleted as soon as it is created, so even a killed import leaves none.

Problems in the file itself (not JSON, missing keys) are DataErrors naming what is wrong. Problems in
single records (annotations pointing at unknown images or categories, duplicate image ids, annotations
without a segmentation) are counted and skipped, never fatal.
"""
from __future__ import annotations

import hashlib
import itertools
import marshal
import math
import operator
import os
import sqlite3
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path

import ijson

from segstudio.base.errors import DataError
from segstudio.data.coco_reader import CocoReader, json_error, not_text, top_level_kind

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
BATCH = 5000                   # records inserted per statement; also how often a stop request is checked
KEY_ORDER = ("images", "annotations", "categories")
_SCHEMA = """
CREATE TABLE images (seq INTEGER PRIMARY KEY, id INTEGER, file_name TEXT, width INTEGER, height INTEGER);
CREATE TABLE anns (seq INTEGER PRIMARY KEY, image_id INTEGER, category_id INTEGER, usable INTEGER, ref,
                   data BLOB);
CREATE TABLE cats (id INTEGER PRIMARY KEY);
CREATE TABLE done (id INTEGER PRIMARY KEY);
"""
_WALK = """SELECT i.seq, i.id, i.file_name, i.width, i.height, a.data FROM images AS i
    LEFT JOIN anns AS a ON a.image_id = i.id AND a.usable = 1 AND a.category_id IN cats
    WHERE i.id NOT IN done ORDER BY i.seq, a.seq"""


class StopRequested(Exception):
    """should_stop() answered True while the file was being read; nothing was written."""


class CocoIndex:
    """A checked COCO file: classes in memory, images and annotations in a temporary SQLite file.

    Use it as a context manager (closing it drops the temporary file) in the thread that made it.
    """

    def __init__(self, path: str, db: sqlite3.Connection, fingerprint: str):
        self.path, self.db, self.fingerprint = path, db, fingerprint
        self.class_names: list = []      # index = class label (categories sorted by id)
        self.category_ids: list = []     # COCO category id of each class label
        self.label_of: dict = {}         # COCO category id -> class label
        self.images_in_file = 0          # unique image ids
        self.skipped: Counter = Counter()    # reason -> count
        self.examples: dict = {}             # reason -> first few offending ids

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.db.close()

    def exclude(self, image_ids) -> None:
        """Leave these image ids out of `images` (rows already in a dataset being resumed)."""
        self.db.executemany("INSERT OR IGNORE INTO done VALUES (?)", ((int(i),) for i in image_ids))

    def todo_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images WHERE id NOT IN done").fetchone()[0]

    def images(self):
        """(record, annotations) for each image not excluded, in file order. record: {id, file_name, width,
        height}, width and height None unless the file gives numbers; annotations: the image's usable ones in
        file order. One query walks both (SQLite reads the images in
        order and looks each one's annotations up in the index: no sort)."""
        for _, group in itertools.groupby(self.db.execute(_WALK), key=operator.itemgetter(0)):
            rows = list(group)
            _, iid, file_name, width, height, _ = rows[0]
            yield ({"id": iid, "file_name": file_name, "width": width, "height": height},
                   [marshal.loads(r[5]) for r in rows if r[5] is not None])


def _note(index: CocoIndex, reason: str, count: int, examples: list) -> None:
    if count:
        index.skipped[reason] += count
        index.examples.setdefault(reason, []).extend(examples[:5])


def _require_keys(record, keys: tuple, where: str, path, i: int = 0) -> None:
    """where: e.g. "images[{}]", formatted with i only for the message (this runs for every record)."""
    if not isinstance(record, dict):
        raise DataError(f"{where.format(i)} in {path} is not a JSON object; fix the file.")
    for key in keys:
        if key not in record:
            raise DataError(f"{where.format(i)} in {path} has no '{key}' key; fix or re-export the file.")


def categories_to_classes(categories: list, path) -> tuple:
    """(class_names, category_ids, label_of): sorted by id, unused ones kept, duplicate names
    disambiguated as "name (id N)" so that ids stay distinct and no two classes share a name."""
    seen_ids = set()
    cats = []
    for i, c in enumerate(categories):
        _require_keys(c, ("id",), "categories[{}]", path, i)
        cid = _as_int(c["id"], "categories[{}].id", path, i)
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


def _as_int(value, where: str, path, i: int = 0) -> int:
    """An id as int64; where: e.g. "images[{}].id", formatted with i only for the message."""
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:      # the usual case, first
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DataError(f"{where.format(i)} in {path} is {value!r}, not an integer id; fix the file.")
    try:
        out = int(value)
    except (ValueError, OverflowError):
        raise DataError(f"{where.format(i)} in {path} is {value!r}, not an integer id; fix the file.") from None
    if isinstance(value, float) and out != value:
        raise DataError(f"{where.format(i)} in {path} is {value!r}, not an integer id; fix the file.")
    if not INT64_MIN <= out <= INT64_MAX:     # stored as int64: a larger id would wrap and break --resume
        raise DataError(f"{where.format(i)} in {path} is {value!r}, too large for a 64-bit id; renumber the ids.")
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


def _size(value):
    """A width or height as the file gives it: an int when it is a finite number, else None."""
    if isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < 2 ** 62:
        return int(value)
    return None


def _ref(value):
    """An annotation's id as the summary quotes it (SQLite stores 64-bit integers, text and floats)."""
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    return value if isinstance(value, (str, float)) else repr(value)


def _items(path: str, prefix: str, should_stop, sha=None, on_read=None):
    """The values under `prefix` (e.g. "images.item"), numbers as int or float like json.load gives them."""
    with CocoReader(path, sha, on_read) as reader:
        try:
            for i, item in enumerate(ijson.items(reader, prefix, use_float=True)):
                if i and i % BATCH == 0 and should_stop is not None and should_stop():
                    raise StopRequested
                yield item
        except ijson.JSONError as exc:
            raise json_error(exc, reader) from None
        except UnicodeDecodeError:
            raise not_text(path) from None


def _no_room(exc: Exception) -> DataError:
    return DataError(f"Cannot write the COCO file's temporary index in {tempfile.gettempdir()} ({exc}); free "
                     "space there, or set TMPDIR to a folder with room for about the size of the JSON file.")


def _temp_db() -> sqlite3.Connection:
    try:
        fd, name = tempfile.mkstemp(prefix="segstudio-coco-", suffix=".sqlite")
        os.close(fd)
        try:
            db = sqlite3.connect(name)
            db.execute("PRAGMA journal_mode = OFF")     # opens the file: from here on the connection holds it
        finally:
            os.unlink(name)     # gone from the folder now, freed at close or exit, even after a kill
        db.executescript("PRAGMA synchronous = OFF; PRAGMA cache_size = -32000;" + _SCHEMA)   # 32 MB page cache
    except (OSError, sqlite3.Error) as exc:
        raise _no_room(exc) from None
    return db


def _spool(index: CocoIndex, prefix: str, table: str, to_row, should_stop, on_read) -> int:
    """Insert to_row(i, record) for each record under `prefix` into `table`; returns the count."""
    rows, count = [], 0
    for count, record in enumerate(_items(index.path, prefix, should_stop, None, on_read), start=1):
        rows.append(to_row(count - 1, record))
        if len(rows) >= BATCH:
            index.db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            rows.clear()
    if rows:
        index.db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    return count


def _image_row(index: CocoIndex, i: int, img) -> tuple:
    _require_keys(img, ("id", "file_name"), "images[{}]", index.path, i)
    iid = _as_int(img["id"], "images[{}].id", index.path, i)
    return i, iid, str(img["file_name"]), _size(img.get("width")), _size(img.get("height"))


def _annotation_row(index: CocoIndex, i: int, ann) -> tuple:
    _require_keys(ann, ("image_id", "category_id"), "annotations[{}]", index.path, i)
    iid = _as_int(ann["image_id"], "annotations[{}].image_id", index.path, i)
    cid = _as_int(ann["category_id"], "annotations[{}].category_id", index.path, i)
    return i, iid, cid, int(_has_segmentation(ann.get("segmentation"))), _ref(ann.get("id", i)), marshal.dumps(ann)


def _drop_duplicate_images(index: CocoIndex) -> None:
    """Keep the first image of each id (file order); count the others."""
    db = index.db
    db.execute("CREATE INDEX images_by_id ON images (id, seq)")
    dups = "FROM images AS a WHERE EXISTS (SELECT 1 FROM images AS b WHERE b.id = a.id AND b.seq < a.seq)"
    count = db.execute(f"SELECT COUNT(*) {dups}").fetchone()[0]
    if count:
        _note(index, "duplicate image id", count, [r for r, in db.execute(f"SELECT id {dups} ORDER BY seq LIMIT 5")])
        db.execute(f"DELETE FROM images WHERE seq IN (SELECT seq {dups})")
    index.images_in_file = db.execute("SELECT COUNT(*) FROM images").fetchone()[0]


# Why an annotation is skipped, in the order it is asked (a number: its place in _ANN_REASONS).
_ANN_PROBLEM = """CASE WHEN image_id NOT IN (SELECT id FROM images) THEN 0 WHEN category_id NOT IN cats THEN 1
    WHEN usable = 0 THEN 2 END"""
_ANN_REASONS = ("annotation for an unknown image", "annotation with an unknown category",
                "annotation without a usable segmentation")


def _count_annotation_problems(index: CocoIndex) -> None:
    """Count the skipped annotations by reason (one scan), with the first few ids of each in file order."""
    index.db.execute("CREATE INDEX anns_by_image ON anns (image_id, seq)")
    counts = index.db.execute(f"SELECT {_ANN_PROBLEM} AS p, COUNT(*) FROM anns GROUP BY p").fetchall()
    for problem, count in sorted((p, c) for p, c in counts if p is not None):
        refs = index.db.execute(f"SELECT ref FROM anns WHERE {_ANN_PROBLEM} = ? ORDER BY seq LIMIT 5", (problem,))
        _note(index, _ANN_REASONS[problem], count, [r for r, in refs])


def _kind(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


def _require_lists(path: str, counts: dict) -> None:
    """When a list gave no records: is it there, and is it a list? (an empty list is fine)

    One more pass per such key, which builds that key's value: empty, or not a list (when it is a huge
    object, json.load would have built it too)."""
    for key in KEY_ORDER:
        if counts[key]:
            continue
        values = list(_items(path, key, None))
        if not values:
            raise DataError(f"{path} has no '{key}' list, so it is not a COCO instances file; re-export it "
                            "in COCO format.")
        if not isinstance(values[0], list):
            raise DataError(f"'{key}' in {path} is {_kind(values[0])}, not a list; fix the file.")


def _pass_reports(reading, path: str) -> list:
    """One on_read callback per pass, turning its bytes read into reading(done, total) over all three."""
    if reading is None:
        return [None] * 3
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    return [lambda n, k=k: reading(k * size + n, 3 * size) for k in range(3)]


def read_coco(path: str | Path, should_stop=None, reading=None) -> CocoIndex:
    """Parse and check a COCO instances file (three passes, see the module docstring).

    reading(done, total): bytes read so far over the three passes. Raises DataError for a file that
    cannot be imported, StopRequested when should_stop() says so.
    """
    path = str(path)
    sha, reports = hashlib.sha1(), _pass_reports(reading, path)
    categories = list(_items(path, "categories.item", should_stop, sha, reports[0]))   # all the syntax too
    kind = top_level_kind(path)
    if kind != "object":
        raise DataError(f"{path} holds a JSON {kind}, not a COCO object with 'images', 'annotations' and "
                        "'categories'; give a COCO instances file.")
    index = CocoIndex(path, _temp_db(), sha.hexdigest())
    try:
        index.class_names, index.category_ids, index.label_of = categories_to_classes(categories, path)
        index.db.executemany("INSERT INTO cats VALUES (?)", ((cid,) for cid in index.category_ids))
        counts = {"images": _spool(index, "images.item", "images", partial(_image_row, index), should_stop,
                                   reports[1]),
                  "annotations": _spool(index, "annotations.item", "anns", partial(_annotation_row, index),
                                        should_stop, reports[2]),
                  "categories": len(categories)}
        _require_lists(path, counts)
        _drop_duplicate_images(index)
        _count_annotation_problems(index)
    except sqlite3.OperationalError as exc:      # a full disk ("database or disk is full") or a failing one
        index.db.close()
        raise _no_room(exc) from None
    except BaseException:
        index.db.close()
        raise
    if not index.class_names:
        index.db.close()
        raise DataError(f"{path} has an empty 'categories' list, so its masks would have no class names; "
                        "export it again with the label classes included.")
    return index
