"""Using a trained run: load its model, evaluate a checkpoint, predict on images or a dataset.

Predictions are written as COCO results (category_id = class index + 1, masks as RLE), the format
pycocotools' loadRes reads, next to overlays drawn by segstudio.samples.render.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from segstudio.base.config import DataConfig
from segstudio.base.errors import DataError, TrainingError
from segstudio.base.files import atomic_write_text
from segstudio.data.mapped import open_mapped
from segstudio.data.open import strip_secrets
from segstudio.data.sample import to_rgb_uint8
from segstudio.engine import eval_store, rundir
from segstudio.engine.analysis import analyse, thresholds_file
from segstudio.engine.checkpoint import load_checkpoint
from segstudio.engine.ema import inference_weights
from segstudio.engine.evaluate import evaluate_model
from segstudio.engine.thresholds import passing
from segstudio.engine.video import is_video, predict_video
from segstudio.samples.model_io import draw_prediction, image_tensor, output_numpy

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class LoadedRun:
    run_dir: Path
    cfg: object
    model: torch.nn.Module
    class_names: list
    checkpoint: str
    iteration: int


def load_run_model(run: str, which: str = "best", runs_dir: str = "runs", device: str = "cpu") -> LoadedRun:
    """The run's model in eval mode with the weights of checkpoints/<which>.pt (best falls back to last)."""
    from segstudio.models.maskrcnn import build_model  # noqa: PLC0415

    run_dir = rundir.resolve_run(run, runs_dir)
    cfg = rundir.load_run_config(run_dir)
    path = rundir.checkpoint_path(run_dir, which)
    if which == "best" and not path.is_file():
        path = rundir.checkpoint_path(run_dir, "last")
    state = load_checkpoint(path)
    class_names = list(state.get("class_names") or cfg.data.class_names)
    model = build_model(cfg.model, len(class_names) + 1, cfg.augment.image_size, load_weights=False)
    try:
        model.load_state_dict(inference_weights(state))
    except RuntimeError:
        raise TrainingError(f"Checkpoint {path} does not fit the run's config.toml; "
                            "restore the config the run was trained with.") from None
    model.to(device).eval()
    return LoadedRun(run_dir, cfg, model, class_names, path.name, int(state["state"]["iteration"]))


