"""A server that goes away mid-epoch: reads retry with backoff while it restarts; if it stays down the run
ends with one sentence, last.pt intact, and --resume continues once it is back."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from s3_server import LatencyProxy, MotoServer, free_port
from test_s3 import _train, s3_config

from segstudio.cli import main

# Small columns read row by row, nothing ahead (a list of rows goes to the server every time): with 12 rows,
# blocks and Deep Lake's own chunk reads would otherwise hold every row in memory after the first batches,
# and the run would never need the server again. The retrying code is the same for blocks.
ROW_BY_ROW = "block_rows = 0\nprefetch = 0\n"


@pytest.fixture
def plain_s3(demo_small, monkeypatch, tmp_path):
    """A server of our own (it is stopped and restarted), behind a proxy that counts connections."""
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
    cfg = s3_config(tmp_path, server.url, proxy.endpoint, "restart", iters=3, extra=ROW_BY_ROW + "retry_s = 60\n")
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
    cfg = s3_config(tmp_path, server.url, proxy.endpoint, "down", iters=4, extra=ROW_BY_ROW + "retry_s = 2\n")
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


def test_cli_exits_promptly_when_the_server_stays_down(plain_s3, tmp_path):
    """`segstudio train` as a user runs it: the server goes away for good mid-run; the process prints one
    sentence and exits with a failure status, promptly (Deep Lake's native exit handlers once hung a
    process 15 minutes after its storage threads had met a stopped server)."""
    import json
    import subprocess
    import sys

    server, proxy = plain_s3
    cfg = s3_config(tmp_path, server.url, proxy.endpoint, "cli", iters=6, extra=ROW_BY_ROW + "retry_s = 2\n")
    proc = subprocess.Popen([sys.executable, "-m", "segstudio", "train", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "runs" / "cli" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        lines = metrics.read_text().splitlines() if metrics.exists() else []
        if any(json.loads(line).get("event") == "iteration" for line in lines):
            break
        time.sleep(0.1)
    server.stop()
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1 and len(lines) == 1 and "--resume" in lines[0], (proc.returncode, err[-2000:])
    assert time.monotonic() - started < 90
