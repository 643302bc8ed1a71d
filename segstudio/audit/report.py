"""The audit in words and tables: warnings naming the setting to change, per-class tables, the size
histogram against COCO's bounds and the anchors, and two audits side by side."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segstudio.audit.tally import AREA_EDGES, COCO_NAMES, SIDE_EDGES

# Pipeline drops (crowd regions and broken boxes are dropped by design or are the data's problem).
PIPELINE_CODES = ("outside", "min_visibility", "min_area", "mask_empty", "tiny_box")
SHORT_REASON = {"crowd": "crowd", "invalid": "bad box", "outside": "outside", "min_visibility": "min_vis",
                "min_area": "min_area", "mask_empty": "mask empty", "tiny_box": "tiny box"}


@dataclass(frozen=True)
class Limits:
    """When a warning fires; the defaults stay quiet on the shipped presets over the demo data."""
    max_class_loss: float = 0.5      # share of a class's instances the pipeline drops
    min_coverage: float = 0.15       # share of a class's boxes after augmentation some anchor matches
    max_emptied: float = 0.2         # share of samples (with instances) left without any
    min_instances: int = 20          # fewer instances of a class than this: too few to judge


def _share(num, den) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _fix_for(code: str, s: dict) -> str:
    return {"outside": "use a larger crop (augment.image_size) or a bbox-safe crop (RandomSizedBBoxSafeCrop)",
            "min_visibility": f"lower augment.min_visibility (now {s['min_visibility']:g})",
            "min_area": f"lower augment.min_area (now {s['min_area']:g} px²)",
            "mask_empty": "raise augment.image_size (the objects shrink to nothing)",
            "tiny_box": "raise augment.image_size (the objects shrink under a pixel)"}[code]


def lost(result) -> tuple[np.ndarray, np.ndarray]:
    """(instances the pipeline dropped, instances it could have kept) per class."""
    t = result.tally
    dropped = sum(t.dropped(c) for c in PIPELINE_CODES)
    return dropped, t["before"] - t.dropped("crowd") - t.dropped("invalid")


def _names(items: list[tuple[str, str]], most: int = 6) -> str:
    """'car' (74%), 'truck' (64%) and 3 more."""
    shown = ", ".join(f"'{name}' ({figure})" for name, figure in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _loss_warnings(result, limits: Limits) -> list[str]:
    """One sentence per dominant reason, naming the classes that lose more than the limit to it."""
    t, s = result.tally, result.settings
    dropped, kept_before = lost(result)
    share = _share(dropped, kept_before)
    groups: dict[str, list[int]] = {}
    for c in range(len(result.class_names)):
        if kept_before[c] >= limits.min_instances and share[c] > limits.max_class_loss:
            groups.setdefault(max(PIPELINE_CODES, key=lambda k: t.dropped(k)[c]), []).append(c)
    out = []
    for code, classes in groups.items():
        classes.sort(key=lambda c: -share[c])
        if len(classes) == 1:
            (c,) = classes
            out.append(f"Class '{result.class_names[c]}' loses {share[c]:.0%} of its instances to augmentation "
                       f"({int(dropped[c])} of {int(kept_before[c])}, mostly {SHORT_REASON[code]}): "
                       f"{_fix_for(code, s)}.")
            continue
        items = [(result.class_names[c], f"{share[c]:.0%}") for c in classes]
        out.append(f"{len(classes)} classes lose more than {limits.max_class_loss:.0%} of their instances to "
                   f"augmentation, mostly {SHORT_REASON[code]}: {_names(items)}; {_fix_for(code, s)}.")
    return out


def _side_range(hist: np.ndarray) -> tuple[float, float]:
    """The side bin holding the median box."""
    i = int(np.searchsorted(np.cumsum(hist), hist.sum() / 2))
    return SIDE_EDGES[i], (SIDE_EDGES[i + 1] if i + 1 < len(SIDE_EDGES) else float("inf"))


def _size_fix(lo: float, hi: float, sizes: list) -> tuple[str, str]:
    """(kind, what to do) for boxes whose median side is lo-hi px."""
    if hi <= sizes[0]:
        return "small", (f"they are smaller than the smallest anchor ({sizes[0]} px): raise augment.image_size or "
                         "model.min_size (the anchor sizes follow the input size), or crop less")
    if lo >= sizes[-1]:
        return "large", f"they are larger than the largest anchor ({sizes[-1]} px): lower augment.image_size"
    return "between", "change augment.image_size or model.min_size so that the objects reach the anchor sizes"


def _coverage_warnings(result, limits: Limits) -> list[str]:
    """One sentence per cause (objects under, over or between the anchor sizes), naming the classes."""
    t, s = result.tally, result.settings
    sizes = sorted({v for level in s["anchors"]["sizes"] for v in level})
    iou = s["anchors"]["positive_iou"]
    share = _share(t["covered_after"], t["after"])
    groups: dict[str, list] = {}
    for c in range(len(result.class_names)):
        if t["after"][c] < limits.min_instances or share[c] >= limits.min_coverage:
            continue
        lo, hi = _side_range(t["side_after"][c])
        kind, fix = _size_fix(lo, hi, sizes)
        groups.setdefault(kind, []).append((c, lo, hi, fix))
    out = []
    for found in groups.values():
        found.sort(key=lambda f: share[f[0]])
        if len(found) == 1:
            ((c, lo, hi, fix),) = found
            out.append(f"Only {share[c]:.0%} of '{result.class_names[c]}' boxes after augmentation match an anchor "
                       f"at IoU {iou:g} (most are {lo:g}-{hi:g} px; anchors {sizes[0]}-{sizes[-1]} px): {fix}.")
            continue
        items = [(result.class_names[c], f"{share[c]:.0%}, most {lo:g}-{hi:g} px") for c, lo, hi, _ in found]
        out.append(f"{len(found)} classes have under {limits.min_coverage:.0%} of their boxes after augmentation "
                   f"matched by an anchor at IoU {iou:g} (anchors {sizes[0]}-{sizes[-1]} px): {_names(items)}; "
                   f"{found[0][3]}.")
    return out


def _empty_warning(result, limits: Limits) -> list[str]:
    t, s = result.tally, result.settings
    with_instances = t.samples - t.empty_before
    share = t.emptied / with_instances if with_instances else 0.0
    if share <= limits.max_emptied:
        return []
    example = f" (e.g. row {t.emptied_rows[0][0]}, draw {t.emptied_rows[0][1]})" if t.emptied_rows else ""
    return [f"{share:.0%} of samples ({t.emptied} of {with_instances}) have no instance left after augmentation"
            f"{example}: use a larger crop (augment.image_size) or a bbox-safe crop (RandomSizedBBoxSafeCrop), or "
            f"lower augment.min_visibility (now {s['min_visibility']:g})."]


def audit_warnings(result, limits: Limits = Limits()) -> list[str]:
    """One plain sentence per way the pipeline hurts, each naming the setting to change."""
    return _loss_warnings(result, limits) + _coverage_warnings(result, limits) + _empty_warning(result, limits)


def advice_line(result, limits: Limits = Limits()) -> str:
    warnings = audit_warnings(result, limits)
    if warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        return f"Audit: {warnings[0]}{more}"
    return f"Audit: no problem found over {result.tally.samples} samples."


# ---- tables --------------------------------------------------------------------------------------

def class_rows(result) -> list[dict]:
    """Per class: the figures of the table (the window and the JSON use these too)."""
    t = result.tally
    dropped, kept_before = lost(result)
    loss = _share(dropped, kept_before)
    cov_b, cov_a = _share(t["covered_before"], t["before"]), _share(t["covered_after"], t["after"])
    bal_b, bal_a = _share(t["before"], t["before"].sum()), _share(t["after"], t["after"].sum())
    bal_w = _share(t["after_weighted"], t["after_weighted"].sum())
    rows = []
    for c, name in enumerate(result.class_names):
        rows.append({"class": name, "before": int(t["before"][c]), "after": int(t["after"][c]),
                     "lost": float(loss[c]),
                     "dropped": {code: int(t.dropped(code)[c]) for code in SHORT_REASON if t.dropped(code)[c]},
                     "coverage_before": float(cov_b[c]), "coverage_after": float(cov_a[c]),
                     "reachable_after": float(_share(t["reachable_after"][c], t["after"][c])),
                     "share_before": float(bal_b[c]), "share_after": float(bal_a[c]),
                     "share_after_sampler": float(bal_w[c]),
                     "coco_before": dict(zip(COCO_NAMES, t["coco_before"][c].astype(int).tolist())),
                     "coco_after": dict(zip(COCO_NAMES, t["coco_after"][c].astype(int).tolist()))})
    return rows


def reasons_text(d: dict) -> str:
    return ", ".join(f"{SHORT_REASON[k]} {v}" for k, v in d.items()) or "-"


def class_table(result) -> list[str]:
    sampler = bool(result.settings.get("repeat_factor_threshold"))
    head = (f"{'class':<16}{'before':>7}{'after':>7}{'lost':>6}  {'anchor cover':>13}  {'share':>12}"
            + (f"{'sampled':>8}" if sampler else "") + "  dropped by reason")
    lines = [head]
    for r in class_rows(result):
        if not r["before"]:
            continue   # a class absent from the audited rows
        lines.append(f"{r['class'][:15]:<16}{r['before']:>7}{r['after']:>7}{r['lost']:>6.0%}  "
                     f"{r['coverage_before']:>5.0%} -> {r['coverage_after']:<4.0%}  "
                     f"{r['share_before']:>4.0%} -> {r['share_after']:<4.0%}"
                     + (f"{r['share_after_sampler']:>8.0%}" if sampler else "") + f"  {reasons_text(r['dropped'])}")
    return lines


def _bin_label(i: int, edges) -> str:
    hi = edges[i + 1] if i + 1 < len(edges) else None
    return f"{edges[i]}-{hi}" if hi is not None else f"{edges[i]}+"


def _marks(i: int, anchor_sizes: list, squared: bool) -> str:
    """The anchor sizes (as areas for the mask-area histogram) and COCO's bounds that fall in bin i."""
    lo, hi = SIDE_EDGES[i], (SIDE_EDGES[i + 1] if i + 1 < len(SIDE_EDGES) else float("inf"))
    marks = [f"anchor {a}" + ("²" if squared else "") for a in anchor_sizes if lo <= a < hi]
    marks += [f"COCO {name} from here" for b, name in ((32, "medium"), (96, "large")) if b == lo]
    return ", ".join(marks)


