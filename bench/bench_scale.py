"""Start-up at scale: `segstudio train` to its first iteration, its peak memory, and `inspect`'s first answers,
on the same rows replicated to 1k, 10k and 100k rows (same run, ratios against the smallest size).

    python bench/bench_scale.py [--sizes 1000,10000,100000] [--coco ../shared/data/coco128] [--cache DIR]
                                [--max-side 0]

The datasets are built once by appending coco128's stored rows (JPEG bytes as stored, the other columns
as read) over and over, 512 rows per append and commit, and kept in --cache (default /tmp/segstudio-scale)
for later runs. 100k rows of coco128 take 19 GB and about 3 minutes to build on 2 cores (about 600 rows/s:
one append of 512 rows takes 0.3-0.8 s and its commit 0.2-0.7 s; nothing is re-encoded. A niced build on
a machine busy with other work gets a small share of the CPU: 16 rows/s was seen at a load of ~18).
Where 19 GB is too much disk, --max-side 160 builds every size from the same source downscaled once
(coco128's real images and masks resized to at most 160 px a side, boxes and areas scaled, the same
instances and classes; about 1.1 GB at 100k rows): the ratios then compare like with like, but the
absolute figures are not comparable with full-size runs.
Each measurement runs segstudio as a subprocess with an empty report cache (nothing known in advance),
polls the process tree's resident memory every 50 ms, and ends the process once it has answered:
- train: the default config on the dataset with train.max_iters = 1; seconds until the "it 1/1" line.
- inspect: seconds to its first line (the schema) and to its sampled pre-flight line; then it is stopped.
Targets: train at 100k within 1.5x of 1k; peak memory within +300 MB of 1k; inspect's first line < 5 s.
Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from proc_tree import tree_rss_mb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHUNK = 512          # rows per append and commit while building (bounds the builder's memory)
POLL_S = 0.05


# ---- building the datasets ------------------------------------------------------------------------
def source_dataset(coco: Path, cache: Path, max_side: int = 0) -> str:
    """coco128 imported by segstudio (once); with max_side, a copy of it downscaled (once)."""
    from segstudio.data.coco_import import import_coco

    dest = cache / "coco128"
    if not (dest / ".complete").exists():
        shutil.rmtree(dest, ignore_errors=True)
        import_coco(str(coco / "images"), str(coco / "annotations.json"), str(dest))
        (dest / ".complete").write_text("1\n")
    return downscaled(str(dest), max_side, cache) if max_side else str(dest)


def downscaled(src_path: str, max_side: int, cache: Path) -> str:
    """The source's rows with images and masks resized to at most max_side pixels a side (JPEG images,
    nearest-neighbour masks, boxes and areas scaled with them; same instances and classes)."""
    import deeplake

    dest = cache / f"{Path(src_path).name}-s{max_side}"
    if (dest / ".complete").exists():
        return str(dest)
    shutil.rmtree(dest, ignore_errors=True)
    src = deeplake.open_read_only(src_path)
    ds = _empty_like(src, dest)
    cols = _source_rows(src)
    for r in range(len(src)):
        img = src["images"][r]
        scale = min(1.0, max_side / max(img.shape[:2]))
        cols["images"][r] = _jpeg(img, scale)
        cols["masks"][r] = _resize_masks(cols["masks"][r], scale)
        cols["boxes"][r] = (cols["boxes"][r] * scale).astype(np.float32)
        cols["areas"][r] = (cols["areas"][r] * scale * scale).astype(np.float32)
    ds.append(cols)
    ds.commit("downscaled rows")
    (dest / ".complete").write_text("1\n")
    return str(dest)


def _jpeg(img, scale: float) -> bytes:
    import io

    from PIL import Image
    h, w = img.shape[:2]
    img = img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img     # grayscale rows
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _resize_masks(masks, scale: float):
    """H x W x N bool masks, nearest neighbour, to the size _jpeg gives the image."""
    h, w = masks.shape[:2]
    ys = (np.arange(max(1, round(h * scale))) / scale).astype(int).clip(0, h - 1)
    xs = (np.arange(max(1, round(w * scale))) / scale).astype(int).clip(0, w - 1)
    return np.ascontiguousarray(masks[ys][:, xs])


def _empty_like(src, dest: Path):
    """A new dataset with the source's columns and their metadata (class names), committed."""
    import deeplake

    ds = deeplake.create(str(dest))
    for col in src.schema.columns:
        ds.add_column(col.name, col.dtype)
        for key in src[col.name].metadata.keys():  # noqa: SIM118 - a Deep Lake metadata object, not a dict
            ds[col.name].metadata[key] = src[col.name].metadata[key]
    ds.commit("schema")
    return ds


def _source_rows(src) -> dict:
    """Every column of every row, in the form that appends fastest: image columns as their stored bytes."""
    rows = list(range(len(src)))
    out = {}
    for col in src.schema.columns:
        name, kind = col.name, col.dtype.kind.name
        if kind == "Image":
            out[name] = [bytes(b) for b in src[name].get_bytes(rows)]
        elif kind == "Text":
            out[name] = [str(v) for v in src[name][rows]]
        else:
            out[name] = [np.asarray(src[name][r]) for r in rows]
    return out