def evaluate_run(loaded: LoadedRun, dataset: str = "", *, batch_size: int = 4, device: str = "cpu",
                 should_stop: Callable[[], bool] | None = None, analyse: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """COCO box/mask AP of the run on its validation split, or on every row of `dataset`, and from the same
    predictions the analyses of engine.analysis.

    Writes runs/<name>/eval/: metrics.json (returned), predictions.json (the stored predictions),
    analysis.json (PR curves, thresholds, confusion matrix, error types) and thresholds.json (not with
    analyse=False: COCO AP only, the evaluation as it was before the analyses, for benchmarks)."""
    from segstudio.samples.loader import SegmentationDataset, build_loader  # noqa: PLC0415

    cfg = loaded.cfg
    url = dataset or cfg.data.url
    data_cfg = cfg.data
    if dataset:   # another dataset: propose its own mapping, keep only the run's explicit choices
        data_cfg = DataConfig(class_names=list(loaded.class_names))
    mapped = open_mapped(url, data_cfg, endpoint_url=cfg.data.endpoint_url)
    if mapped.class_names != loaded.class_names:
        raise DataError(f"The dataset's classes {mapped.class_names} differ from the run's {loaded.class_names}; "
                        "evaluate on a dataset with the same classes in the same order.")
    if dataset:
        rows = [int(r) for r in mapped.query_rows(cfg.data.query)]
    else:
        split = rundir.read_split(loaded.run_dir)
        rows = list(split["val"]) if split else []
    if not rows:
        raise DataError("There are no rows to evaluate; pass --dataset URL or train with a validation split.")
    val_set = SegmentationDataset(mapped, rows, cfg.augment, train=False, seed=cfg.train.seed)
    batches = build_loader(val_set, batch_size, 0, shuffle=False, seed=0)
    stored: list | None = [] if analyse else None
    metrics, per_class, seconds = evaluate_model(
        loaded.model, batches, torch.device(device), loaded.class_names, backend=cfg.eval.backend,
        score_threshold=cfg.eval.score_threshold, should_stop=should_stop, collect=stored,
        progress=None if progress is None else (lambda seen: progress(seen, len(rows))))
    if should_stop is not None and should_stop():   # a cut-short evaluation is not a result: keep the last one
        raise TrainingError(f"The evaluation of {loaded.run_dir.name} was stopped before its end; its previous "
                            "result (if any) is kept.")
    result = {"run": str(loaded.run_dir), "checkpoint": loaded.checkpoint, "iteration": loaded.iteration,
              "dataset": strip_secrets(url), "images": len(rows), "metrics": metrics,
              "per_class": per_class, "seconds": round(seconds, 2)}
    if stored is not None:
        result["analysis_seconds"] = save_analysis(loaded.run_dir / "eval", stored, loaded.class_names)
    out = loaded.run_dir / "eval" / "metrics.json"
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    result["path"] = str(out)
    return result


def save_analysis(folder: Path, stored: list, class_names: list) -> float:
    """predictions.json, analysis.json and thresholds.json of one evaluation pass; returns the seconds taken."""
    import time  # noqa: PLC0415


    started = time.perf_counter()
    analysis = analyse(stored, class_names)
    eval_store.save(stored, class_names, folder / "predictions.json")
    atomic_write_text(folder / "analysis.json", json.dumps(analysis) + "\n")
    atomic_write_text(folder / "thresholds.json", json.dumps(thresholds_file(analysis), indent=2) + "\n")
    return round(time.perf_counter() - started, 3)


def _images_from_folder(folder: Path) -> Iterable[tuple[str, np.ndarray]]:
    from PIL import Image  # noqa: PLC0415

    if folder.is_file():
        files = [folder]
    else:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"No images (.jpg, .png, ...) in {folder}; pass a folder of images or a dataset URL.")
    for path in files:
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path} is not a readable image ({type(exc).__name__}); remove it from the folder "
                            "or replace it with a valid image file.") from None
        yield path.stem, to_rgb_uint8(image)


def _images_from_dataset(url: str, cfg) -> Iterable[tuple[str, np.ndarray]]:

    mapped = open_mapped(url, DataConfig(images=cfg.data.images if cfg.data.url == url else ""),
                         endpoint_url=cfg.data.endpoint_url)
    for row in range(mapped.num_rows):
        yield str(row), to_rgb_uint8(mapped.ds[row][mapped.mapping.images])


def to_coco_results(image_id, output: dict, score_threshold: float) -> list[dict]:
    """Model output for one image -> COCO result dicts (bbox xywh, RLE segmentation, 1-based category)."""
    from pycocotools import mask as mask_utils  # noqa: PLC0415

    keep = output["scores"] >= score_threshold
    boxes = output["boxes"][keep].cpu().numpy()
    masks = (output["masks"][keep][:, 0] > 0.5).cpu().numpy().astype(np.uint8)
    results = []
    for box, label, score, mask in zip(boxes, output["labels"][keep].tolist(), output["scores"][keep].tolist(),
                                       masks):
        rle = mask_utils.encode(np.asfortranarray(mask))
        rle["counts"] = rle["counts"].decode("ascii")
        x1, y1, x2, y2 = (float(v) for v in box)
        results.append({"image_id": image_id, "category_id": int(label), "score": round(float(score), 5),
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "segmentation": rle})
    return results


