"""Predicting on videos: frames read with OpenCV, overlays written to a video, COCO results per frame.

For a video NAME.ext the output folder gets NAME.overlay.mp4 (every frame with its detections drawn),
NAME.predictions.json (COCO results, image_id = frame index) and NAME.images.json (one entry per frame
with its time). A stop request ends the video at the frame it reached; what was written stays usable.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from segstudio.base.errors import DataError
from segstudio.base.files import atomic_write_text
from segstudio.engine.thresholds import passing
from segstudio.samples.model_io import draw_prediction, image_tensor, output_numpy

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def open_video(path: Path):
    """(capture, first RGB frame, frames per second, frame count); DataError when OpenCV cannot decode it."""
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read() if capture.isOpened() else (False, None)
    if not ok or frame is None:
        capture.release()
        raise DataError(f"{path} is not a video OpenCV can decode (damaged, empty or an unsupported codec); "
                        "convert it to H.264 MP4 or remove it from the input.")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
    return capture, np.ascontiguousarray(frame[:, :, ::-1]), fps, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)


def _frame_writer(path: Path, fps: float, frame: np.ndarray):
    h, w = frame.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise DataError(f"Cannot write the overlay video {path}; check the --out folder is writable.")
    return writer


@torch.no_grad()
def predict_video(loaded, path: Path, out: Path, to_results: Callable, *, score_threshold: float | dict = 0.5,
                  device: str = "cpu", progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """Overlays and per-frame COCO results for one video (see the module doc); -> its summary."""
    capture, frame, fps, total = open_video(path)
    out.mkdir(parents=True, exist_ok=True)
    video_out = out / f"{path.stem}.overlay.mp4"
    writer = _frame_writer(video_out, fps, frame)
    results, frames, stopped = [], [], False
    try:
        while frame is not None:
            if should_stop is not None and should_stop():
                stopped = True
                break
            output = passing(loaded.model([image_tensor(frame).to(device)])[0], score_threshold)
            index = len(frames)
            results += to_results(index, output, 0.0)
            frames.append({"id": index, "file_name": f"{path.name}#{index}", "time_s": round(index / fps, 4),
                           "height": frame.shape[0], "width": frame.shape[1]})
            overlay = draw_prediction(frame, output_numpy(output), loaded.class_names, 0.0)
            writer.write(np.ascontiguousarray(overlay[:, :, ::-1]))
            if progress is not None:
                progress(len(frames), total)
            ok, bgr = capture.read()
            frame = np.ascontiguousarray(bgr[:, :, ::-1]) if ok else None
    finally:
        writer.release()
        capture.release()
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(loaded.class_names)]
    atomic_write_text(out / f"{path.stem}.predictions.json", json.dumps(results) + "\n")
    atomic_write_text(out / f"{path.stem}.images.json",
                      json.dumps({"video": str(path), "fps": fps, "images": frames, "categories": categories}) + "\n")
    return {"frames": len(frames), "detections": len(results), "overlay": str(video_out), "stopped": stopped}
