"""Read many rows of the mapped columns at once: one request per column, every column in flight together.

`RowReader.start(rows)` issues the reads and returns at once, so a loader can start the next batch's
requests before it prepares the current batch (round trips to remote storage overlap the decoding and
augmentation). `PendingRows.cells()` waits and gives one {column: stored value} dict per row: the same
values `read_sample` reads one row at a time, which `raw_from_cells` turns into RawSamples.

For remote datasets the rows may come from a local disk cache (row_cache), and a lost connection is
retried with backoff for `retry_s` seconds before it becomes one DataError sentence.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from segstudio.base.errors import DataError
from segstudio.data.sample import ColumnMapping, mapped_columns
from segstudio.data.versions import version_key

_POLL_S = 0.002
# Remote datasets: columns other than images and masks (a few bytes a row) are read in blocks of rows
# ([data] block_rows); a slice is a handful of requests for the whole block where a list of rows is one
# request per row.
MAX_BLOCKS = 1024          # blocks kept per column and process (a few MB of boxes and labels at COCO's size)
REMOTE_ROWS_AHEAD = 16     # automatic prefetch for remote data: rows requested ahead per loader process
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
_FIRST_ATTEMPT_S = 4.0   # then 8, 16, 32...: a slow but working link still gets its answer


def _attempt_s(attempt: int) -> float:
    return _FIRST_ATTEMPT_S * 2 ** min(attempt, 10)


class ReadTimeout(Exception):
    pass


@dataclass(frozen=True)
class ReadSettings:
    """How loaders read a dataset (the [data] settings prefetch, cache_gb, retry_s, block_rows)."""
    prefetch: int = -1          # batches requested ahead per loader process; -1: automatic
    cache_gb: float = 10.0      # disk cache of remote rows; 0: off
    retry_s: float = 120.0      # how long a lost connection is retried
    block_rows: int = 256       # remote small columns read this many rows at a time; 0: row by row

    @classmethod
    def from_config(cls, data_cfg) -> ReadSettings:
        default = cls()
        return cls(int(getattr(data_cfg, "prefetch", default.prefetch)),
                   float(getattr(data_cfg, "cache_gb", default.cache_gb)),
                   float(getattr(data_cfg, "retry_s", default.retry_s)),
                   int(getattr(data_cfg, "block_rows", default.block_rows)))

    def prefetch_for(self, remote: bool, batch_size: int = 1) -> int:
        """Batches to request ahead: the setting, or automatically none for local data and, for remote data,
        enough batches for REMOTE_ROWS_AHEAD rows (at least 2), so that round trips overlap."""
        if self.prefetch >= 0:
            return self.prefetch
        return max(2, -(-REMOTE_ROWS_AHEAD // max(int(batch_size), 1))) if remote else 0


def is_remote(url: str) -> bool:
    """True for data behind a network (s3://, gcs://, az://, al://...), False for local paths and mem://."""
    from segstudio.data.open import local_path, scheme_of  # noqa: PLC0415

    return local_path(url) is None and scheme_of(url) != "mem"


def make_reader(ds, mapping: ColumnMapping, url: str, endpoint_url: str, version: str,
                settings: ReadSettings) -> RowReader:
    """A RowReader for this process: remote data gets the retry deadline and (with a version) the cache."""
    from segstudio.data.open import strip_secrets  # noqa: PLC0415

    remote = is_remote(url)
    cache = None
    version = version_key(ds) or version   # with the branch: commit ids repeat on every branch
    if remote and settings.cache_gb > 0 and version:
        from segstudio.data import row_cache  # noqa: PLC0415

        columns = mapped_columns(mapping)
        key = row_cache.cache_key(strip_secrets(url), endpoint_url, version, columns)
        cache = row_cache.RowCache(row_cache.cache_root(), key, int(settings.cache_gb * 1e9),
                                   describe={"url": strip_secrets(url), "version": version, "columns": columns})
    return RowReader(ds, mapping, url=strip_secrets(url), remote=remote, cache=cache, retry_s=settings.retry_s,
                     block_rows=settings.block_rows if remote else 0)


def _split(value, n: int) -> list:
    """A column's result for n rows (an ndarray with n leading entries, or a list) -> n values."""
    if n == 1 and not isinstance(value, list) and getattr(value, "shape", (None,))[0] != 1:
        return [value]
    return [value[i] for i in range(n)]


def _wait(futures: list, deadline: float | None) -> list:
    """Results of Deep Lake futures; ReadTimeout when the deadline passes first (then they are cancelled)."""
    if deadline is not None and all(hasattr(f, "is_completed") for f in futures):
        while not all(f.is_completed() for f in futures):
            if time.monotonic() > deadline:
                for f in futures:
                    _cancel(f)
                raise ReadTimeout()
            time.sleep(_POLL_S)
    return [f.result() for f in futures]


def _cancel(future) -> None:
    try:
        future.cancel()
    except Exception:  # noqa: BLE001 - best effort
        pass


class PendingRows:
    """Reads in flight for `rows`; cells() waits for them (retrying remote failures)."""

    def __init__(self, reader: RowReader, rows: list[int]):
        self.reader, self.rows = reader, list(rows)
        self.cached: dict[int, dict] = {}
        if reader.cache is not None:
            for row in dict.fromkeys(self.rows):
                hit = reader.cache.get(row)
                if hit is not None:
                    self.cached[row] = hit
        self.missing = [r for r in dict.fromkeys(self.rows) if r not in self.cached]
        self.futures = reader.request(self.missing) if self.missing else None

    def cells(self) -> list[dict | None]:
        """One {column: value} per row; None for a row that could not be read with the others."""
        if self.missing:
            fetched = self.reader.collect(self.missing, self.futures)
            for row, cells in zip(self.missing, fetched):
                self.cached[row] = cells
                if self.reader.cache is not None and cells is not None:
                    self.reader.cache.put(row, cells)
            self.missing, self.futures = [], None
        return [self.cached[r] for r in self.rows]


class RowReader:
    """Batched reads of one dataset's mapped columns; `remote` turns on the retry deadline and block reads
    of the small columns (everything but images and masks)."""

    def __init__(self, ds, mapping: ColumnMapping, *, url: str = "", remote: bool = False, cache=None,
                 retry_s: float = 120.0, block_rows: int = 0):
        self.ds, self.url, self.remote, self.cache, self.retry_s = ds, url, remote, cache, float(retry_s)
        self.block_rows = int(block_rows)
        self.names = mapped_columns(mapping)
        self.columns = [ds[name] for name in self.names]
        self.batched = all(hasattr(c, "get_async") for c in self.columns)
        big = {mapping.images, mapping.masks}
        self.small = [n for n in self.names if self.block_rows > 0 and self.batched and n not in big]
        self.blocks: OrderedDict[tuple[str, int], list] = OrderedDict()   # (column, block) -> values
        self.rows = len(ds) if self.small else 0
        self._lock = threading.Lock()

    def start(self, rows) -> PendingRows:
        return PendingRows(self, [int(r) for r in rows])

    def read(self, rows) -> list[dict]:
        return self.start(rows).cells()

    def request(self, rows: list[int]):
        """Futures: (column, future) for the columns read row by row, ((column, block), future) for the
        small columns' blocks not held yet."""
        if not self.batched:
            return None
        per_row = [(n, c.get_async(list(rows))) for n, c in zip(self.names, self.columns) if n not in self.small]
        wanted = sorted({(n, r // self.block_rows) for n in self.small for r in rows} - set(self.blocks))
        per_block = [((n, b), self.ds[n].get_async(slice(b * self.block_rows, self._block_end(b))))
                     for n, b in wanted]
        return per_row, per_block

    def collect(self, rows: list[int], futures) -> list[dict]:
        """Per-row cells for `rows` from `futures`. Remote reads that fail on the network, or give no
        answer within a growing attempt time, are requested again until retry_s has passed (Deep Lake's
        own retries of a refused connection back off for ~40 s, longer than a server restart takes);
        any other failure falls back to reading row by row, so that a bad row names itself."""
        if not self.batched:
            return [self._one(r) for r in rows]
        deadline = time.monotonic() + self.retry_s if self.remote else None
        attempt = 0
        while True:   # ends with the rows, or at the deadline
            try:
                wait_until = None if deadline is None else min(deadline, time.monotonic() + _attempt_s(attempt))
                per_row, per_block = futures
                values = _wait([f for _, f in per_row + per_block], wait_until)
                return self._assemble(rows, per_row, per_block, values)
            except Exception as exc:  # noqa: BLE001 - storage errors come in many types
                if not (self.remote and _is_network(exc)):
                    return [self._one_or_none(r) for r in rows]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._lost(rows) from None
                if not isinstance(exc, ReadTimeout):   # failed fast: back off before asking again
                    time.sleep(min(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)], left))
                attempt += 1
                futures = self.request(rows)

    def _assemble(self, rows: list[int], per_row: list, per_block: list, values: list) -> list[dict]:
        """{column: value} per row from the per-row results and the (new and held) small-column blocks."""
        split = {n: _split(v, len(rows)) for (n, _), v in zip(per_row, values)}
        with self._lock:
            for ((n, b), _), v in zip(per_block, values[len(per_row):]):
                self.blocks[(n, b)] = _split(v, self._block_end(b) - b * self.block_rows)
            out = [{n: split[n][i] if n in split else self._block(n, row)[row % self.block_rows] for n in self.names}
                   for i, row in enumerate(rows)]
            while len(self.blocks) > MAX_BLOCKS * max(len(self.small), 1):
                self.blocks.popitem(last=False)
        return out

    def _block_end(self, block: int) -> int:
        return min(self.rows, (block + 1) * self.block_rows)

    def _block(self, name: str, row: int) -> list:
        """The held block of `row` in a small column (read now if another batch's reads pushed it out)."""
        key = (name, row // self.block_rows)
        if key not in self.blocks:
            self.blocks[key] = _split(self.ds[name][key[1] * self.block_rows:self._block_end(key[1])],
                                      self._block_end(key[1]) - key[1] * self.block_rows)
        self.blocks.move_to_end(key)
        return self.blocks[key]

    def _one(self, row: int) -> dict:
        return {n: c[row] for n, c in zip(self.names, self.columns)}

    def _one_or_none(self, row: int) -> dict | None:
        """A row read on its own; None when it cannot be read (the one-row path then reports it)."""
        try:
            return self._one(row)
        except Exception:  # noqa: BLE001 - the caller reads this row again through read_sample
            return None

    def _lost(self, rows: list[int]) -> DataError:
        return DataError(f"Lost the connection to the storage behind {self.url} while reading rows "
                         f"{rows[0]}..{rows[-1]} (no answer for {self.retry_s:g} s); check the server and the "
                         "network, then continue the run with `segstudio train --resume RUN`.")


_NETWORK_ERRORS = {"ReadTimeout", "StorageNetworkConnectionError", "HTTPRequestFailedError", "ConnectionError",
                   "TimeoutError", "StorageInternalError"}


def _is_network(exc: Exception) -> bool:
    text = str(exc).lower()
    return type(exc).__name__ in _NETWORK_ERRORS or "connect" in text or "timed out" in text
