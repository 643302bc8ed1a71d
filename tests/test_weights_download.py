"""Downloading weights from a loopback HTTP server that misbehaves on purpose, and through a proxy."""
from __future__ import annotations

import hashlib

import pytest
from weights_server import Behaviour, RecordingProxy, WeightsServer, hashed_name, small_weights

from segstudio.models.download import DownloadCancelled, DownloadError, Retry, download_file

FAST = Retry(attempts=2, backoff_s=0.01, timeout_s=5.0)


@pytest.fixture
def server():
    srv = WeightsServer().start()
    yield srv
    srv.close()


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def payload():
    return small_weights()


def _left(folder) -> list:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _get(server, tmp_path, payload, behaviour=Behaviour.OK, retry=FAST, **kw):
    name = hashed_name("tiny", payload)
    url = server.add(name, payload, behaviour)
    return download_file(url, tmp_path / "cache" / name, sha256_prefix=name[5:13], retry=retry, **kw), name


def test_good_file_is_saved_with_progress(server, tmp_path, payload, no_proxy_env):
    seen = []
    path, name = _get(server, tmp_path, payload, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == payload and _left(tmp_path / "cache") == [name]
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))


def test_wrong_hash_is_refused_and_nothing_is_left(server, tmp_path, payload, no_proxy_env):
    url = server.add("tiny-00000000.pth", payload)
    with pytest.raises(DownloadError) as err:
        download_file(url, tmp_path / "cache" / "tiny-00000000.pth", sha256_prefix="00000000", retry=FAST)
    msg = str(err.value)
    assert "does not match its checksum" in msg and url in msg and str(tmp_path / "cache") in msg
    assert _left(tmp_path / "cache") == []


def test_404_is_one_sentence_with_url_and_folder_and_no_retry(server, tmp_path, no_proxy_env):
    url = f"{server.url}/models/missing-12345678.pth"
    with pytest.raises(DownloadError) as err:
        download_file(url, tmp_path / "cache" / "missing-12345678.pth", retry=FAST)
    assert "HTTP 404" in str(err.value) and url in str(err.value) and str(tmp_path / "cache") in str(err.value)
    assert server.requests["missing-12345678.pth"] == 1 and _left(tmp_path / "cache") == []


def test_connection_dropped_half_way_is_retried(server, tmp_path, payload, no_proxy_env):
    path, name = _get(server, tmp_path, payload, Behaviour.DROP_ONCE)
    assert path.read_bytes() == payload and server.requests[name] == 2


def test_connection_always_dropped_fails_after_the_retries_and_leaves_nothing(server, tmp_path, payload,
                                                                               no_proxy_env):
    with pytest.raises(DownloadError, match=r"after 2 tries \(connection closed after \d+ of \d+ bytes\)"):
        _get(server, tmp_path, payload, Behaviour.DROP)
    assert _left(tmp_path / "cache") == []


def test_server_busy_once_is_retried(server, tmp_path, payload, no_proxy_env):
    path, name = _get(server, tmp_path, payload, Behaviour.BUSY_ONCE)
    assert path.read_bytes() == payload and server.requests[name] == 2


def test_slow_response_completes_and_a_stalled_one_times_out(server, tmp_path, payload, no_proxy_env):
    path, _ = _get(server, tmp_path, payload, Behaviour.SLOW, retry=Retry(1, 0.0, timeout_s=5.0))
    assert path.read_bytes() == payload
    stalled = small_weights() + b"x"   # another name
    with pytest.raises(DownloadError, match="timed out"):
        _get(server, tmp_path, stalled, Behaviour.STALL, retry=Retry(2, 0.01, timeout_s=0.3))
    assert _left(tmp_path / "cache") == [hashed_name("tiny", payload)]


def test_cancel_mid_download_leaves_nothing(server, tmp_path, payload, no_proxy_env):
    got = []

    def cancel():
        return bool(got) and got[-1] > 0

    with pytest.raises(DownloadCancelled):
        _get(server, tmp_path, payload, Behaviour.SLOW, progress=lambda done, total: got.append(done),
             should_cancel=cancel)
    assert 0 < got[-1] < len(payload) and _left(tmp_path / "cache") == []


def test_http_proxy_variable_is_honoured(server, tmp_path, payload, monkeypatch, no_proxy_env):
    proxy = RecordingProxy(server.url).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        name = hashed_name("tiny", payload)
        server.add(name, payload)
        # a host name that resolves nowhere: only the proxy can reach it
        url = f"http://weights.invalid/models/{name}"
        path = download_file(url, tmp_path / "cache" / name, sha256_prefix=name[5:13], retry=FAST)
        assert path.read_bytes() == payload
        assert proxy.seen == [("GET", url)] and server.requests[name] == 1
    finally:
        proxy.close()


def test_https_proxy_variable_is_honoured(tmp_path, monkeypatch, no_proxy_env):
    proxy = RecordingProxy("http://127.0.0.1:9").start()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        url = "https://weights.invalid/models/tiny-12345678.pth"
        with pytest.raises(DownloadError) as err:
            download_file(url, tmp_path / "cache" / "tiny-12345678.pth", retry=Retry(1, 0.0, 5.0))
        assert proxy.seen == [("CONNECT", "weights.invalid:443")]
        assert url in str(err.value) and "HTTPS_PROXY" in str(err.value)
    finally:
        proxy.close()


def test_sha256_prefix_is_checked_in_full(server, tmp_path, payload, no_proxy_env):
    digest = hashlib.sha256(payload).hexdigest()
    name = f"tiny-{digest[:8]}.pth"
    url = server.add(name, payload)
    wrong_tail = digest[:8] + ("0" if digest[8] != "0" else "1")
    with pytest.raises(DownloadError, match="checksum"):
        download_file(url, tmp_path / "c" / name, sha256_prefix=wrong_tail, retry=FAST)


def test_an_unwritable_cache_folder_is_one_sentence(server, tmp_path, payload, no_proxy_env):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    name = hashed_name("tiny", payload)
    url = server.add(name, payload)
    with pytest.raises(DownloadError, match=r"Cannot write tiny-\w+\.pth into .*not-a-folder.*TORCH_HOME"):
        download_file(url, blocker / "checkpoints" / name, sha256_prefix=name[5:13], retry=FAST)
    assert server.requests[name] == 0 and blocker.is_file()
