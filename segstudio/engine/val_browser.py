"""A run's validation images predicted and scored one by one, for the window's worst-first browser.

`load_browser` opens the run's dataset as the run recorded it, predicts each validation row (the first
MAX_BROWSE_ROWS) and scores it against its ground truth (engine.image_scores); the outputs are cached, so
a new score threshold only re-scores (`score_rows`) and `draw_row` only draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from segstudio.data.mapped import MappedDataset, open_mapped
from segstudio.engine.image_scores import ImageScore, score_image
from segstudio.engine.rundir import read_split
from segstudio.model_io import draw_prediction, image_tensor, output_numpy
from segstudio.render import render_raw

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


def draw_row(browser: Browser, row: int, threshold: float, cache: dict, options: dict | None = None):
    """(prediction picture, ground-truth picture, a line about them) for one row at `threshold`, drawn with
    the display options (render()'s keyword arguments)."""
    names, options = browser.loaded.class_names, options or {}
    raw, out = predict_row(browser, row, cache)
    keep = out["scores"] >= threshold
    truth = render_raw(raw, names, **options)
    text = (f"row {row}: {int(keep.sum())} predictions at score >= {threshold:.2f} "
            f"({len(keep)} in all), {raw.num_instances} ground-truth instances; "
            f"{score_row(raw, out, threshold).describe()}")
    return draw_prediction(raw.image, out, names, threshold, **options), truth, text
