"""Read many rows of the mapped columns at once: one request per column, every column in flight together.

`RowReader.start(rows)` issues the reads and returns at once, so a loader can start the next batch's
requests before it prepares the current batch (round trips to remote storage overlap the decoding and
augmentation). `PendingRows.cells()` waits and gives one {column: stored value} dict per row: the same
values `read_sample` reads one row at a time, which `raw_from_cells` turns into RawSamples.

For remote datasets the rows may come from a local disk cache (row_cache), and a lost connection is
retried with backoff for `retry_s` seconds before it becomes one DataError sentence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from segstudio.data.sample import ColumnMapping, mapped_columns
from segstudio.errors import DataError

_POLL_S = 0.002
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
_FIRST_ATTEMPT_S = 4.0   # then 8, 16, 32...: a slow but working link still gets its answer


def _attempt_s(attempt: int) -> float:
    return _FIRST_ATTEMPT_S * 2 ** min(attempt, 10)


class ReadTimeout(Exception):
    pass


@dataclass(frozen=True)
class ReadSettings:
    """How loaders read a dataset (the [data] settings prefetch, cache_gb, retry_s)."""
    prefetch: int = -1          # batches requested ahead per loader process; -1: 0 local, 2 remote
    cache_gb: float = 10.0      # disk cache of remote rows; 0: off
    retry_s: float = 120.0      # how long a lost connection is retried

    @classmethod
    def from_config(cls, data_cfg) -> ReadSettings:
        default = cls()
        return cls(int(getattr(data_cfg, "prefetch", default.prefetch)),
                   float(getattr(data_cfg, "cache_gb", default.cache_gb)),
                   float(getattr(data_cfg, "retry_s", default.retry_s)))

    def prefetch_for(self, remote: bool) -> int:
        return self.prefetch if self.prefetch >= 0 else (2 if remote else 0)


def is_remote(url: str) -> bool:
    """True for data behind a network (s3://, gcs://, az://, al://...), False for local paths and mem://."""
    from segstudio.data.open import local_path, scheme_of

    return local_path(url) is None and scheme_of(url) != "mem"


def make_reader(ds, mapping: ColumnMapping, url: str, endpoint_url: str, version: str,
                settings: ReadSettings) -> RowReader:
    """A RowReader for this process: remote data gets the retry deadline and (with a version) the cache."""
    from segstudio.data.open import strip_secrets

    remote = is_remote(url)
    cache = None
    version = str(getattr(ds, "version", "") or version or "")
    if remote and settings.cache_gb > 0 and version:
        from segstudio.data import row_cache

        columns = mapped_columns(mapping)
        key = row_cache.cache_key(strip_secrets(url), endpoint_url, version, columns)
        cache = row_cache.RowCache(row_cache.cache_root(), key, int(settings.cache_gb * 1e9),
                                   describe={"url": strip_secrets(url), "version": version, "columns": columns})
    return RowReader(ds, mapping, url=strip_secrets(url), remote=remote, cache=cache, retry_s=settings.retry_s)


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
    """Batched reads of one dataset's mapped columns; `remote` turns on the retry deadline."""

    def __init__(self, ds, mapping: ColumnMapping, *, url: str = "", remote: bool = False, cache=None,
                 retry_s: float = 120.0):
        self.ds, self.url, self.remote, self.cache, self.retry_s = ds, url, remote, cache, float(retry_s)
        self.names = mapped_columns(mapping)
        self.columns = [ds[name] for name in self.names]
        self.batched = all(hasattr(c, "get_async") for c in self.columns)

    def start(self, rows) -> PendingRows:
        return PendingRows(self, [int(r) for r in rows])

    def read(self, rows) -> list[dict]:
        return self.start(rows).cells()

    def request(self, rows: list[int]):
        if not self.batched:
            return None
        return [c.get_async(list(rows)) for c in self.columns]

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
                values = _wait(futures, wait_until)
                split = [_split(v, len(rows)) for v in values]
                return [{n: split[j][i] for j, n in enumerate(self.names)} for i in range(len(rows))]
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
