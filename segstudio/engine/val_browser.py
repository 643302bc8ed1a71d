"""A run's validation images predicted and scored one by one, for the window's worst-first browser.

`load_browser` opens the run's dataset as the run recorded it, predicts each validation row (the first
MAX_BROWSE_ROWS) and scores it against its ground truth (engine.image_scores); the outputs are cached, so
a new score threshold only re-scores (`score_rows`) and `draw_row` only draws. `browser_from_explorer`
does the same from the predictions a stored evaluation already made (engine.explorer), with no model
call: each row's masks are decoded from their RLEs when the row is scored or drawn.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from segstudio.data.mapped import MappedDataset, open_mapped
from segstudio.engine.image_scores import ImageScore, score_image, worst_first
from segstudio.engine.rundir import load_run_config, read_split
from segstudio.samples.model_io import draw_prediction, image_tensor, output_numpy
from segstudio.samples.render import render_raw

MAX_BROWSE_ROWS = 200   # each row is one model call on the CPU: keep "Show predictions" to minutes


@dataclass
class Browser:
    loaded: object                                # engine.inference.LoadedRun
    mapped: MappedDataset
    rows: list
    outputs: dict = field(default_factory=dict)   # row -> model output as numpy arrays
    scores: dict = field(default_factory=dict)    # row -> engine.image_scores.ImageScore
    threshold: float = 0.5
    order: list = field(default_factory=list)     # rows as listed, worst first
    val_rows: int = 0                             # validation rows in the run's split (rows: the first ones)


def predict_row(browser: Browser, row: int, cache: dict):
    """(raw sample, the model's output for it as numpy), the output computed once and cached."""
    raw = browser.mapped.read(row)
    if row not in cache:
        with torch.no_grad():
            cache[row] = output_numpy(browser.loaded.model([image_tensor(raw.image)])[0])
    return raw, cache[row]


def score_row(raw, out: dict, threshold: float) -> ImageScore:
    # the model numbers classes from 1 (0 is background); samples from 0
    return score_image(out["masks"], out["labels"], out["scores"], raw.masks, raw.labels + 1, raw.iscrowd,
                       score_threshold=threshold)


def score_rows(browser: Browser, threshold: float) -> dict:
    """Every predicted row scored again at a new threshold (predictions are cached)."""
    return {row: score_row(predict_row(browser, row, browser.outputs)[0], browser.outputs[row], threshold)
            for row in list(browser.outputs)}


def load_browser(loaded, threshold: float = 0.5, report=None, should_stop=None) -> Browser:
    """The run's dataset, mapping and validation rows (as the run recorded them), each row predicted and
    scored at `threshold`; stops early (with the rows done so far) when asked."""
    cfg = loaded.cfg
    mapped = open_mapped(cfg.data.url, cfg.data, endpoint_url=cfg.data.endpoint_url)
    split = read_split(loaded.run_dir) or {}
    val = [int(r) for r in split.get("val", [])]
    browser = Browser(loaded, mapped, val[:MAX_BROWSE_ROWS], threshold=threshold, val_rows=len(val))
    for done, row in enumerate(browser.rows):
        if should_stop is not None and should_stop():
            break
        raw, out = predict_row(browser, row, browser.outputs)
        browser.scores[row] = score_row(raw, out, threshold)
        if report is not None:
            report(done + 1, len(browser.rows))
    return browser


def draw_row(browser: Browser, row: int, threshold: float, cache: dict, options: dict | None = None,
             outline: tuple = ()):
    """(prediction picture, ground-truth picture, a line about them) for one row at `threshold`, drawn with
    the display options (render()'s keyword arguments); `outline` = [(gt index, prediction index)] (-1:
    none) are outlined in both pictures (a confusion-matrix cell's instances)."""
    names, options = browser.loaded.class_names, options or {}
    raw, out = predict_row(browser, row, cache)
    keep = out["scores"] >= threshold
    truth = render_raw(raw, names, **options)
    text = (f"row {row}: {int(keep.sum())} predictions at score >= {threshold:.2f} "
            f"({len(keep)} in all), {raw.num_instances} ground-truth instances; "
            f"{score_row(raw, out, threshold).describe()}")
    prediction = draw_prediction(raw.image, out, names, threshold, **options)
    for g, p in outline:
        if 0 <= p < len(out["scores"]):
            draw_outline(prediction, out["masks"][p, 0] > 0.5)
        if 0 <= g < len(raw.labels):
            draw_outline(truth, np.asarray(raw.masks[g]) > 0)
    return prediction, truth, text


OUTLINE_COLOUR = (255, 255, 0)


def draw_outline(picture: np.ndarray, mask: np.ndarray, width: int = 2) -> None:
    """Paint the border of `mask` (the pixels within `width` of its outside) onto `picture` in place."""
    mask = np.asarray(mask, bool)
    if mask.shape != picture.shape[:2] or not mask.any():
        return
    inner = mask.copy()
    for _ in range(width):   # erode by one pixel in the four directions
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    picture[mask & ~inner] = OUTLINE_COLOUR


class StoredOutputs(Mapping):
    """row -> model output as numpy (boxes, labels, scores, masks N x 1 x H x W uint8) from a stored
    evaluation, decoded on access; the last few decoded rows are kept."""

    KEEP = 4

    def __init__(self, images):
        self._images = {im.row: im for im in images}
        self._decoded: dict = {}

    def __getitem__(self, row):
        from pycocotools import mask as mask_utils  # noqa: PLC0415

        if row not in self._decoded:
            im = self._images[row]
            masks = (mask_utils.decode(im.pred_masks).transpose(2, 0, 1)[:, None] if im.pred_masks
                     else np.zeros((0, 1, im.height, im.width), np.uint8))
            if len(self._decoded) >= self.KEEP:
                self._decoded.pop(next(iter(self._decoded)))
            self._decoded[row] = {"boxes": im.pred_boxes.astype(np.float32), "labels": im.pred_labels,
                                  "scores": im.pred_scores.astype(np.float32), "masks": masks}
        return self._decoded[row]

    def __contains__(self, row):
        return row in self._images

    def __iter__(self):
        return iter(self._images)

    def __len__(self):
        return len(self._images)


def browser_from_explorer(explorer, threshold: float = 0.5, report=None, should_stop=None) -> Browser:
    """A browser over a stored evaluation's images (engine.explorer.Explorer), scored at `threshold`."""
    cfg = load_run_config(explorer.run_dir)
    loaded = StoredRun(explorer.run_dir, cfg, explorer.class_names)
    mapped = open_mapped(cfg.data.url, cfg.data, endpoint_url=cfg.data.endpoint_url)
    outputs = StoredOutputs(explorer.images)
    rows = [im.row for im in explorer.images]
    browser = Browser(loaded, mapped, rows, outputs=outputs, threshold=threshold, val_rows=len(rows))
    for done, row in enumerate(rows):
        if should_stop is not None and should_stop():
            break
        raw, out = predict_row(browser, row, outputs)
        browser.scores[row] = score_row(raw, out, threshold)
        if report is not None:
            report(done + 1, len(rows))
    return browser


@dataclass
class StoredRun:
    """What a browser needs of a run when its predictions are stored (no model)."""
    run_dir: object
    cfg: object
    class_names: list
    model: object = None


@dataclass
class StoredEvaluation:
    """A stored evaluation as browser_from_explorer reads it (engine.explorer.Explorer has the same fields)."""
    run_dir: object
    images: list
    class_names: list


def worst_pictures(run_dir, images, class_names, threshold: float, count: int = 6) -> list[tuple[str, object]]:
    """[(name, prediction | ground truth side by side)] of the `count` worst-scored images of a stored
    evaluation at `threshold`, for the report."""
    browser = browser_from_explorer(StoredEvaluation(run_dir, images, class_names), threshold)
    out = []
    for row in worst_first(browser.scores)[:count]:
        prediction, truth, _ = draw_row(browser, row, threshold, browser.outputs)
        gap = np.full((prediction.shape[0], 8, 3), 255, np.uint8)
        out.append((f"row{row}", np.concatenate([prediction, gap, truth], axis=1)))
    return out
