"""Open a Deep Lake dataset from a path or URL, turning every failure into one clear sentence.

Supported: a local path or file://, mem://, s3:// (optionally an S3-compatible endpoint_url; credentials
from a dict or from the AWS_* environment variables), al:// (token from ACTIVELOOP_TOKEN). Credentials
are passed to Deep Lake only: they are never logged, printed or saved.

Deep Lake 3.x datasets (local, s3://, hub:// or al://) open read-only through
`deeplake.query('SELECT * FROM "<url>"')`, which deeplake 4 provides for them; `open_readable` says
which kind it opened.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from segstudio.base.errors import DataError

_ENV_CREDS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "aws_region": "AWS_REGION",
    "profile_name": "AWS_PROFILE",
}
# Files that only a Deep Lake 3.x dataset has at its root.
_V3_MARKERS = ("dataset_meta.json", "version_control_info.json", "version_control_info.lock")
_PROBE_TIMEOUT_S = 3.0


def scheme_of(url: str) -> str:
    """'' for local paths, else the URL scheme (file, mem, s3, al, gcs, az...)."""
    if "://" not in url:
        return ""
    return url.split("://", 1)[0].lower()


def local_path(url: str) -> Path | None:
    """The filesystem path of a local dataset URL, None for remote ones."""
    scheme = scheme_of(url)
    if scheme == "":
        return Path(url).expanduser()
    if scheme == "file":
        return Path(url[len("file://"):]).expanduser()
    return None


def same_dataset(a: str, b: str) -> bool:
    """Whether two dataset URLs name the same dataset (local paths compared resolved)."""
    pa, pb = local_path(a or ""), local_path(b or "")
    if pa is not None and pb is not None:
        return pa.resolve() == pb.resolve()
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def strip_secrets(url: str) -> str:
    """Drop user:password@ and token-like query parameters from a URL before it is shown or written down."""
    url = re.sub(r"(?<=://)[^/@]+@", "", url)
    return re.sub(r"([?&](?:token|key|secret|password|creds)[^=]*=)[^&]*", r"\1***", url, flags=re.I)


def s3_creds(creds: dict | None = None, endpoint_url: str = "") -> dict:
    """Credentials dict for Deep Lake: the given one, else the AWS_* environment variables."""
    out = dict(creds) if creds else {k: os.environ[v] for k, v in _ENV_CREDS.items() if os.environ.get(v)}
    endpoint = endpoint_url or out.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        out["endpoint_url"] = endpoint
    return out


def _probe_endpoint(endpoint_url: str) -> None:
    """Fail in seconds, not in the minute Deep Lake's retries take, when nothing listens there."""
    parsed = urlparse(endpoint_url if "://" in endpoint_url else f"http://{endpoint_url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=_PROBE_TIMEOUT_S):
            pass
    except OSError:
        raise DataError(f"Cannot reach the S3 endpoint {endpoint_url}; check the endpoint URL and that the "
                        "server is running.") from None


def _check_local(url: str, path: Path) -> bool:
    """True for a Deep Lake 3.x folder, False for a 4.x one; DataError for anything else."""
    if not path.exists():
        raise DataError(f"Dataset path {url} does not exist; check the path.")
    if not path.is_dir():
        raise DataError(f"{url} is a file, not a Deep Lake dataset folder; give the dataset's folder.")
    if any((path / m).exists() for m in _V3_MARKERS):
        return True
    if not (path / "_deeplake_log").is_dir():
        raise DataError(f"{url} is not a Deep Lake dataset (no _deeplake_log folder); give a dataset "
                        "folder, or import COCO data with `segstudio import-coco`.")
    return False


def _check_chunks(url: str, path: Path) -> None:
    """A data file cut short becomes one sentence here instead of zeros or unbounded memory in Deep Lake."""
    from segstudio.data.integrity import check_local_dataset  # noqa: PLC0415
    try:
        check_local_dataset(path, url)
    except DataError:
        raise
    except Exception:  # noqa: BLE001 - a log layout this check does not know: leave it to Deep Lake
        pass


def _v3_message(url: str, why: str = "which segstudio opens read-only") -> str:
    return (f"{url} is a Deep Lake 3.x dataset, {why}; to change it, convert it with "
            f"deeplake.convert('{url}', '<new path>') or re-import the data.")


def _query_v3_or_none(target: str, creds: dict | None, token: str | None):
    """The query view when `target` holds a Deep Lake 3.x dataset (deeplake 4 reads those only by query)."""
    import deeplake  # noqa: PLC0415

    if '"' in target:
        return None
    try:
        view = deeplake.query(f'SELECT * FROM "{target}"', creds=creds or None, token=token)
    except Exception:  # noqa: BLE001 - a probe only; any failure means "not a readable 3.x dataset"
        return None
    return view if list(view.schema.columns) else None


def _translate(exc: Exception, url: str, creds: dict | None, token: str | None) -> DataError:
    """Map a Deep Lake exception to one sentence (never quoting credentials)."""
    name = type(exc).__name__
    text = str(exc)
    scheme = scheme_of(url)
    if name in ("LogNotexistsError", "NotFoundError", "StorageKeyNotFound"):
        return DataError(f"No Deep Lake dataset at {url}; check the URL (and that it is a Deep Lake 4 dataset).")
    if name in ("AuthenticationError", "AuthorizationError", "StorageAccessDenied", "PermissionDeniedError",
                "ExpiredTokenError", "NotLoggedInAgreementError", "AgreementNotAcceptedError") or \
            "AccessDenied" in text or "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text or \
            "status=403" in text or "status=401" in text:
        hint = ("set ACTIVELOOP_TOKEN to a valid token" if scheme in ("al", "hub") else
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the credentials you gave)")
        return DataError(f"Access to {url} was denied (bad or missing credentials); {hint}.")
    if name in ("StorageNetworkConnectionError", "HTTPRequestFailedError", "GcsStorageProviderFailed") or \
            "Could not resolve host" in text or "connect" in text.lower():
        return DataError(f"Cannot reach the storage behind {url}; check the network, the endpoint URL and "
                         "that the server is running.")
    if name in ("IncorrectDeeplakePathError", "InvalidURIError") or "not supported" in text:
        return DataError(f"{url} is not a dataset URL segstudio understands; use a local path, file://, "
                         "mem://, s3://, gcs://, az:// or al://.")
    return DataError(f"Cannot open the Deep Lake dataset at {url} ({name}); check the URL and that it is a "
                     "Deep Lake 4 dataset.")


def _query_v3(url: str, target: str, creds: dict | None, token: str | None):
    """A Deep Lake 3.x dataset as deeplake 4's read-only query view of all its rows."""
    import deeplake  # noqa: PLC0415

    if '"' in target:
        raise DataError(f"{url} contains a double quote, which a Deep Lake query cannot name; rename the path.")
    try:
        view = deeplake.query(f'SELECT * FROM "{target}"', creds=creds or None, token=token)
    except Exception as exc:  # noqa: BLE001 - Deep Lake raises many unrelated types; all become DataError
        translated = _translate(exc, url, creds, token)
        if translated.args[0].startswith(("Access to", "Cannot reach")):
            raise translated from None
        raise DataError(_v3_message(url, f"which deeplake 4 could not read ({type(exc).__name__})")) from None
    if not list(view.schema.columns):
        raise DataError(_v3_message(url, "in which deeplake 4 finds no tensors"))
    return view


def _target(url: str, read_only: bool) -> tuple[str, bool]:
    """(what Deep Lake opens, whether it is known to be a 3.x dataset)."""
    scheme = scheme_of(url)
    if scheme == "hub":
        if not read_only:
            raise DataError(_v3_message(url))
        return "al://" + url[len("hub://"):], True
    path = local_path(url)
    if path is None:
        return url, False
    legacy = _check_local(url, path)
    if legacy and not read_only:
        raise DataError(_v3_message(url))
    if not legacy:
        _check_chunks(url, path)
    return str(path), legacy


def _token(url: str, target: str) -> str | None:
    token = os.environ.get("ACTIVELOOP_TOKEN") or None
    if token is None and scheme_of(target) == "al":
        what = ("a Deep Lake 3.x address; segstudio reads it read-only as al://" + url[len("hub://"):] + ", which"
                if scheme_of(url) == "hub" else "an Activeloop dataset; opening it")
        raise DataError(f"{url} is {what} needs an Activeloop token; set the ACTIVELOOP_TOKEN environment "
                        "variable.")
    return token


def open_readable(url: str, *, endpoint_url: str = "", creds: dict | None = None) -> tuple:
    """(read-only dataset or view, True when it is a Deep Lake 3.x dataset). DataError with one sentence."""
    return _open(url, endpoint_url, creds, read_only=True)


def open_dataset(url: str, *, endpoint_url: str = "", creds: dict | None = None, read_only: bool = True):
    """Open a dataset; read-only unless the caller writes. Raises DataError with one sentence."""
    return _open(url, endpoint_url, creds, read_only)[0]


def _open(url: str, endpoint_url: str, creds: dict | None, read_only: bool) -> tuple:
    url = (url or "").strip()
    if not url:
        raise DataError("No dataset URL given; pass a path or a URL such as s3://bucket/dataset.")
    target, legacy = _target(url, read_only)
    scheme = scheme_of(target)
    token = None
    if scheme == "s3":
        creds = s3_creds(creds, endpoint_url)
        if creds.get("endpoint_url"):
            _probe_endpoint(creds["endpoint_url"])
    elif scheme == "al":
        token = _token(url, target)
    if legacy:
        return _query_v3(url, target, creds, token), True
    import deeplake  # noqa: PLC0415

    opener = deeplake.open_read_only if read_only else deeplake.open
    try:
        return opener(target, creds=creds or None, token=token), False
    except Exception as exc:  # noqa: BLE001 - Deep Lake raises many unrelated types; all become DataError
        translated = _translate(exc, url, creds, token)
    view = None
    if scheme not in ("", "file", "mem") and translated.args[0].startswith("No Deep Lake dataset"):
        view = _query_v3_or_none(target, creds, token)     # remote: no folder to look into first
    if view is None:
        raise translated
    if not read_only:
        raise DataError(_v3_message(url))
    return view, True


def probe_endpoint(endpoint_url: str) -> None:
    """DataError in seconds when nothing listens at an S3 endpoint (for writers such as import-coco)."""
    _probe_endpoint(endpoint_url)


def storage_error(exc: Exception, url: str, creds: dict | None = None, token: str | None = None) -> DataError:
    """A Deep Lake storage exception as one sentence (never quoting credentials)."""
    return _translate(exc, url, creds, token)
