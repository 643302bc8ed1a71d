"""Describe a Deep Lake dataset (columns, kinds, rows, version, classes) and map its columns to roles.

`describe` proposes a mapping (images, masks, boxes, labels, optional iscrowd): by column kind first, then
by name. `resolve_mapping` applies the user's config overrides and checks each chosen column's kind.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from segstudio.base.errors import DataError
from segstudio.data.sample import BoxFormat, ColumnMapping

_UNBOUNDED = 2 ** 64 - 1
_KIND_NAMES = {"Image": "image", "BinaryMask": "binary_mask", "SegmentMask": "segment_mask",
               "BoundingBox": "bounding_box", "ClassLabel": "class_label", "Text": "text", "Dict": "dict",
               "Embedding": "embedding", "Polygon": "polygon", "Point": "point", "Sequence": "sequence",
               "Link": "link", "Video": "video", "Audio": "audio", "Medical": "medical", "Mesh": "mesh"}
# Preferred names per role, best first; used to choose among columns of the right kind (or any kind).
ROLE_NAMES = {
    "images": ("images", "image", "imgs", "img", "rgb", "photos", "photo", "pixels"),
    "masks": ("masks", "mask", "instance_masks", "segmentations", "segmentation", "bmasks"),
    "boxes": ("boxes", "bbox", "bboxes", "box", "boxes_ltwh", "bounding_boxes"),
    "labels": ("categories", "labels", "label", "category", "classes", "class", "category_ids"),
    "iscrowd": ("iscrowd", "iscrowds", "is_crowd", "crowd"),
}
ROLE_KINDS = {"images": "image", "masks": "binary_mask", "boxes": "bounding_box", "labels": "class_label"}
REQUIRED_ROLES = ("images", "masks", "labels")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    kind: str           # image, binary_mask, bounding_box, class_label, text, dict, array, scalar, ...
    dtype: str          # uint8, bool, float32, text, ...
    shape: tuple        # per-row shape; None for unbounded dimensions


@dataclass
class DatasetInfo:
    url: str
    num_rows: int
    version: str
    columns: list
    mapping: ColumnMapping | None
    box_format: BoxFormat
    class_names: list
    box_format_known: bool = False
    notes: list = field(default_factory=list)
    box_formats: dict = field(default_factory=dict)     # every bbox column with a recorded format
    class_names_by_column: dict = field(default_factory=dict)   # every label column with class names

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["columns"] = [dict(asdict(c), shape=list(c.shape)) for c in self.columns]
        d["box_formats"] = {k: asdict(v) for k, v in self.box_formats.items()}
        return d


def _column_info(col) -> ColumnInfo:
    t = col.dtype
    kind = _KIND_NAMES.get(t.kind.name)
    shape = tuple(None if s == _UNBOUNDED else int(s) for s in (t.shape or []))
    if kind is None:
        kind = "array" if shape else "scalar"
    return ColumnInfo(col.name, kind, str(t.id), shape)


_BOX_MODES = (None, "ltwh", "ltrb", "ccwh")
_BOX_UNITS = (None, "pixel", "fractional")


def read_box_formats(ds) -> dict:
    """{column: BoxFormat} for bounding-box columns whose format or units the schema records.

    deeplake 4.7 exposes a BoundingBox's format and units through no attribute, but its column types
    compare equal only to a BoundingBox of the same dtype, format and units: the recorded pair is the one
    candidate the column's type equals. Works for datasets, views and Deep Lake 3.x datasets read
    through deeplake.query (their `coords`). A missing format or unit defaults to ltwh / pixel.
    """
    return {c.name: fmt for c in ds.schema.columns
            if c.dtype.kind.name == "BoundingBox" and (fmt := _recorded_box_format(c.dtype)) is not None}


def _recorded_box_format(t) -> BoxFormat | None:
    import deeplake  # noqa: PLC0415

    for mode in _BOX_MODES:
        for units in _BOX_UNITS:
            try:
                same = t == deeplake.types.BoundingBox(t.id, format=mode, bbox_type=units)
            except Exception:  # noqa: BLE001 - a dtype BoundingBox does not take: format unknown
                return None
            if same:
                return BoxFormat(mode or "ltwh", units or "pixel") if (mode or units) else None
    return None


def _pick(columns, role: str, taken: set) -> str:
    """The best column for a role: right kind (name order breaks ties), else a well-named column."""
    names = ROLE_NAMES[role]
    free = [c for c in columns if c.name not in taken]
    kind = ROLE_KINDS.get(role)
    by_kind = [c for c in free if kind and c.kind == kind]

    def rank(c):
        low = c.name.lower()
        return names.index(low) if low in names else len(names)

    if by_kind:
        return min(by_kind, key=rank).name
    fallback = [c for c in free if c.name.lower() in names and _kind_fits(role, c)]
    return min(fallback, key=rank).name if fallback else ""


def _kind_fits(role: str, c: ColumnInfo) -> bool:
    """Whether a column can serve a role; generic arrays are accepted when their dtype/rank fits."""
    if c.kind == ROLE_KINDS.get(role):
        return True
    if c.kind != "array":
        return False
    rank = len(c.shape)
    if role == "images":
        return c.dtype in ("uint8", "uint16") and rank in (2, 3)
    if role == "masks":
        return c.dtype in ("bool", "uint8") and rank in (2, 3)
    if role == "boxes":
        return c.dtype.startswith(("float", "int", "uint")) and rank == 2
    if role in ("labels", "iscrowd"):
        return (c.dtype.startswith(("int", "uint")) or c.dtype == "bool") and rank == 1
    return False


def _class_names(ds, column: str) -> list:
    if not column:
        return []
    try:
        metadata = ds[column].metadata
        # ask first: on a 3.x dataset's query view, reading an absent key crashes deeplake 4.7 (SIGSEGV)
        names = metadata["class_names"] if "class_names" in list(metadata.keys()) else []
    except Exception:  # noqa: BLE001 - absent key raises IndexError/KeyError depending on version
        return []
    return [str(n) for n in (names or [])]


def describe(ds, url: str = "") -> DatasetInfo:
    """Summarise an open dataset and propose a column mapping (None when there is no image column)."""
    columns = [_column_info(c) for c in ds.schema.columns]
    taken: set = set()
    picks = {}
    for role in ("images", "masks", "boxes", "labels", "iscrowd"):
        picks[role] = _pick(columns, role, taken)
        if picks[role]:
            taken.add(picks[role])
    mapping = ColumnMapping(**picks) if picks["images"] else None
    formats = read_box_formats(ds)
    box_format = formats.get(picks["boxes"], BoxFormat())
    notes = []
    if picks["boxes"] and picks["boxes"] not in formats:
        notes.append(f"The box format of column '{picks['boxes']}' is not recorded; assuming ltwh in pixels.")
    by_column = {c.name: _class_names(ds, c.name) for c in columns
                 if c.kind in ("class_label", "array") or c.name == picks["labels"]}
    by_column = {k: v for k, v in by_column.items() if v}
    class_names = by_column.get(picks["labels"], [])
    if picks["labels"] and not class_names:
        notes.append(_no_class_names_message(picks["labels"]))
    notes += _unfinished_import_note(ds, url)
    version = str(getattr(ds, "version", "") or "")
    return DatasetInfo(url=url, num_rows=len(ds), version=version, columns=columns, mapping=mapping,
                       box_format=box_format, class_names=class_names,
                       box_format_known=picks["boxes"] in formats, notes=notes, box_formats=formats,
                       class_names_by_column=by_column)


def _unfinished_import_note(ds, url: str) -> list:
    """A note when `segstudio import-coco` was interrupted before finishing this dataset."""
    try:
        meta = dict(ds.metadata["segstudio_import"])
    except Exception:  # noqa: BLE001 - not made by import-coco (absent key raises, type varies by version)
        return []
    if meta.get("complete", True):
        return []
    return [f"This COCO import was interrupted: {len(ds)} of {meta.get('images_in_file', '?')} images are in; "
            f"run `segstudio import-coco IMAGES_DIR {meta.get('annotations', 'ANNOTATIONS.json')} "
            f"{url or 'DEST'} --resume` to finish it."]


def _no_class_names_message(column: str) -> str:
    return (f"Column '{column}' has no class names; add them with "
            f"ds['{column}'].metadata['class_names'] = [...] and ds.commit(), or set data.class_names.")


def resolve_mapping(info: DatasetInfo, data_cfg) -> tuple:
    """(ColumnMapping, BoxFormat) after applying data_cfg.images/masks/boxes/labels/iscrowd overrides."""
    proposed = info.mapping or ColumnMapping("", "", "", "", "")
    chosen = {role: (getattr(data_cfg, role, "") or getattr(proposed, role)) for role in ROLE_NAMES}
    listing = ", ".join(f"{c.name} ({c.kind})" for c in info.columns) or "none"
    for role, name in chosen.items():
        if not name:
            if role in REQUIRED_ROLES:
                raise DataError(f"No {role} column found (columns: {listing}); set data.{role} to the "
                                f"column that holds the {role}.")
            continue
        col = info.column(name)
        if col is None:
            raise DataError(f"Column '{name}' (data.{role}) does not exist; columns: {listing}.")
        if not _kind_fits(role, col):
            want = ROLE_KINDS.get(role, "boolean or integer array")
            raise DataError(f"Column '{name}' is {col.kind} ({col.dtype}) but data.{role} needs {want}; "
                            f"choose another column (columns: {listing}).")
    mapping = ColumnMapping(**chosen)
    class_names_for(info, mapping, data_cfg)
    return mapping, info.box_formats.get(chosen["boxes"], BoxFormat())


def class_names_for(info: DatasetInfo, mapping: ColumnMapping, data_cfg=None) -> list:
    """Class names of the chosen label column, else those recorded in data_cfg.class_names."""
    names = info.class_names_by_column.get(mapping.labels) or list(getattr(data_cfg, "class_names", []) or [])
    if not names:
        raise DataError(_no_class_names_message(mapping.labels))
    return [str(n) for n in names]
