"""Where a review's label fixes can be written; where they cannot, one sentence and the way out.

Fixes go on a branch made from the version being reviewed (data.label_fixes). Three cases cannot take them:
- a Deep Lake 3.x dataset (deeplake 4 reads it only through a query): the way out is a Deep Lake 4 copy
  (deeplake.convert), whose fixes branch takes them;
- a tag or an old commit (history does not change, and the fixes branch may have moved on): a new branch
  made from exactly that commit;
- credentials without write access (known only when the storage refuses a write): a copy somewhere the
  user can write (deeplake.copy, every branch and tag included).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import platformdirs

from segstudio.base.errors import DataError
from segstudio.data.open import local_path, open_readable, strip_secrets
from segstudio.data.versions import VersionRef

OFFER_BRANCH, OFFER_COPY = "branch", "copy"


class FixesBlocked(DataError):
    """Fixes cannot be written where asked. `offer`: OFFER_BRANCH (a new branch `suggestion` made from `base`)
    or OFFER_COPY (a copy of the dataset at `suggestion`, a path or URL the user may change)."""

    def __init__(self, message: str, offer: str, suggestion: str, base: VersionRef | None = None):
        super().__init__(message)
        self.offer, self.suggestion, self.base = offer, suggestion, base


def _branch_name(ref: VersionRef) -> str:
    return f"segstudio-fixes-{ref.tag or ref.commit[:10]}"


def suggested_copy(url: str) -> str:
    """A local folder for a copy: beside a local dataset, else in segstudio's data folder."""

    path = local_path(url)
    if path is not None:
        return str(path.parent / f"{path.name}-fixes")
    root = os.environ.get("SEGSTUDIO_DATA_DIR")
    if not root:
        root = platformdirs.user_data_dir("segstudio", appauthor=False)
    return str(Path(root) / "copies" / f"{url.rstrip('/').rsplit('/', 1)[-1] or 'dataset'}-fixes")


def _is_head(mapped, ref: VersionRef) -> bool:
    """Whether `ref` is its branch's newest commit (a dataset opened at an old commit says it is on the branch)."""

    try:
        root, _ = open_readable(mapped.url, endpoint_url=mapped.endpoint_url, creds=mapped.creds.value)
        branches = root.branches
        handle = branches[ref.branch]
        return str(handle.open().version) == ref.commit
    except Exception:  # noqa: BLE001 - a branch that cannot be opened is not a head fixes can follow
        return False


def check_target(mapped) -> FixesBlocked | None:
    """Why fixes of the version `mapped` reads cannot go on a fixes branch, with the way out; None when they can
    (write denials are found only by writing: commit_fixes raises FixesBlocked then)."""
    if mapped.legacy_v3:
        return FixesBlocked(f"{mapped.url} is a Deep Lake 3.x dataset, which segstudio cannot write; write the "
                            "fixes to a Deep Lake 4 copy of it instead.", OFFER_COPY, suggested_copy(mapped.url))
    ref = mapped.ref
    if ref.tag:
        return FixesBlocked(f"You are reviewing tag {ref.tag}, which never changes; write the fixes on a new branch "
                            "made from it instead.", OFFER_BRANCH, _branch_name(ref), ref)
    if ref.commit and not _is_head(mapped, ref):
        return FixesBlocked(f"You are reviewing an old commit of branch {ref.branch} ({ref.commit[:10]}), which never "
                            "changes; write the fixes on a new branch made from it instead.", OFFER_BRANCH,
                            _branch_name(ref), ref)
    return None


def write_denied(exc: Exception) -> bool:
    """Whether a storage exception is a refused write (read-only credentials or bucket policy)."""
    text = str(exc)
    return type(exc).__name__ in ("StorageAccessDenied", "AuthorizationError", "PermissionDeniedError") or \
        "AccessDenied" in text or "status=403" in text or isinstance(exc, PermissionError)


def denied(url: str) -> FixesBlocked:
    return FixesBlocked(f"The storage refused to write to {url} (the credentials have no write access); write the "
                        "fixes to a copy of the dataset instead, or use credentials that may write.", OFFER_COPY,
                        suggested_copy(url))


def copy_for_fixes(mapped, dest: str, *, dest_creds: dict | None = None, chunk: int = 64) -> str:
    """Copy the version `mapped` reads to a new dataset at `dest`, for fixes to be written there; -> dest.
    A Deep Lake 3.x dataset is converted (deeplake.convert). A Deep Lake 4 one is copied row by row from the
    version reviewed (deeplake.like, then appends): deeplake.copy would copy the main branch's head, and it
    failed against the test S3 server (moto answers its read of an empty lock file with 416). Refuses an
    existing destination; a failed copy is removed (one sentence either way)."""
    import deeplake  # noqa: PLC0415 - Deep Lake only when a copy is made


    dest = (dest or "").strip()
    path = local_path(dest)
    if not dest or (path is not None and path.exists() and any(path.iterdir())) or \
            (path is None and deeplake.exists(dest, creds=dest_creds)):
        raise DataError(f"Cannot copy the dataset to {dest or 'an empty name'}: choose a new folder or URL that "
                        "holds nothing yet.")
    try:
        if mapped.legacy_v3:
            deeplake.convert(mapped.url, dest, dst_creds=dest_creds)
        else:
            _copy_rows(mapped.ds, deeplake.like(mapped.ds, dest, creds=dest_creds), chunk,
                       f"copy of {strip_secrets(mapped.url)} at {mapped.ref or 'its newest commit'}")
    except Exception as exc:  # noqa: BLE001 - storage errors of many types: one sentence
        _remove(dest, dest_creds)
        raise DataError(f"Copying {strip_secrets(mapped.url)} to {dest} failed ({type(exc).__name__}); check that "
                        "the destination can be written and has room.") from None
    return dest


def _copy_rows(src, dst, chunk: int, message: str) -> None:
    """Every row of `src` appended to the empty `dst` (image columns as their stored bytes), one commit."""

    kinds = {c.name: c.dtype.kind.name for c in src.schema.columns}
    for start in range(0, len(src), chunk):
        rows = list(range(start, min(len(src), start + chunk)))
        cols = {}
        for name, kind in kinds.items():
            column = src[name]
            cols[name] = ([bytes(b) for b in column.get_bytes(rows)] if kind == "Image" else
                          [str(column[r]) for r in rows] if kind == "Text" else [np.asarray(column[r]) for r in rows])
        dst.append(cols)
    dst.commit(message)


def _remove(dest: str, creds: dict | None) -> None:
    import deeplake  # noqa: PLC0415 - Deep Lake only when a copy is made

    try:
        deeplake.delete(dest, creds=creds)
    except Exception:  # noqa: BLE001 - nothing (or nothing readable) was made there
        pass
