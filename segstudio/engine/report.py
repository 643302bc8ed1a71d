"""A shareable evaluation report: PNG figures, the numbers as JSON, one self-contained HTML page.

`write_report(eval_dir, out)` reads what `segstudio eval` wrote (eval/metrics.json, eval/analysis.json)
and draws with matplotlib (Agg, no display): PR curves, confusion matrix, error types and per-class AP
for boxes and masks, plus the worst images when given (`worst`: [(title, RGB array)]). index.html
inlines every image as base64, so it opens in a browser from anywhere with no server.
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from segstudio.base.errors import DataError
from segstudio.base.files import atomic_write_text

KIND_TITLES = {"bbox": "boxes", "segm": "masks"}
ERROR_TITLES = {"cls": "wrong class", "loc": "poorly placed", "both": "class and place", "dupe": "duplicate",
                "bkg": "background", "missed": "missed"}
MAX_LEGEND = 12
MAX_PICTURE_WIDTH = 1400   # px, a worst image (prediction | ground truth) in the report


def _plt():
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def pr_figure(summary: dict, recall: list, kind: str) -> bytes:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), sharey=True)
    for ax, (setting, curves) in zip(axes, summary["pr_curves"].items()):
        classes = [n for n in curves if n != "all"]
        ranked = sorted(classes, key=lambda n: -summary["per_class"][n]["ap"][setting])
        for name in ranked:
            ax.plot(recall, curves[name], lw=1, alpha=0.6,
                    label=f"{name} {summary['per_class'][name]['ap'][setting]:.3f}" if len(classes) <= MAX_LEGEND
                    else None)
        ax.plot(recall, curves["all"], lw=3, color="black",
                label=f"all classes pooled (mAP {summary['map'][setting]:.3f})")
        ax.set(title=f"{KIND_TITLES[kind]}, IoU {setting}", xlabel="recall", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("precision")
    return _png(fig)


def confusion_figure(confusion: dict, kind: str) -> bytes:
    plt = _plt()
    counts, names = np.array(confusion["counts"]), confusion["names"]
    used = np.flatnonzero((counts.sum(0) + counts.sum(1)) > 0)
    used = used if len(used) else np.arange(len(names))
    counts = counts[np.ix_(used, used)]
    norm = np.divide(counts, counts.sum(1, keepdims=True), out=np.zeros(counts.shape),
                     where=counts.sum(1, keepdims=True) > 0)
    size = max(5.0, 0.38 * len(used) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = [names[i] for i in used]
    ax.set_xticks(range(len(used)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(used)), labels, fontsize=8)
    if len(used) <= 25:
        for r in range(len(used)):
            for c in range(len(used)):
                if counts[r, c]:
                    ax.text(c, r, str(counts[r, c]), ha="center", va="center", fontsize=7,
                            color="white" if norm[r, c] > 0.5 else "black")
    ax.set(xlabel="predicted (background = spurious)", ylabel="ground truth (background = missed)",
           title=f"Confusion, {KIND_TITLES[kind]} (row-normalised colour, counts in cells)")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _png(fig)


def errors_figure(errors: dict, kind: str) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    keys = list(ERROR_TITLES)
    values = [errors["delta"][k] for k in keys]
    bars = ax.barh([ERROR_TITLES[k] for k in keys], values, color="#c0504d")
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="AP50 points recovered by fixing them", title=f"Error types, {KIND_TITLES[kind]} "
           f"(AP50 {errors['base_ap50']:.1f})")
    return _png(fig)


def per_class_figure(analysis: dict) -> bytes:
    plt = _plt()
    names = [n for n in analysis["kinds"]["segm"]["per_class"] if n != "all"]
    box = [analysis["kinds"]["bbox"]["per_class"][n]["ap"]["0.5:0.95"] for n in names]
    mask = [analysis["kinds"]["segm"]["per_class"][n]["ap"]["0.5:0.95"] for n in names]
    order = np.argsort(mask)[::-1]
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(names) + 2), 3.8))
    x = np.arange(len(names))
    ax.bar(x - 0.2, np.maximum(np.array(box)[order], 0), 0.4, label="box AP")
    ax.bar(x + 0.2, np.maximum(np.array(mask)[order], 0), 0.4, label="mask AP")
    ax.set_xticks(x, [names[i] for i in order], rotation=90, fontsize=8)
    ax.set(ylabel="AP @ IoU 0.5:0.95", ylim=(0, 1), title="Per-class AP (classes without ground truth at 0)")
    ax.legend()
    return _png(fig)


def _table(headers: list, rows: list) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _per_class_rows(analysis: dict) -> list:
    """Classes with ground truth or predictions; AP "-" where a class has no ground truth."""
    ap = lambda v: "-" if v < 0 else f"{v:.3f}"  # noqa: E731
    rows = []
    for name, s in analysis["kinds"]["segm"]["per_class"].items():
        b = analysis["kinds"]["bbox"]["per_class"][name]
        if not s["gt"] and not s["tp"] + s["fp"]:
            continue
        rows.append(["all classes, pooled" if name == "all" else name, s["gt"], ap(b["ap"]["0.5:0.95"]),
                     ap(s["ap"]["0.5:0.95"]), ap(s["ap"]["0.5"]), f"{s['threshold']:.2f}", f"{s['precision']:.3f}",
                     f"{s['recall']:.3f}", f"{s['f1']:.3f}"])
    return rows


def _html(metrics: dict, analysis: dict, images: dict) -> str:
    def img(name):
        data = base64.b64encode(images[name]).decode("ascii")
        return f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    m = metrics.get("metrics", {})
    errors = [[ERROR_TITLES[k]] + [f"{analysis['kinds'][kind]['errors']['delta'][k]:.2f}" for kind in ("bbox", "segm")]
              for k in ERROR_TITLES]
    parts = [f"<h1>Evaluation of {html.escape(Path(str(metrics.get('run', ''))).name)}</h1>",
             f"<p>{metrics.get('checkpoint', '')} checkpoint, iteration {metrics.get('iteration', '')}, "
             f"{metrics.get('images', '')} images of {html.escape(str(metrics.get('dataset', '')))}.</p>",
             _table(["", "AP", "AP50", "AP75"],
                    [[t] + [f"{m.get(f'{k}_{x}', float('nan')):.3f}" for x in ("map", "map_50", "map_75")]
                     for k, t in (("bbox", "box"), ("segm", "mask"))]),
             "<h2>Per class (masks; P/R/F1 at the class's F1-best threshold, IoU 0.5)</h2>",
             _table(["class", "instances", "box AP", "mask AP", "mask AP50", "threshold", "precision", "recall", "F1"],
                    _per_class_rows(analysis)),
             "<h2>Error types (AP50 points each would recover)</h2>", _table(["error", "boxes", "masks"], errors)]
    parts += [img(name) for name in images]
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>segstudio evaluation</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def read_evaluation(eval_dir: Path) -> tuple[dict, dict]:
    eval_dir = Path(eval_dir)
    try:
        metrics = json.loads((eval_dir / "metrics.json").read_text())
        analysis = json.loads((eval_dir / "analysis.json").read_text())
    except (OSError, ValueError):
        raise DataError(f"{eval_dir} holds no complete evaluation; run `segstudio eval RUN` first.") from None
    return metrics, analysis


def write_report(eval_dir: Path, out: Path, worst: list | None = None) -> Path:
    """Figures, report.json and index.html in `out`; returns the page's path."""
    metrics, analysis = read_evaluation(eval_dir)
    out = Path(out)
    images = {}
    for kind in ("segm", "bbox"):
        summary = analysis["kinds"][kind]
        images[f"pr_curves_{kind}.png"] = pr_figure(summary, analysis["recall_points"], kind)
        images[f"confusion_{kind}.png"] = confusion_figure(summary["confusion"], kind)
        images[f"errors_{kind}.png"] = errors_figure(summary["errors"], kind)
    images["per_class_ap.png"] = per_class_figure(analysis)
    for i, (title, picture) in enumerate(worst or []):
        images[f"worst_{i + 1:02d}_{title}.png"] = _array_png(picture)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (out / name).write_bytes(data)
    atomic_write_text(out / "report.json", json.dumps({"metrics": metrics, "analysis": analysis}, indent=1) + "\n")
    page = out / "index.html"
    atomic_write_text(page, _html(metrics, analysis, images))
    for shared in (page, out / "report.json"):   # made to be shared: readable like the PNGs beside them
        shared.chmod(0o644)
    return page


def write_run_report(run_dir: Path, out: Path, worst: int = 6) -> Path:
    """The report of a run's stored evaluation, with its `worst` worst images at the global F1-best
    threshold (drawn from the stored predictions; the dataset is read for the pictures)."""
    from segstudio.engine import eval_store  # noqa: PLC0415
    from segstudio.engine.val_browser import worst_pictures  # noqa: PLC0415

    eval_dir = Path(run_dir) / "eval"
    read_evaluation(eval_dir)   # a clear error when there is none
    images, names = eval_store.load(eval_dir / "predictions.json")
    threshold = json.loads((eval_dir / "thresholds.json").read_text())["global"]
    return write_report(eval_dir, out, worst_pictures(run_dir, images, names, threshold, worst))


def _array_png(picture: np.ndarray) -> bytes:
    from PIL import Image  # noqa: PLC0415
    buf = io.BytesIO()
    image = Image.fromarray(np.asarray(picture, np.uint8))
    image.thumbnail((MAX_PICTURE_WIDTH, MAX_PICTURE_WIDTH))   # keeps index.html a few MB
    image.save(buf, format="PNG")
    return buf.getvalue()