def replicated(src_path: str, n: int, cache: Path) -> str:
    """A dataset of n rows: the source's rows over and over (built once, kept in the cache)."""
    import deeplake

    dest = cache / f"{Path(src_path).name}-{n}"
    if (dest / ".complete").exists():
        return str(dest)
    shutil.rmtree(dest, ignore_errors=True)
    src = deeplake.open_read_only(src_path)
    cols = _source_rows(src)
    ds = _empty_like(src, dest)
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        idx = [i % len(src) for i in range(start, min(n, start + CHUNK))]
        ds.append({name: [values[i] for i in idx] for name, values in cols.items()})
        ds.commit(f"rows {start}-{start + len(idx)}")
        print(f"\r  building {dest.name}: {start + len(idx)}/{n} rows ({time.perf_counter() - started:.0f} s)",
              end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    (dest / ".complete").write_text(f"{n}\n")
    return str(dest)


# ---- measuring a subprocess ---------------------------------------------------------------------
class Watched:
    """A segstudio subprocess: the time each awaited line appeared, and the tree's peak RSS meanwhile."""

    def __init__(self, args: list, env: dict, stream: str):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "segstudio", *args], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
                                     stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self.pipe = self.proc.stdout if stream == "stdout" else self.proc.stderr
        self.peak_mb, self.lines = 0.0, []
        self._done = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._done.is_set() and self.proc.poll() is None:
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.proc.pid))
            time.sleep(POLL_S)

    def wait_for(self, predicate, timeout_s: float) -> float | None:
        """Seconds from start until a line satisfying predicate appeared (None: it never did)."""
        deadline = self.started + timeout_s
        for line in self.pipe:
            self.lines.append(line.rstrip("\n"))
            if predicate(line):
                return time.perf_counter() - self.started
            if time.perf_counter() > deadline:
                break
        return None

    def stop(self) -> None:
        self._done.set()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _env(cache_dir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), SEGSTUDIO_CACHE_DIR=str(cache_dir),
               NO_ALBUMENTATIONS_UPDATE="1")
    return env


def measure_train(url: str, work: Path, timeout_s: float) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    config = work / "train.toml"
    config.write_text(f'[data]\nurl = "{url}"\n\n[train]\nmax_iters = 1\ndevice = "cpu"\n'
                      f'runs_dir = "{work / "runs"}"\n\n[eval]\nmax_images = 1\n')
    w = Watched(["train", "--config", str(config)], _env(Path(tempfile.mkdtemp(dir=work))), "stderr")
    try:
        seconds = w.wait_for(lambda line: line.startswith("it 1/"), timeout_s)
    finally:
        w.stop()
    if seconds is None:
        raise RuntimeError("train never reached its first iteration:\n" + "\n".join(w.lines[-15:]))
    return {"first_iteration_s": round(seconds, 2), "peak_rss_mb": round(w.peak_mb, 1)}


def measure_inspect(url: str, work: Path, timeout_s: float) -> dict:
    w = Watched(["inspect", url], _env(Path(tempfile.mkdtemp(dir=work))), "stdout")
    try:
        first = w.wait_for(lambda line: True, timeout_s)
        sampled = w.wait_for(lambda line: line.startswith("Pre-flight:"), timeout_s)
    finally:
        w.stop()
    if first is None or sampled is None:
        raise RuntimeError(f"inspect did not answer (exit status {w.proc.returncode}):\n" + "\n".join(w.lines[-15:]))
    return {"inspect_first_line_s": round(first, 2), "inspect_sampled_check_s": round(sampled, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="row counts, comma-separated; the first is the base")
    p.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"))
    p.add_argument("--cache", default="/tmp/segstudio-scale", help="where the built datasets are kept")
    p.add_argument("--max-side", type=int, default=0, help="downscale the source's images and masks to at most "
                   "this many pixels a side first (0: as they are)")
    p.add_argument("--repeats", type=int, default=1, help="measurements per size (the best is kept)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one measurement may take")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    src = source_dataset(Path(args.coco), cache, args.max_side)
    urls = {n: replicated(src, n, cache) for n in sizes}
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in sizes:
            runs = []
            for r in range(args.repeats):
                work = Path(tmp) / f"{n}-{r}"
                work.mkdir()
                runs.append({**measure_train(urls[n], work, args.timeout),
                             **measure_inspect(urls[n], work, args.timeout)})
            best = {k: min(run[k] for run in runs) for k in runs[0]}
            results[n] = best
            print(f"{n:>7d} rows: first iteration {best['first_iteration_s']:.1f} s, peak RSS "
                  f"{best['peak_rss_mb']:.0f} MB; inspect first line {best['inspect_first_line_s']} s, "
                  f"sampled check {best['inspect_sampled_check_s']} s", flush=True)
    base, top = results[sizes[0]], results[sizes[-1]]
    summary = {"bench": "scale", "sizes": sizes, "results": {str(k): v for k, v in results.items()},
               "train_ratio_largest_vs_base": round(top["first_iteration_s"] / base["first_iteration_s"], 2),
               "peak_rss_delta_mb": round(top["peak_rss_mb"] - base["peak_rss_mb"], 1),
               "inspect_first_line_max_s": max(v["inspect_first_line_s"] for v in results.values())}
    print(f"train to first iteration at {sizes[-1]} rows: {summary['train_ratio_largest_vs_base']}x the "
          f"{sizes[0]}-row time (target <= 1.5x); peak memory {summary['peak_rss_delta_mb']:+.0f} MB "
          f"(target <= +300 MB); inspect's first line within {summary['inspect_first_line_max_s']} s "
          "(target < 5 s)")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
