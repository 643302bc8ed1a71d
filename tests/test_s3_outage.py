"""A server that goes away mid-epoch: reads retry with backoff while it restarts; if it stays down the run
ends with one sentence, last.pt intact, and --resume continues once it is back."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from s3_server import LatencyProxy, MotoServer, free_port
from test_s3 import _train, write_config

from segstudio.cli import main


@pytest.fixture
def plain_s3(demo_small, monkeypatch, tmp_path):
    """A server of our own (it is stopped and restarted), behind a proxy that counts connections.

    Small columns are read row by row here (a list of rows, which Deep Lake sends to the server each time):
    with 12 rows, their blocks and Deep Lake's own chunk reads of the images would otherwise hold every row
    in memory after the first batches, and the run would never need the server again. The retrying code
    is the same for blocks."""
    from segstudio.data import batch_read

    monkeypatch.setattr(batch_read, "BLOCK_READS", False)
    server = MotoServer(auth=False).start()
    proxy = LatencyProxy(server.port, rtt_ms=0)
    try:
        server.url = server.upload(demo_small, "segstudio", "demo")
        proxy.start()
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SEGSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
        yield server, proxy
    finally:
        proxy.stop()
        server.stop()


def test_server_restarted_mid_epoch_run_completes(plain_s3, tmp_path):
    server, proxy = plain_s3
    cfg = write_config(tmp_path, server.url, proxy.endpoint, "restart", iters=3, extra="retry_s = 60\nprefetch = 0\n")
    restarted = threading.Event()
    seen = {}

    def stop_then_restart(event):
        if event.iteration == 1:
            server.stop()
            seen["at_stop"] = proxy.accepted

            def later():   # back after 2 s with its data (moto keeps none: uploaded before the switch)
                time.sleep(2)
                server.restart(port=free_port())
                proxy.target_port = server.port
                restarted.set()
            threading.Thread(target=later, daemon=True).start()

    finished, _ = _train(cfg, stop_then_restart)
    assert restarted.wait(30)
    assert finished.status == "completed" and finished.iteration == 3, finished
    assert proxy.accepted > seen["at_stop"]     # the run read from the restarted server


def test_server_down_for_good_is_one_sentence_then_resume(plain_s3, tmp_path):
    server, proxy = plain_s3
    cfg = write_config(tmp_path, server.url, proxy.endpoint, "down", iters=4, extra="retry_s = 2\nprefetch = 0\n")
    finished, events = _train(cfg, lambda e: server.stop() if e.iteration == 2 else None)
    assert finished.status == "failed", finished
    errors = [e.message for e in events if e.kind == "error"]
    assert len(errors) == 1 and "\n" not in errors[0] and "--resume" in errors[0], errors
    last = tmp_path / "runs" / "down" / "checkpoints" / "last.pt"
    saved = torch.load(last, weights_only=True)["state"]["iteration"]
    assert 2 <= saved < 4
    server.restart(port=free_port())
    proxy.target_port = server.port
    assert main(["train", "--resume", str(tmp_path / "runs" / "down")]) == 0
    assert torch.load(last, weights_only=True)["state"]["iteration"] == 4
