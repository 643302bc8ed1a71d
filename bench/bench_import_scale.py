"""COCO import at scale: time and peak memory of `segstudio import-coco` as the COCO file grows.

    flock /tmp/segstudio-bench.lock python bench/bench_import_scale.py [--sizes 1280,12800]
        [--sparse-sizes 102400 [--present 1280]] [--parse-sizes 102400] [--baseline-code DIR] [--repeats 1]
        [--work /tmp/segstudio-import-scale]

coco128's images are referenced again under new image ids and file names (through symlinked folders, so no
image is copied) with their annotations under new ids, giving COCO files of each size (12,800 images: 56 MB
of JSON; 102,400: 455 MB, about COCO train2017's 448 MB). Each size is imported by `segstudio import-coco`
in a subprocess whose process tree's peak RSS is polled. `--parse-sizes` only reads and checks the file
(`read_coco`), which is what grows with it, without writing a dataset (a full import of 102,400 images takes
minutes and ~17 GB); `--sparse-sizes` runs the whole `import-coco` on such a file with only the first
`--present` images' files there (every record is read, indexed and walked; the rest are skipped as missing
files, so only those rows are written). `--baseline-code DIR` runs the same measurements with the segstudio
in another checkout (e.g. `git worktree add /tmp/old c222a00`) in the same run. Targets: peak memory at the
largest size within +150 MB of the smallest; import time not worse than the baseline code's (wall and CPU
seconds; the CPU figure is the steadier one on a busy machine). Ends with one JSON line. Generated files
stay under --work (not the repository).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from proc_tree import tree_rss_mb

ROOT = Path(__file__).resolve().parent.parent
IMAGE_ID_STEP = 1_000_000           # copy r of image i gets id r * step + i (coco128 ids are < 600)
ANN_ID_STEP = 10 ** 13              # annotation ids reach 9e11 (crowd ones)


def replicated(coco: Path, n: int, work: Path) -> Path:
    """A folder with images/ (symlinks to coco's) and annotations.json of n images; made once, reused."""
    out = work / f"coco{n}"
    ann_path = out / "annotations.json"
    if ann_path.exists():
        return out
    src = json.loads((coco / "annotations.json").read_text())
    (out / "images").mkdir(parents=True, exist_ok=True)
    reps = -(-n // len(src["images"]))
    for r in range(reps):
        link = out / "images" / f"r{r}"
        if not link.exists():
            link.symlink_to((coco / "images").resolve(), target_is_directory=True)
    tmp = ann_path.with_suffix(".part")
    with open(tmp, "w") as fh:     # written record by record: the bench itself stays small
        fh.write('{"info": %s, "licenses": %s, "categories": %s, "images": [' % (
            json.dumps(src.get("info", {})), json.dumps(src.get("licenses", [])), json.dumps(src["categories"])))
        copies = [(r, img) for r in range(reps) for img in src["images"]][:n]
        fh.write(",".join(json.dumps(dict(img, id=r * IMAGE_ID_STEP + img["id"], file_name=f"r{r}/{img['file_name']}"))
                          for r, img in copies))
        fh.write('], "annotations": [')
        by_image: dict = {}
        for ann in src["annotations"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
        sep = ""
        for r, img in copies:
            for ann in by_image.get(img["id"], []):
                fh.write(sep + json.dumps(dict(ann, id=r * ANN_ID_STEP + ann["id"],
                                               image_id=r * IMAGE_ID_STEP + ann["image_id"])))
                sep = ","
        fh.write("]}")
    tmp.rename(ann_path)
    return out


def sparse(coco: Path, folder: Path, present: int, work: Path) -> Path:
    """folder's annotations file with only the first `present` images' files there: the importer reads and
    indexes every record and skips the rest as missing files, without writing their rows."""
    out = work / f"{folder.name}-present{present}"
    if not (out / "annotations.json").exists():
        (out / "images").mkdir(parents=True, exist_ok=True)
        per_copy = len(json.loads((coco / "annotations.json").read_text())["images"])
        for r in range(-(-present // per_copy)):
            link = out / "images" / f"r{r}"
            if not link.exists():
                link.symlink_to((coco / "images").resolve(), target_is_directory=True)
        (out / "annotations.json").symlink_to(folder / "annotations.json")
    return out


def run_measured(args: list, code: Path) -> dict:
    """Run a command with `code` first on the path: wall seconds, CPU seconds (all its threads; less
    sensitive than wall time to what else the machine runs) and the process tree's peak RSS."""
    env = dict(os.environ, PYTHONPATH=str(code), NO_ALBUMENTATIONS_UPDATE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=str(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.1)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"seconds": round(seconds, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": round(peak[0], 1),
            "load_1min": os.getloadavg()[0], "stdout": out}


PARSE = """
import sys, segstudio
assert segstudio.__file__.startswith(sys.argv[1]), segstudio.__file__
from segstudio.data.coco_json import read_coco
coco = read_coco(sys.argv[2])
print(getattr(coco, "images_in_file", None) or len(getattr(coco, "images", [])))
"""


def measure(code: Path, folder: Path, work: Path, mode: str) -> dict:
    ann = folder / "annotations.json"
    if mode == "parse":
        result = run_measured([sys.executable, "-c", PARSE, str(code), str(ann)], code)
        result["images"] = int(result.pop("stdout").split()[-1])
        return result
    dest = work / "dest"
    shutil.rmtree(dest, ignore_errors=True)
    try:
        result = run_measured([sys.executable, "-m", "segstudio", "import-coco", str(folder / "images"), str(ann),
                               str(dest), "--json"], code)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    summary = json.loads(result.pop("stdout"))
    result["images"] = summary["rows_in_dataset"]
    return result


def series(codes: list, sizes: list, folders: dict, work: Path, mode: str, repeats: int) -> list:
    """Each size measured with each code in turn (so that the machine's load hits them alike); the best of
    `repeats` runs (shortest time, and its peak memory) is kept."""
    rows = []
    for n in sizes:
        for label, code in codes:
            runs = [measure(code, folders[n], work, mode) for _ in range(repeats)]
            r = min(runs, key=lambda x: x["seconds"]) | {"size": n, "code": label, "mode": mode}
            print(f"{label:>8s} {r['mode']:>6s} {n:>7d} images: {r['seconds']:7.1f} s ({r['cpu_s']:.1f} s CPU), "
                  f"peak RSS {r['peak_rss_mb']:7.0f} MB (best of {repeats}; load {r['load_1min']:.1f})", flush=True)
            rows.append(r)
    return rows


def _sizes(text: str) -> list:
    return [int(s) for s in text.split(",") if s.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"))
    p.add_argument("--sizes", default="1280,12800", help="images per file, imported in full")
    p.add_argument("--parse-sizes", default="", help="images per file, only read and checked (e.g. 102400)")
    p.add_argument("--sparse-sizes", default="", help="images per file, imported with only --present image "
                                                       "files there (the rest skipped as missing)")
    p.add_argument("--present", type=int, default=1280)
    p.add_argument("--baseline-code", default="", help="another segstudio checkout measured the same way")
    p.add_argument("--work", default="/tmp/segstudio-import-scale")
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    coco, work = Path(args.coco), Path(args.work)
    if not (coco / "annotations.json").exists():
        print(f"no COCO sample at {coco}; pass --coco", file=sys.stderr)
        return 1
    sizes, parse_sizes, sparse_sizes = _sizes(args.sizes), _sizes(args.parse_sizes), _sizes(args.sparse_sizes)
    folders = {n: replicated(coco, n, work) for n in sorted(set(sizes + parse_sizes + sparse_sizes))}
    sparse_folders = {n: sparse(coco, folders[n], args.present, work) for n in sparse_sizes}
    codes = [("current", ROOT)] + ([("baseline", Path(args.baseline_code).resolve())] if args.baseline_code else [])
    rows = series(codes, sizes, folders, work, "import", args.repeats)
    rows += series(codes, sparse_sizes, sparse_folders, work, "sparse", args.repeats)
    rows += series(codes, parse_sizes, folders, work, "parse", args.repeats)
    result = {"bench": "import_scale", "cpus": os.cpu_count(), "repeats": args.repeats, "rows": rows}
    for label, _ in codes:
        mine = [r for r in rows if r["code"] == label and r["mode"] == "import"]
        if len(mine) >= 2:
            small, big = mine[0], mine[-1]
            result[f"{label}_peak_delta_mb"] = round(big["peak_rss_mb"] - small["peak_rss_mb"], 1)
            print(f"{label}: peak memory at {big['size']} images {result[f'{label}_peak_delta_mb']:+.0f} MB against "
                  f"{small['size']} (target <= +150 MB)")
    if args.baseline_code:
        for mode, n in ([("import", n) for n in sizes] + [("sparse", n) for n in sparse_sizes]
                        + [("parse", n) for n in parse_sizes]):
            cur, base = ([r for r in rows if r["code"] == c and r["size"] == n and r["mode"] == mode][0]
                         for c in ("current", "baseline"))
            wall, cpu = cur["seconds"] / base["seconds"], cur["cpu_s"] / max(base["cpu_s"], 1e-9)
            result[f"{mode}_{n}_time_ratio"], result[f"{mode}_{n}_cpu_ratio"] = round(wall, 3), round(cpu, 3)
            print(f"{mode} {n} images: {wall:.2f}x the baseline code's time, {cpu:.2f}x its CPU time, "
                  f"peak RSS {cur['peak_rss_mb']:.0f} MB against {base['peak_rss_mb']:.0f} MB"
                  + (" (target <= 1)" if mode == "import" else ""))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