def size_histogram(result, width: int = 30, class_index: int | None = None, kind: str = "side") -> list[str]:
    """Box sides (kind "side", px) or mask areas (kind "area", px²) before | after, one line per bin, with
    the anchor sizes and COCO's bounds: of all classes, or of class `class_index`."""
    t = result.tally
    pick = slice(None) if class_index is None else slice(class_index, class_index + 1)
    before, after = t[f"{kind}_before"][pick].sum(axis=0), t[f"{kind}_after"][pick].sum(axis=0)
    top = max(before.max(), after.max(), 1)
    sizes = sorted({v for level in result.settings["anchors"]["sizes"] for v in level})
    edges, unit = (SIDE_EDGES, "box side px") if kind == "side" else (AREA_EDGES, "mask px²")
    title = unit if class_index is None else f"{result.class_names[class_index][:11]}"
    lines = [f"{title:<14}{'before':>8} {'':<{width}} {'after':>8}"]
    for i in range(len(edges)):
        bar_b = "#" * int(round(width * before[i] / top))
        bar_a = "#" * int(round(width * after[i] / top))
        lines.append(f"{_bin_label(i, edges):<14}{int(before[i]):>8} {bar_b:<{width}} {int(after[i]):>8} "
                     f"{bar_a:<{width}}  {_marks(i, sizes, kind == 'area')}".rstrip())
    return lines


