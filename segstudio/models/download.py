"""Downloading one file the user asked for: progress, cancel, retry with backoff, checksum, atomic rename.

urllib's default opener carries a ProxyHandler that reads HTTP_PROXY / HTTPS_PROXY / NO_PROXY (either
case) from the environment, so corporate proxies work for http and https alike. The file is written to a
temporary name in the destination folder and renamed only once complete and verified, so an interrupted
or cancelled download never leaves a file that looks usable.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from segstudio.base.errors import UserError

CHUNK = 1 << 18
USER_AGENT = "segstudio-weights"


class DownloadError(UserError):
    """The file could not be fetched or did not verify; the message says how to get it by hand."""


class DownloadCancelled(UserError):
    """The user cancelled; nothing was left behind."""


@dataclass
class Retry:
    attempts: int = 4          # tries in all
    backoff_s: float = 1.0     # wait before the 2nd try; doubles after each failure
    timeout_s: float = 30.0    # no byte for this long counts as a dropped connection


DEFAULT_RETRY = Retry()


class _Transient(Exception):
    """A failure worth another try (connection dropped, timed out, server busy)."""


def _open(url: str, timeout_s: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.build_opener().open(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code in (408, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code}") from None
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Transient(_reason(exc)) from None


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    if isinstance(inner, BaseException):
        exc = inner
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _copy(response, fh, progress, should_cancel) -> str:
    """Stream the body into fh; -> its sha256 hex digest."""
    total = response.headers.get("Content-Length")
    total = int(total) if total and total.isdigit() else None
    digest, done = hashlib.sha256(), 0
    if progress:
        progress(0, total)
    while True:
        if should_cancel and should_cancel():
            raise DownloadCancelled("Download cancelled; nothing was saved.")
        try:
            chunk = response.read1(CHUNK)   # what has arrived: live progress, prompt cancel
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(_reason(exc)) from None
        if not chunk:
            break
        fh.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    if total is not None and done != total:
        raise _Transient(f"connection closed after {done} of {total} bytes")
    return digest.hexdigest()


def _attempt(url: str, tmp: Path, retry: Retry, progress, should_cancel) -> str:
    with _open(url, retry.timeout_s) as response, open(tmp, "wb") as fh:
        digest = _copy(response, fh, progress, should_cancel)
        fh.flush()
        os.fsync(fh.fileno())
    return digest


def _sleep(seconds: float, should_cancel) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if should_cancel and should_cancel():
            raise DownloadCancelled("Download cancelled; nothing was saved.")
        time.sleep(min(0.05, max(end - time.monotonic(), 0)))


def download_file(url: str, dest: str | os.PathLike, *, sha256_prefix: str = "",
                  progress: Callable[[int, int | None], None] | None = None,
                  should_cancel: Callable[[], bool] | None = None, retry: Retry | None = None) -> Path:
    """Fetch url into dest (verified against sha256_prefix when given); -> dest.

    DownloadError says what failed and how to copy the file by hand; DownloadCancelled when
    should_cancel() turned true. Either way no file is left at dest or beside it."""
    dest, retry = Path(dest), retry or DEFAULT_RETRY
    manual = f"download {url} with a browser and copy it into {dest.parent}"
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        digest = _with_retries(url, tmp, retry, progress, should_cancel, manual)
        if sha256_prefix and not digest.startswith(sha256_prefix.lower()):
            raise DownloadError(f"The file from {url} does not match its checksum (sha256 {digest[:12]}..., "
                                f"expected {sha256_prefix}...); try again later, or {manual}.")
        os.replace(tmp, dest)
        return dest
    except OSError as exc:   # the folder, not the network: unwritable, not a folder, disk full
        raise DownloadError(f"Cannot write {dest.name} into {dest.parent} ({exc.strerror or exc}); free some "
                            "disk space or set TORCH_HOME to a writable folder, then download again.") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _with_retries(url, tmp, retry: Retry, progress, should_cancel, manual: str) -> str:
    last = ""
    for attempt in range(retry.attempts):
        if attempt:
            _sleep(retry.backoff_s * 2 ** (attempt - 1), should_cancel)
        try:
            return _attempt(url, tmp, retry, progress, should_cancel)
        except _Transient as exc:
            last = str(exc)
        except DownloadError as exc:
            raise DownloadError(f"The server refused {url} ({exc}); {manual}.") from None
    raise DownloadError(f"Could not download {url} after {retry.attempts} tries ({last}); "
                        f"check the network or proxy (HTTPS_PROXY), or {manual}.")
