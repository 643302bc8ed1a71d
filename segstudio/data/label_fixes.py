"""Writing label fixes to a user's dataset: on a branch, one writer at a time, a whole batch or nothing.

A fix changes one instance of one row: its class (relabel), its mask and class (replace), drops it (delete)
or adds a new one (add). A batch is written on a branch (segstudio-fixes unless told otherwise; never
main) and committed once with a message naming where the fixes came from. Deep Lake keeps uncommitted
writes out of the dataset, so a writer killed before or during its commit leaves the branch at its
previous commit (tests/test_label_fixes.py kills one at random moments).
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np

from segstudio.base.errors import DataError
from segstudio.base.locking import dataset_lock
from segstudio.data.fix_target import denied, write_denied
from segstudio.data.open import open_dataset
from segstudio.data.sample import BoxFormat, ColumnMapping, boxes_from_masks, boxes_to_xyxy, masks_layout, masks_to_nhw
from segstudio.data.versions import MAIN, VersionRef, current_ref

FIX_BRANCH = "segstudio-fixes"
ACTIONS = ("relabel", "replace", "delete", "add")


class BoxedMask:
    """A bool mask kept as the bits of its bounding box: a fix waiting in the window holds a few kilobytes,
    not the 12 MB of a 4000x3000 image's full mask."""

    __slots__ = ("shape", "grid", "top", "left", "count", "bits", "box")

    def __init__(self, mask):
        m = np.asarray(mask).astype(bool)
        self.shape = m.shape
        self.grid = (-1, m.shape[-1]) if m.ndim else (1, 1)     # any mask seen as 2-D rows
        grid = m.reshape(self.grid)
        ys, xs = np.flatnonzero(grid.any(axis=1)), np.flatnonzero(grid.any(axis=0))
        self.top, self.left = (int(ys[0]), int(xs[0])) if len(ys) else (0, 0)
        self.box = (int(ys[-1]) + 1 - self.top, int(xs[-1]) + 1 - self.left) if len(ys) else (0, 0)
        crop = grid[self.top:self.top + self.box[0], self.left:self.left + self.box[1]]
        self.count, self.bits = int(crop.sum()), np.packbits(crop, axis=None)

    def _crop(self) -> np.ndarray:
        n = self.box[0] * self.box[1]
        return np.unpackbits(self.bits, count=n).astype(bool).reshape(self.box)

    def full(self) -> np.ndarray:
        """The mask as given: its shape, bool."""
        grid = np.zeros(self.shape, bool).reshape(self.grid)
        grid[self.top:self.top + self.box[0], self.left:self.left + self.box[1]] = self._crop()
        return grid.reshape(self.shape)

    def equals(self, other: np.ndarray) -> bool:
        """Whether `other` is this mask: same shape, same pixels."""
        o = np.asarray(other)
        if o.shape != self.shape:
            return False
        grid = o.reshape(self.grid).astype(bool, copy=False)
        inside = grid[self.top:self.top + self.box[0], self.left:self.left + self.box[1]]
        return int(np.count_nonzero(grid)) == self.count and np.array_equal(inside, self._crop())


@dataclasses.dataclass(frozen=True, eq=False)   # eq=False: masks are arrays, and a fix is itself
class Fix:
    row: int
    action: str                  # one of ACTIONS
    instance: int = -1           # the row's instance (relabel, replace, delete); -1 for add
    label: int = -1              # 0-based class (relabel, replace, add)
    mask: np.ndarray | BoxedMask | None = None   # HxW bool/0-1 (replace, add); kept as a BoxedMask
    # The instance as the reviewer saw it (its stored class and mask): where given, the fix goes to the
    # instance that still has them, whatever its index in the row written (an earlier batch on the branch
    # may have deleted one before it), and stops the batch if none has (the row changed since).
    was_label: int | None = None
    was_mask: np.ndarray | BoxedMask | None = None

    def __post_init__(self):
        for name in ("mask", "was_mask"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, BoxedMask):
                object.__setattr__(self, name, BoxedMask(value))

    def check(self, num_classes: int) -> None:
        if self.action not in ACTIONS:
            raise DataError(f"Unknown fix {self.action!r} for row {self.row}; use one of {', '.join(ACTIONS)}.")
        if self.action != "delete" and not 0 <= self.label < num_classes:
            raise DataError(f"Fix of row {self.row} names class {self.label}, but the dataset has {num_classes} "
                            "classes.")
        if self.action in ("replace", "add") and self.mask is None:
            raise DataError(f"A '{self.action}' fix of row {self.row} needs a mask.")
        if (self.was_mask is None) != (self.was_label is None):
            raise DataError(f"A fix of row {self.row} says what its annotation was only in part; give both its "
                            "class and its mask, or neither.")