def headline(result) -> str:
    t, s = result.tally, result.settings
    dropped, kept = lost(result)
    state = "" if result.complete else " (cancelled: partial)"
    cached = " (cached)" if result.cached else ""
    return (f"Audit of the {s['preset']} pipeline at {s['image_size']} px, {s['arch']}: {s['rows']} rows x "
            f"{s['draws']} draws = {t.samples} samples{state}{cached}; {int(dropped.sum())} of {int(kept.sum())} "
            f"instances dropped ({_share(dropped.sum(), kept.sum()):.0%}), {t.emptied} samples left empty.")


def report_lines(result, limits: Limits = Limits()) -> list[str]:
    warnings = audit_warnings(result, limits)
    return ([headline(result), ""] + class_table(result) + [""] + size_histogram(result) + [""]
            + size_histogram(result, kind="area") + [""]
            + ([f"warning: {w}" for w in warnings] or ["No warning: nothing the pipeline does looks harmful."]))


# ---- two pipelines -------------------------------------------------------------------------------

MARK_POINTS = 0.05    # a difference of at least 5 percentage points is marked


def compare_table(a, b, label_a: str = "current", label_b: str = "other") -> list[str]:
    """Per class: lost share and anchor coverage after augmentation of both audits, differences marked '*'."""
    ra = {r["class"]: r for r in class_rows(a) if r["before"]}    # classes present in the audited rows
    rb = {r["class"]: r for r in class_rows(b) if r["before"]}
    lines = [f"{'class':<16}{'lost ' + label_a[:8]:>15}{'lost ' + label_b[:8]:>15}  "
             f"{'cover ' + label_a[:8]:>15}{'cover ' + label_b[:8]:>15}"]
    for name in list(ra) + [n for n in rb if n not in ra]:
        x, y = ra.get(name), rb.get(name)
        cells = []
        for key in ("lost", "coverage_after"):
            va, vb = (x or {}).get(key), (y or {}).get(key)
            mark = "*" if va is not None and vb is not None and abs(va - vb) >= MARK_POINTS else " "
            cells.append(f"{_pct(va):>15}{_pct(vb) + mark:>15}")
        lines.append(f"{name[:15]:<16}{cells[0]}  {cells[1]}")
    ta, tb = a.tally, b.tally
    lines.append(f"{'samples empty':<16}{ta.emptied:>15}{tb.emptied:>15}")
    lines.append("* differs by 5 points or more")
    return lines


def _pct(v) -> str:
    return "-" if v is None else f"{v:.0%}"


def to_json(result, limits: Limits = Limits()) -> dict:
    """The audit as a JSON document (per-class figures, histograms, warnings)."""
    doc = result.to_dict()
    doc["classes"] = class_rows(result)
    doc["side_edges"], doc["area_edges"] = list(SIDE_EDGES), list(AREA_EDGES)
    doc["warnings"] = audit_warnings(result, limits)
    return doc
