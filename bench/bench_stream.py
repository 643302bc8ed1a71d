"""Streaming from S3: training-loader rows/s over a loopback S3 server at 0, 20 and 100 ms round trips,
against the same dataset read from local disk in the same run; a warm-cache second epoch; preview.

    python bench/bench_stream.py [--coco ../shared/data/coco128] [--copies 2] [--rtts 0,20,100]

The dataset is coco128 imported by segstudio (`--copies` times, so that an epoch is long enough to
time), served by moto's S3 server in its own process on 127.0.0.1 behind a TCP proxy that delays every
chunk by RTT/2 each way (tests/s3_server.py). The loader is training's (loader.build_loader) with the
default settings: train.workers and train.batch_size of the default config, the default augmentation,
no model. Rows/s is timed from the first batch to the last of one epoch, so that worker start-up is left
out on both sides. Cold runs have the rows cache off; the warm run reads epoch 1 from the cache that
epoch 0 filled. Preview: `segstudio preview -n 48` as a command, local vs 100 ms. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def make_dataset(coco: Path, dest: Path, copies: int) -> str:
    """coco128 imported `copies` times into one dataset (rows appended from a first import)."""
    import deeplake

    from segstudio.data.coco_import import import_coco

    import_coco(coco / "images", coco / "annotations.json", dest)
    if copies > 1:
        ds = deeplake.open(str(dest))
        n = len(ds)
        for _ in range(copies - 1):
            for start in range(0, n, 32):
                rows = list(range(start, min(n, start + 32)))
                ds.append({c.name: [ds[c.name][r] for r in rows] for c in ds.schema.columns})
        ds.commit("bench_stream: copies")
    return str(dest)


def loader_for(url: str, endpoint: str, cache_gb: float):
    from segstudio.config import Config
    from segstudio.data.mapped import open_mapped
    from segstudio.loader import SegmentationDataset, build_loader

    cfg = Config()
    cfg.data.endpoint_url, cfg.data.cache_gb = endpoint, cache_gb
    mapped = open_mapped(url, cfg.data, endpoint_url=endpoint)
    data = SegmentationDataset(mapped, range(len(mapped)), cfg.augment, train=True, seed=cfg.train.seed)
    return build_loader(data, cfg.train.batch_size, cfg.train.workers, shuffle=True, seed=0,
                        group_by_aspect=False, timeout=600)


def epoch_rate(loader, epoch: int) -> float:
    """Rows/s from the first batch to the last of one epoch."""
    loader.batch_sampler.set_epoch(epoch)
    first, rows = None, 0
    for _, _, batch_rows in loader:
        if first is None:
            first = time.perf_counter()
            continue
        rows += len(batch_rows)
    return rows / max(time.perf_counter() - first, 1e-9)


def run_loader(url: str, endpoint: str, epochs: int = 1, cache_gb: float = 0.0) -> list[float]:
    loader = loader_for(url, endpoint, cache_gb)
    try:
        return [epoch_rate(loader, e) for e in range(epochs)]
    finally:
        del loader


def preview_seconds(url: str, endpoint: str, out: Path, env: dict) -> float:
    argv = [sys.executable, "-m", "segstudio", "preview", url, "-n", "48", "--out", str(out)]
    if endpoint:
        argv += ["--endpoint-url", endpoint]
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"))
    p.add_argument("--copies", type=int, default=2, help="coco128 copies in the dataset (rows = 128 x copies)")
    p.add_argument("--rtts", default="0,20,100", help="round-trip times to test, ms")
    args = p.parse_args(argv)
    coco = Path(args.coco)
    if not (coco / "annotations.json").exists():
        print(f"no COCO sample at {coco}; pass --coco", file=sys.stderr)
        return 1
    from s3_server import LatencyProxy, MotoServer

    rtts = [int(r) for r in args.rtts.split(",") if r.strip()]
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp:
        tmp = Path(tmp)
        os.environ["SEGSTUDIO_CACHE_DIR"] = str(tmp / "cache")   # a fresh cache, not the user's
        local = make_dataset(coco, tmp / "ds", args.copies)
        server = MotoServer().start()
        proxies = {}
        try:
            url = server.upload(local, "bench", "coco")
            os.environ.update(server.env())
            proxies = {rtt: LatencyProxy(server.port, rtt).start() for rtt in rtts}
            result = measure(local, url, proxies, tmp)
        finally:
            for proxy in proxies.values():
                proxy.stop()
            server.stop()
    report(result, args)
    return 0


def measure(local: str, url: str, proxies: dict, tmp: Path) -> dict:
    out = {"local_rows_per_s": run_loader(local, "", epochs=2)}
    for rtt, proxy in proxies.items():
        out[f"s3_{rtt}ms_rows_per_s"] = run_loader(url, proxy.endpoint)[0]
    slowest = max(proxies)
    cold, warm = run_loader(url, proxies[slowest].endpoint, epochs=2, cache_gb=10.0)
    out.update({"warm_rtt_ms": slowest, "warm_epoch0_rows_per_s": cold, "warm_epoch1_rows_per_s": warm})
    env = {**os.environ, "SEGSTUDIO_CACHE_DIR": str(tmp / "preview-cache")}
    out["preview_local_s"] = preview_seconds(local, "", tmp / "p0", env)
    out[f"preview_{slowest}ms_s"] = preview_seconds(url, proxies[slowest].endpoint, tmp / "p1", env)
    out["preview_rtt_ms"] = slowest
    return out


def report(r: dict, args) -> None:
    local = r["local_rows_per_s"][1]     # the local loader's second epoch: warmed like the cache run
    result = {"bench": "stream", "copies": args.copies, "local_rows_per_s": round(local, 1)}
    print(f"local disk:              {local:7.1f} rows/s (epoch 1; epoch 0 {r['local_rows_per_s'][0]:.1f})")
    for key in [k for k in r if k.startswith("s3_")]:
        rate = r[key]
        rtt = key.split("_")[1]
        result[key] = round(rate, 1)
        result[f"ratio_{rtt}"] = round(rate / local, 2)
        print(f"S3 at {rtt:>5s} round trip: {rate:7.1f} rows/s  {rate / local:.2f}x local")
    warm = r["warm_epoch1_rows_per_s"]
    result.update(warm_cache_rows_per_s=round(warm, 1), ratio_warm_cache=round(warm / local, 2),
                  warm_cache_rtt_ms=r["warm_rtt_ms"])
    print(f"S3 at {r['warm_rtt_ms']} ms, cache warm:  {warm:7.1f} rows/s  {warm / local:.2f}x local "
          f"(epoch 0 filling it: {r['warm_epoch0_rows_per_s']:.1f})")
    slow = r[f"preview_{r['preview_rtt_ms']}ms_s"]
    result.update(preview_local_s=round(r["preview_local_s"], 2), preview_remote_s=round(slow, 2),
                  preview_rtt_ms=r["preview_rtt_ms"], ratio_preview=round(slow / r["preview_local_s"], 2))
    print(f"segstudio preview -n 48: local {r['preview_local_s']:.1f} s, at {r['preview_rtt_ms']} ms "
          f"{slow:.1f} s ({slow / r['preview_local_s']:.2f}x)")
    print("targets: >= 0.9x at 20 ms, >= 0.7x at 100 ms, warm cache >= 0.95x, preview within 1.3x")
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