class StaleFix(DataError):
    """A fix whose annotation is no longer in its row as the reviewer saw it (`fix`): nothing of its batch
    was written."""

    def __init__(self, fix: Fix):
        what = {"relabel": "new class", "replace": "new mask", "delete": "deletion"}[fix.action]
        self.fix = fix
        self.why = (f"Row {fix.row} changed since it was reviewed (an earlier commit changed or removed the "
                    f"annotation this {what} was for); nothing was written")
        super().__init__(f"{self.why}. Leave this fix out and commit the others, or find the candidates again "
                         "with a run on the newest commit.")


def _xyxy_to_format(boxes: np.ndarray, fmt: BoxFormat, width: int, height: int) -> np.ndarray:
    """The inverse of sample.boxes_to_xyxy: Nx4 x1,y1,x2,y2 pixels -> the column's format."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    if fmt.fmt == "ltwh":
        b[:, 2:] -= b[:, :2]
    elif fmt.fmt == "ccwh":
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        b = np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w, h], axis=1).astype(np.float32)
    if fmt.units == "fractional":
        b[:, [0, 2]] /= width
        b[:, [1, 3]] /= height
    return b


def _fixed_row(cells: dict, fixes: list[Fix], box_format: BoxFormat, height: int, width: int) -> dict:
    """A row's masks, boxes, labels (and crowd flags) with its fixes applied, in the columns' layouts."""
    layout = masks_layout(np.asarray(cells["masks"]).shape, height, width)
    masks = np.ascontiguousarray(masks_to_nhw(cells["masks"], height, width)).astype(bool)
    labels = np.asarray(cells["labels"]).reshape(-1).astype(np.int64)
    boxes = (boxes_to_xyxy(cells["boxes"], box_format, width, height) if "boxes" in cells
             else boxes_from_masks(masks.view(np.uint8)))
    crowd = np.asarray(cells["iscrowd"]).reshape(-1).astype(bool) if "iscrowd" in cells else None
    keep = np.ones(len(labels), bool)
    new_masks, new_labels = [], []
    at: list[int] = []                                       # found before any fix changes the row
    for fix in fixes:
        at.append(_instance_of(fix, masks, labels, taken={i: f.instance for i, f in zip(at, fixes) if i >= 0}))
    for fix, i in zip(fixes, at):
        if fix.action == "delete":
            keep[i] = False
        elif fix.action == "relabel":
            labels[i] = fix.label
        else:
            mask = fix.mask.full().reshape(height, width)
            if fix.action == "replace":
                masks[i], labels[i] = mask, fix.label
                boxes[i] = boxes_from_masks(mask[None].view(np.uint8))[0]
            else:
                new_masks.append(mask)
                new_labels.append(fix.label)
    masks, labels, boxes = masks[keep], labels[keep], boxes[keep]
    if new_masks:
        added = np.stack(new_masks)
        masks = np.concatenate([masks, added])
        labels = np.concatenate([labels, np.asarray(new_labels, np.int64)])
        boxes = np.concatenate([boxes, boxes_from_masks(added.view(np.uint8))])
    out = {"masks": np.moveaxis(masks, 0, 2).copy() if layout in ("hwn", "hw", "empty") else masks,
           "labels": labels.astype(np.asarray(cells["labels"]).dtype, copy=False)}
    if "boxes" in cells:
        out["boxes"] = _xyxy_to_format(boxes, box_format, width, height)
    if crowd is not None:
        out["iscrowd"] = np.concatenate([crowd[keep], np.zeros(len(new_labels), bool)]).astype(
            np.asarray(cells["iscrowd"]).dtype, copy=False)
    return out


def _instance_of(fix: Fix, masks: np.ndarray, labels: np.ndarray, taken: dict) -> int:
    """The index in the row (as it is now) of the instance `fix` changes: fix.instance, or where the fix says
    what the instance was, the one that still is that (class and mask), and not one an earlier fix of the
    batch found for another instance (identical duplicates: each its own). StaleFix where there is none."""
    if fix.action == "add":
        return -1
    if fix.was_mask is None:
        if 0 <= fix.instance < len(labels):
            return fix.instance
        raise DataError(f"Row {fix.row} has {len(labels)} instances; instance {fix.instance} cannot be fixed "
                        "(the dataset changed since the candidates were found: find them again).")
    same = [j for j in range(len(labels)) if labels[j] == fix.was_label and fix.was_mask.equals(masks[j])
            and taken.get(j, fix.instance) == fix.instance]
    if not same:
        raise StaleFix(fix)
    return fix.instance if fix.instance in same else same[0]


def _columns(mapping: ColumnMapping) -> dict:
    names = {"masks": mapping.masks, "labels": mapping.labels, "boxes": mapping.boxes, "iscrowd": mapping.iscrowd}
    return {role: column for role, column in names.items() if column}


def write_fixes(ds, fixes: list[Fix], mapping: ColumnMapping, box_format: BoxFormat, num_classes: int,
                message: str) -> VersionRef:
    """Apply `fixes` to the writable dataset `ds` (already on the branch to write) and commit them once."""
    for fix in fixes:
        fix.check(num_classes)
    by_row: dict[int, list[Fix]] = defaultdict(list)
    for fix in fixes:
        by_row[int(fix.row)].append(fix)
    try:
        for row, row_fixes in sorted(by_row.items()):
            _write_row(ds, row, row_fixes, mapping, box_format)
        ds.commit(message)
    except BaseException:
        ds.rollback()   # nothing of a failed batch stays (uncommitted writes are invisible to readers anyway)
        raise
    return current_ref(ds)


def _write_row(ds, row: int, fixes: list[Fix], mapping: ColumnMapping, box_format: BoxFormat) -> None:
    if not 0 <= row < len(ds):
        raise DataError(f"Row {row} does not exist (the dataset has {len(ds)} rows); find the candidates again.")
    columns = _columns(mapping)
    image = ds[mapping.images]
    height, width = np.asarray(image[row]).shape[:2]
    cells = {role: ds[column][row] for role, column in columns.items()}
    for role, value in _fixed_row(cells, fixes, box_format, height, width).items():
        column = ds[columns[role]]   # a column is used while its dataset is referenced (Deep Lake expires it)
        column[row] = value


def open_fix_branch(url: str, branch: str = FIX_BRANCH, *, endpoint_url: str = "", creds: dict | None = None,
                    base: VersionRef | None = None):
    """The writable dataset on `branch` (made from `base`, the version reviewed, or else main's newest commit,
    when it does not exist yet), and the objects that must stay referenced while it is used. Never main: fixes
    are merged by the user."""

    if not branch or branch == MAIN:
        raise DataError("segstudio writes label fixes on a branch, never on main; choose a branch name (the "
                        f"default is {FIX_BRANCH}) and merge it with Deep Lake once you are happy with it.")
    ds = open_dataset(url, endpoint_url=endpoint_url, creds=creds, read_only=False)
    if branch not in ds.branches.names():
        parent = ds if base is None or base.branch in ("", MAIN) else ds.branches[base.branch].open()
        parent.branch(branch, version=base.commit if base is not None and base.commit else None)
    branches = ds.branches
    handle = branches[branch]
    return handle.open(), (ds, branches, handle)


def commit_fixes(url: str, fixes: list[Fix], mapping: ColumnMapping, box_format: BoxFormat, num_classes: int,
                 message: str, *, branch: str = FIX_BRANCH, endpoint_url: str = "", creds: dict | None = None,
                 base: VersionRef | None = None) -> VersionRef:
    """Commit `fixes` on `branch` of the dataset at `url` as one batch, holding the dataset's writer lock.
    fix_target.FixesBlocked (with the way out) when the storage refuses the write."""

    if not fixes:
        raise DataError("There are no fixes to commit.")
    with dataset_lock(url):
        try:
            ds, _keep = open_fix_branch(url, branch, endpoint_url=endpoint_url, creds=creds, base=base)
            return write_fixes(ds, fixes, mapping, box_format, num_classes, message)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - storage/permission errors of many types: one sentence
            if write_denied(exc):
                raise denied(url) from None
            raise DataError(f"Cannot write to {url} ({type(exc).__name__}); check that the dataset can be "
                            "written, or copy it and fix the copy.") from None