def predict_videos(loaded: LoadedRun, videos: list[Path], out: Path, *, score_threshold: float | dict = 0.5,
                   device: str = "cpu", progress: Callable[[str, int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> dict:
    """engine/video.py's predict_video for each video; -> frames, detections and the overlay videos written."""
    summary = {"videos": 0, "frames": 0, "detections": 0, "overlays": [], "stopped": False}
    for video in videos:
        if should_stop is not None and should_stop():
            summary["stopped"] = True
            break
        each = predict_video(loaded, video, out, to_coco_results, score_threshold=score_threshold, device=device,
                             progress=(lambda n, total, name=video.name: progress(name, n, total)) if progress
                             else None, should_stop=should_stop)
        summary["videos"] += 1
        summary["frames"] += each["frames"]
        summary["detections"] += each["detections"]
        summary["overlays"].append(each["overlay"])
        summary["stopped"] = summary["stopped"] or each["stopped"]
    return summary


def _videos_in(src: Path) -> list[Path]:
    if src.is_file():
        return [src] if is_video(src) else []
    return sorted(p for p in src.iterdir() if is_video(p)) if src.is_dir() else []


@torch.no_grad()
def predict(loaded: LoadedRun, source: str, out_dir: str, *, score_threshold: float | dict = 0.5,
            device: str = "cpu", progress: Callable[[int], None] | None = None,
            video_progress: Callable[[str, int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> dict:
    """Overlays and COCO results for an image, a video, a folder of images and/or videos, or a dataset;
    `score_threshold` is one score or {1-based label: score} (engine.thresholds.resolve).

    Images: out/<name>.png and out/predictions.json; videos: see engine/video.py."""
    out = Path(out_dir)   # created once there is something to write into it
    src = Path(source)
    videos = _videos_in(src)
    is_folder = (src.is_file() and src.suffix.lower() in IMAGE_SUFFIXES) or \
        (src.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in src.iterdir()))
    if src.is_file() and not is_folder and not videos:
        raise DataError(f"{src} is neither an image ({', '.join(sorted(IMAGE_SUFFIXES))}) nor a video; pass an "
                        "image, a video, a folder of them or a dataset.")
    if src.is_dir() and not is_folder and not videos and not (src / "_deeplake_log").is_dir():
        raise DataError(f"{src} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos and is not a Deep "
                        "Lake dataset; pass an image, a video, a folder of them or a dataset.")
    summary = {"images": 0, "detections": 0, "out": str(out)}
    if videos:
        summary.update(predict_videos(loaded, videos, out, score_threshold=score_threshold, device=device,
                                      progress=video_progress, should_stop=should_stop))
        if not is_folder:
            return summary
    images = _images_from_folder(src) if is_folder else _images_from_dataset(source, loaded.cfg)
    written, found = _predict_images(loaded, images, out, score_threshold, device, progress, should_stop)
    summary["images"], summary["detections"] = len(written), summary["detections"] + found
    return summary


def _predict_images(loaded: LoadedRun, images, out: Path, score_threshold: float | dict, device: str,
                    progress, should_stop) -> tuple[list[Path], int]:
    """-> (the overlay files written, detections). Two images with one name (from different folders) get
    name, name-2, ...: neither overlay replaces the other."""
    from PIL import Image  # noqa: PLC0415

    results, names, written, count = [], [], [], 0
    for name, image in images:
        if should_stop is not None and should_stop():
            break
        name = _unused(name, {entry["file_name"] for entry in names})
        output = passing(loaded.model([image_tensor(image).to(device)])[0], score_threshold)
        image_id = int(name) if name.isdigit() else len(names)
        names.append({"id": image_id, "file_name": name, "height": image.shape[0], "width": image.shape[1]})
        results += to_coco_results(image_id, output, 0.0)
        overlay = draw_prediction(image, output_numpy(output), loaded.class_names, 0.0)
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(overlay).save(out / f"{name}.png")
        written.append(out / f"{name}.png")
        count += 1
        if progress:
            progress(count)
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(loaded.class_names)]
    atomic_write_text(out / "predictions.json", json.dumps(results) + "\n")
    atomic_write_text(out / "images.json", json.dumps({"images": names, "categories": categories}) + "\n")
    return written, len(results)


def _unused(name: str, taken: set) -> str:
    """`name`, or name-2, name-3 ... when it is taken."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate
