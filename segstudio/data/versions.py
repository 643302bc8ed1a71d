"""Dataset versions: read a dataset at a branch, tag or commit, and say exactly which state was read.

Deep Lake 4 numbers commits per branch ("0000000001m00000000" exists on main and on every branch made
from it), so a commit is named with its branch: "exp@0000000001m00000000". A dataset opened at a tag or an
old commit pickles as its branch's head (checked on deeplake 4.7), so a loader worker does not inherit the
version: `open_at` reopens the exact state from the `VersionRef` the run recorded.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt

from segstudio.base.errors import DataError

MAIN = "main"


@dataclasses.dataclass(frozen=True)
class VersionRef:
    """One exact state of a dataset: a commit on a branch (and the tag it was asked by, if any)."""

    branch: str
    commit: str
    tag: str = ""

    def __str__(self) -> str:
        return f"{self.branch}@{self.commit}" if self.branch and self.commit else ""

    @classmethod
    def parse(cls, text: str) -> VersionRef | None:
        """'branch@commit' (as recorded in a run card) -> VersionRef; None for anything else."""
        branch, sep, commit = (text or "").partition("@")
        return cls(branch, commit) if sep and branch and commit else None


@dataclasses.dataclass(frozen=True)
class Commit:
    id: str
    time: str
    message: str


def current_ref(ds) -> VersionRef:
    """The exact state `ds` is at (empty for views and Deep Lake 3.x datasets, which have none)."""
    branch = getattr(ds, "current_branch", None)
    version = str(getattr(ds, "version", "") or "")
    name = str(getattr(branch, "name", "") or "")
    return VersionRef(name, version) if name and version else VersionRef("", "")


def version_key(ds) -> str:
    """A key naming the dataset and its exact state, for caches (rows, pre-flight, audit): the dataset's random
    id (a dataset re-created at the same path starts again at the same version string), the branch's id
    (commit ids repeat across branches) and the commit. Empty when the state is unknown (views, Deep Lake 3.x
    datasets read through a query): never cache those."""
    version = str(getattr(ds, "version", "") or "")
    ident = str(getattr(ds, "id", "") or "")
    branch = getattr(ds, "current_branch", None)
    branch_id = str(getattr(branch, "id", "") or "")
    if not (version and ident):
        return ""
    return f"{ident}/{branch_id}/{version}" if branch_id and getattr(branch, "name", MAIN) != MAIN \
        else f"{ident}/{version}"


def names(ds) -> tuple[list[str], list[str]]:
    """(branches, tags) of a dataset; empty lists where it has none (views, Deep Lake 3.x)."""
    try:
        return sorted(ds.branches.names()), sorted(ds.tags.names())
    except AttributeError:
        return [], []


def history(ds, limit: int = 200) -> list[Commit]:
    """The commits of the branch `ds` is on, newest first (at most `limit`)."""
    try:
        entries = list(ds.history)
    except AttributeError:
        return []
    out = []
    for entry in reversed(entries[-limit:] if limit else entries):
        stamp = getattr(entry, "timestamp", None)
        when = stamp.strftime("%Y-%m-%d %H:%M:%S") if isinstance(stamp, _dt.datetime) else str(stamp or "")
        out.append(Commit(str(entry.id), when, str(getattr(entry, "message", "") or "")))
    return out


def _not_found(spec: str, ds) -> DataError:
    branches, tags = names(ds)
    listed = (f"branches: {', '.join(branches) or 'none'}; tags: {', '.join(tags) or 'none'}")
    return DataError(f"The dataset has no branch, tag or commit {spec!r} ({listed}); choose one of those, or a "
                     "commit id from its history.")


def _on_branch(ds, branch: str):
    if branch in ("", current_ref(ds).branch):
        return ds
    return ds.branches[branch].open()


def _commit_on(ds, branch: str, commit: str):
    """`ds` reopened at `commit` of `branch` (the head itself when the commit is the head)."""
    head = _on_branch(ds, branch)
    if str(getattr(head, "version", "")) == commit:
        return head
    return head.history[commit].open()


def resolve(ds, spec: str):
    """(dataset at `spec`, its VersionRef). `spec`: "" (the branch `ds` is on, usually main), a branch, a tag,
    'branch@commit', or a commit id (looked up on main, then on each branch). DataError naming the branches
    and tags when nothing matches; a Deep Lake 3.x dataset or a view has no versions to choose from."""
    spec = (spec or "").strip()
    if not spec:
        return ds, current_ref(ds)
    branches, tags = names(ds)
    if not branches:
        raise DataError(f"This dataset has no versions (a view or a Deep Lake 3.x dataset), so version {spec!r} "
                        "cannot be read; leave the version empty.")
    try:
        if spec in branches:
            at = _on_branch(ds, spec)
            return at, current_ref(at)
        if spec in tags:
            at = ds.tags[spec].open()
            return at, VersionRef(current_ref(at).branch, str(ds.tags[spec].version), spec)
        ref = VersionRef.parse(spec)
        if ref is not None and ref.branch in branches:
            return _commit_on(ds, ref.branch, ref.commit), ref
        for branch in [MAIN] + [b for b in branches if b != MAIN]:
            if branch in branches and spec in {c.id for c in history(_on_branch(ds, branch), limit=0)}:
                return _commit_on(ds, branch, spec), VersionRef(branch, spec)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - VersionNotFoundError/BranchNotFoundError and storage errors
        raise DataError(f"Cannot open version {spec!r} of the dataset ({type(exc).__name__}: {exc}); choose "
                        "another branch, tag or commit.") from None
    raise _not_found(spec, ds)


def open_at(ds, ref: VersionRef | None):
    """`ds` (opened at its default branch) reopened at exactly `ref` (None or empty: as it is)."""
    if ref is None or not str(ref):
        return ds
    return _commit_on(ds, ref.branch, ref.commit)


def version_choices(ds, ref: VersionRef, limit: int = 30) -> list[tuple[str, str]]:
    """What the window offers to read: (label, spec) for each branch, each tag and the newest `limit` commits
    of the branch being read; the main branch's newest commit is spec "". Empty for datasets without versions."""
    branches, tags = names(ds)
    if not branches:
        return []
    out = [(f"branch {b}", "" if b == MAIN else b) for b in [MAIN] + [b for b in branches if b != MAIN]
           if b in branches]
    out += [(f"tag {t}", t) for t in tags]
    for commit in history(ds, limit):
        message = commit.message if len(commit.message) <= 40 else commit.message[:39] + "…"
        out.append((f"{ref.branch}@{commit.id[:11]} · {commit.time} · {message}", f"{ref.branch}@{commit.id}"))
    return out
