"""Predicting on files a user picks (the window's "Predict on files..."): images, videos and folders of
them, with the run's checkpoint or one of its certified exports (runs/<name>/export/<format>).

Outputs go into one folder: <image>.png overlays, predictions.json and images.json for the images;
<video>.overlay.mp4, <video>.predictions.json and <video>.images.json per video (engine/video.py).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import cv2
import torch

from segstudio.base.errors import DataError
from segstudio.engine.export_formats import FORMATS, export_runner
from segstudio.engine.inference import IMAGE_SUFFIXES, LoadedRun, _images_from_folder, _predict_images, predict_videos
from segstudio.engine.video import is_video

CHECKPOINT = "checkpoint"


def model_choices(run_dir: Path) -> list[str]:
    """"checkpoint" and each export of the run that passed its parity suite (it has parity.json)."""

    return [CHECKPOINT] + [f for f in FORMATS if (Path(run_dir) / "export" / f / "parity.json").is_file()]


def with_model(loaded: LoadedRun, choice: str) -> LoadedRun:
    """`loaded` predicting with its checkpoint or with the export `choice` (same call: list of images ->
    list of detection dicts)."""
    if choice == CHECKPOINT:
        return loaded

    return replace(loaded, model=export_runner(loaded.run_dir / "export" / choice, choice))


def gather(paths: list[str]) -> tuple[list[Path], list[Path]]:
    """The images and videos among `paths` and in the folders among them; DataError when there are none."""

    images, videos = [], []
    for path in map(Path, paths):
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        images += [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        videos += [p for p in files if is_video(p)]
    if not images and not videos:
        raise DataError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos in what was chosen; pick "
                        "image or video files, or folders that hold them.")
    return images, videos


@torch.no_grad()
def predict_files(loaded: LoadedRun, paths: list[str], out: Path, *, score_threshold: float | dict = 0.5,
                  progress: Callable[[str, int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """Overlays and COCO results for the chosen files into `out`; -> the overlay files written (images,
    then videos), counts and whether a stop request ended it early. progress(what, done, total)."""
    images, videos = gather(paths)
    out.mkdir(parents=True, exist_ok=True)
    stop = should_stop or (lambda: False)
    summary = {"out": str(out), "images": [], "videos": [], "detections": 0, "stopped": False}
    if images:
        read = (item for path in images for item in _images_from_folder(path))
        written, found = _predict_images(loaded, read, out, score_threshold, "cpu",
                                         lambda n: progress and progress("images", n, len(images)), stop)
        summary["images"] = [str(path) for path in written]
        summary["detections"] += found
        summary["stopped"] = len(written) < len(images)
    if videos and not summary["stopped"]:
        each = predict_videos(loaded, videos, out, score_threshold=score_threshold,
                              progress=(lambda name, n, total: progress(name, n, total)) if progress else None,
                              should_stop=stop)
        summary["videos"], summary["stopped"] = each["overlays"], each["stopped"]
        summary["detections"] += each["detections"]
    return summary


def first_frames(video: Path, count: int = 3) -> list:
    """Up to `count` (frame index, RGB frame) spread over the video (an overlay video shown as pictures)."""

    capture = cv2.VideoCapture(str(video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    frames = []
    try:
        for index in sorted({round(i * max(total - 1, 0) / max(count - 1, 1)) for i in range(count)}):
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
            if ok:
                frames.append((index, bgr[:, :, ::-1].copy()))
    finally:
        capture.release()
    return frames
