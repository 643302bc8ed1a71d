"""Rows of remote datasets kept on local disk, so that later epochs do not pay the network again.

One file per row holds the stored values of the mapped columns (numpy's .npy format, lz4-compressed,
never pickled), so a cached row gives the very arrays Deep Lake returned. Files live under
<cache root>/<key>/ where the key hashes the dataset URL, the endpoint, the dataset *version* and the
columns: a new commit reads into a new folder and never meets rows of the old one.

Several loader workers and several torchrun ranks may share the cache: a row is written to a temporary
file and renamed into place (readers see a whole file or none), and the size limit is enforced under a
file lock by whichever process notices the cache grew, evicting the least recently used rows (a hit
refreshes the file's modification time).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

from segstudio.base.files import atomic_write

SUFFIX = ".row"
INFO = "info.json"
_EVICT_TO = 0.9          # evict down to this share of the limit, so that eviction does not run every write
_CHECK_SHARE = 0.05      # a process checks the total size after writing this share of the limit


def cache_root() -> Path:
    """The rows cache folder: SEGSTUDIO_CACHE_DIR, else the platform's user cache folder."""
    root = os.environ.get("SEGSTUDIO_CACHE_DIR")
    if not root:
        import platformdirs  # noqa: PLC0415
        root = platformdirs.user_cache_dir("segstudio", appauthor=False)
    return Path(root).expanduser() / "rows"


def cache_key(url: str, endpoint_url: str, version: str, columns: list[str]) -> str:
    text = json.dumps([url, endpoint_url, version, list(columns)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def encode_cells(cells: dict) -> bytes | None:
    """{column: array} -> bytes; None when a value is not a plain array (it is then not cached)."""
    import lz4.frame  # noqa: PLC0415

    buf = io.BytesIO()
    names = list(cells)
    buf.write(json.dumps(names).encode() + b"\n")
    try:
        for name in names:
            np.save(buf, np.asarray(cells[name]), allow_pickle=False)
    except ValueError:   # object arrays (ragged lists) would need pickle
        return None
    return lz4.frame.compress(buf.getvalue())


def decode_cells(data: bytes) -> dict:
    import lz4.frame  # noqa: PLC0415

    buf = io.BytesIO(lz4.frame.decompress(data))
    names = json.loads(buf.readline())
    return {name: np.load(buf, allow_pickle=False) for name in names}


class RowCache:
    """get(row) / put(row, cells) for one (dataset, version, columns) under a size-limited root."""

    def __init__(self, root: Path, key: str, limit_bytes: int, describe: dict | None = None):
        self.root, self.limit = Path(root), int(limit_bytes)
        self.dir = self.root / key
        self._written = 0
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            if describe and not (self.dir / INFO).exists():
                _atomic_write(self.dir / INFO, json.dumps(describe).encode())
        except OSError:   # an unusable cache folder makes the cache a no-op, never an error
            pass

    def _path(self, row: int) -> Path:
        return self.dir / f"{int(row)}{SUFFIX}"

    def get(self, row: int) -> dict | None:
        path = self._path(row)
        try:
            data = path.read_bytes()
            cells = decode_cells(data)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except Exception:  # noqa: BLE001 - a damaged file is a miss; it is replaced by the next write
            _unlink(path)
            return None
        try:
            os.utime(path)   # least recently used goes first
        except OSError:
            pass
        return cells

    def put(self, row: int, cells: dict) -> None:
        data = encode_cells(cells)
        if data is None or len(data) > self.limit:
            return
        try:
            try:
                _atomic_write(self._path(row), data)
            except FileNotFoundError:   # `segstudio cache clear` ran meanwhile
                self.dir.mkdir(parents=True, exist_ok=True)
                _atomic_write(self._path(row), data)
        except OSError:   # a full or read-only disk makes the cache a no-op, never an error
            return
        self._written += len(data)
        if self._written >= max(self.limit * _CHECK_SHARE, 1):
            self._written = 0
            evict(self.root, self.limit)


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=False)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _row_files(root: Path):
    """(mtime, size, path) of every cached row under root."""
    out = []
    if not root.is_dir():
        return out
    for sub in os.scandir(root):
        if not sub.is_dir():
            continue
        for entry in os.scandir(sub.path):
            if entry.name.endswith(SUFFIX):
                try:
                    st = entry.stat()
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, entry.path))
    return out


def evict(root: Path, limit_bytes: int) -> int:
    """Delete least recently used rows until the cache is at most 90% of the limit; -> bytes freed."""
    from filelock import FileLock, Timeout  # noqa: PLC0415

    try:
        with FileLock(str(Path(root) / ".evict.lock"), timeout=0):
            files = _row_files(Path(root))
            total = sum(size for _, size, _ in files)
            if total <= limit_bytes:
                return 0
            freed, target = 0, total - int(limit_bytes * _EVICT_TO)
            for _, size, path in sorted(files):
                if freed >= target:
                    break
                _unlink(Path(path))
                freed += size
            return freed
    except Timeout:   # another process is evicting right now
        return 0


def info(root: Path | None = None) -> dict:
    """Where the cache is, how big, and which datasets it holds (one entry per dataset version)."""
    root = Path(root) if root else cache_root()
    datasets = []
    if root.is_dir():
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            files = [f for f in sub.iterdir() if f.name.endswith(SUFFIX)]
            try:
                described = json.loads((sub / INFO).read_text())
            except (OSError, ValueError):
                described = {}
            datasets.append({**described, "rows": len(files), "bytes": sum(_size(f) for f in files),
                             "last_used": max((_mtime(f) for f in files), default=0.0)})
    return {"path": str(root), "bytes": sum(d["bytes"] for d in datasets), "datasets": datasets}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def clear(root: Path | None = None) -> int:
    """Delete every cached row; -> bytes freed. Safe while loaders run (they treat a gone row as a miss)."""
    root = Path(root) if root else cache_root()
    freed = info(root)["bytes"]
    if root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
    return freed
