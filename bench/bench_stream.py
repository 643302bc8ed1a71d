"""Streaming from S3: training-loader rows/s over a loopback S3 server at 0, 20 and 100 ms round trips,
against the same dataset read from local disk in the same run; a warm-cache second epoch; preview.

    python bench/bench_stream.py [--coco ../shared/data/coco128] [--copies 2] [--rtts 0,20,100]
                                 [--endpoint http://127.0.0.1:PORT] [--shared-cpus]

The dataset is coco128 imported by segstudio (`--copies` times, so that an epoch is long enough to
time), served by moto's S3 server in its own process on 127.0.0.1 (or by any S3 server already running
there, with --endpoint and the AWS_* variables holding its keys), behind TCP proxies, each in its own
process, that delay every chunk by RTT/2 each way (tests/s3_server.py).

A real bucket does not run on the training machine, so the server and the proxies get half the CPUs and
the loader the other half (the local baseline runs on the loader's half too); --shared-cpus turns this off.
The loader is training's (loader.build_loader) with the
default settings: train.workers and train.batch_size of the default config, the default augmentation,
no model. Rows/s is timed from the first batch to the last of one epoch, so that worker start-up is left
out on both sides. Cold runs have the rows cache off; the warm run reads epoch 1 from the cache that
epoch 0 filled. Preview: `segstudio preview -n 48` as a command, local vs 100 ms. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import contextlib
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

from s3_server import proxy_process  # noqa: E402 - tests/ is on the path only now


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
    from segstudio.base.config import Config
    from segstudio.data.mapped import open_mapped
    from segstudio.samples.loader import SegmentationDataset, build_loader

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
    p.add_argument("--endpoint", default="", help="an S3 server already running (keys from AWS_* variables) "
                                                 "instead of starting moto")
    p.add_argument("--shared-cpus", action="store_true", help="do not split the CPUs between server and loader")
    args = p.parse_args(argv)
    coco = Path(args.coco)
    if not (coco / "annotations.json").exists():
        print(f"no COCO sample at {coco}; pass --coco", file=sys.stderr)
        return 1
    rtts = [int(r) for r in args.rtts.split(",") if r.strip()]
    server_cpus, loader_cpus = split_cpus(args.shared_cpus)
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp:
        tmp = Path(tmp)
        os.environ["SEGSTUDIO_CACHE_DIR"] = str(tmp / "cache")   # a fresh cache, not the user's
        local = make_dataset(coco, tmp / "ds", args.copies)
        with s3_endpoint(args.endpoint, server_cpus) as (server, port):
            url = server.upload(local, "segstudio-bench", f"coco-{os.getpid()}")
            proxies = [proxy_process(port, rtt, server_cpus) for rtt in rtts]
            try:
                if loader_cpus:
                    os.sched_setaffinity(0, loader_cpus)   # the loader and its workers, and the preview process
                result = measure(local, url, dict(zip(rtts, (ep for _, ep in proxies))), tmp)
            finally:
                for proc, _ in proxies:
                    proc.terminate()
                    proc.wait(10)
    result["cpus"] = {"server": sorted(server_cpus or []), "loader": sorted(loader_cpus or [])}
    report(result, args)
    return 0


def split_cpus(shared: bool) -> tuple[set[int] | None, set[int] | None]:
    """Half the CPUs for the S3 server and the latency proxies, the other half for the loader: a real bucket
    does not run on the training machine. The local baseline runs on the loader's half too."""
    cpus = sorted(os.sched_getaffinity(0))
    if shared or len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


@contextlib.contextmanager
def s3_endpoint(endpoint: str, cpus: set[int] | None):
    """(an uploader, the port to proxy): moto started here, or the running server at `endpoint`."""
    from s3_server import MotoServer

    if endpoint:
        server = ExternalServer(endpoint)
        yield server, server.port
        server.clean()
        return
    server = MotoServer().start(cpus)
    try:
        os.environ.update(server.env())
        yield server, server.port
    finally:
        server.stop()


class ExternalServer:
    """An S3 server the user runs (e.g. MinIO, s3rver) on 127.0.0.1; keys come from the AWS_* variables."""

    def __init__(self, endpoint: str):
        from urllib.parse import urlsplit

        import boto3

        parts = urlsplit(endpoint)
        if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
            raise SystemExit(f"--endpoint must be http://127.0.0.1:PORT (got {endpoint})")
        self.port = parts.port
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))
        self.keys: list[tuple[str, str]] = []

    def upload(self, folder, bucket: str, prefix: str) -> str:
        if bucket not in {b["Name"] for b in self.s3.list_buckets().get("Buckets", [])}:
            self.s3.create_bucket(Bucket=bucket)
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            self.s3.upload_file(str(path), bucket, key)
            self.keys.append((bucket, key))
        return f"s3://{bucket}/{prefix}"

    def clean(self) -> None:
        for bucket, key in self.keys:
            self.s3.delete_object(Bucket=bucket, Key=key)


def measure(local: str, url: str, endpoints: dict[int, str], tmp: Path) -> dict:
    """endpoints: round-trip ms -> the proxy's URL."""
    out = {"local_rows_per_s": run_loader(local, "", epochs=2)}
    for rtt, endpoint in endpoints.items():
        out[f"s3_{rtt}ms_rows_per_s"] = run_loader(url, endpoint)[0]
    slowest = max(endpoints)
    cold, warm = run_loader(url, endpoints[slowest], epochs=2, cache_gb=10.0)
    out.update({"warm_rtt_ms": slowest, "warm_epoch0_rows_per_s": cold, "warm_epoch1_rows_per_s": warm})
    env = {**os.environ, "SEGSTUDIO_CACHE_DIR": str(tmp / "preview-cache")}
    out["preview_local_s"] = preview_seconds(local, "", tmp / "p0", env)
    out[f"preview_{slowest}ms_s"] = preview_seconds(url, endpoints[slowest], tmp / "p1", env)
    out["preview_rtt_ms"] = slowest
    return out


def report(r: dict, args) -> None:
    local = r["local_rows_per_s"][1]     # the local loader's second epoch: warmed like the cache run
    result = {"bench": "stream", "copies": args.copies, "cpus": r["cpus"], "local_rows_per_s": round(local, 1)}
    if r["cpus"]["loader"]:
        print(f"CPUs: S3 server and proxies on {r['cpus']['server']}, loader (local and S3) on {r['cpus']['loader']}")
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
