"""Image + instance masks + boxes + class names (+ scores) -> one RGB uint8 array.

Used by the window, `segstudio preview`, prediction output and tests. Masks get a translucent colour per
class (a fixed palette, so a class keeps its colour everywhere) and a darker outline; boxes are outlined
and labelled with the class name (and score). Compositing is vectorised: each instance only marks which
pixels it owns (inside its box), then one blend colours them all.
"""
from __future__ import annotations

import cv2
import numpy as np

# Distinct, colour-blind-friendly-ish colours (Tableau 20 order): class c uses PALETTE[c % 20].
PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
    (219, 219, 141), (158, 218, 229)], dtype=np.uint8)


def class_colour(label: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in PALETTE[int(label) % len(PALETTE)])


def _owner_map(masks: np.ndarray, boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """HxW int32: 1 + index of the instance drawn on top at each pixel (later instances on top), 0 none."""
    owner = np.zeros((h, w), np.int32)
    for i, m in enumerate(masks):
        # Only look inside the mask's box (grown by a pixel): most instances are small.
        x1, y1, x2, y2 = _mask_extent(m, boxes[i] if i < len(boxes) else None, h, w)
        if x2 <= x1 or y2 <= y1:
            continue
        region = owner[y1:y2, x1:x2]
        region[m[y1:y2, x1:x2] != 0] = i + 1
    return owner


def _mask_extent(mask: np.ndarray, box, h: int, w: int) -> tuple[int, int, int, int]:
    if box is None:
        return 0, 0, w, h
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    return (max(0, int(np.floor(x1)) - 1), max(0, int(np.floor(y1)) - 1),
            min(w, int(np.ceil(x2)) + 1), min(h, int(np.ceil(y2)) + 1))


def _blend(out: np.ndarray, owner: np.ndarray, colours: np.ndarray, alpha: float) -> None:
    """Tint owned pixels with their instance's colour and darken instance outlines, in place.

    Whole-image OpenCV operations plus masked copies: much faster than boolean-indexed numpy updates."""
    sel = (owner > 0).view(np.uint8)
    if not sel.any():
        return
    table = np.vstack([np.zeros((1, 3), np.uint8), colours.astype(np.uint8)])
    colour_map = np.take(table, owner, axis=0)                        # HxWx3
    tinted = cv2.addWeighted(out, 1.0 - alpha, colour_map, alpha, 0.0)
    cv2.copyTo(tinted, sel, out)
    # outline: owned pixels whose left/right/upper/lower neighbour belongs to someone else
    horizontal = (owner[:, 1:] != owner[:, :-1]).view(np.uint8)
    vertical = (owner[1:, :] != owner[:-1, :]).view(np.uint8)
    edge = np.zeros(owner.shape, np.uint8)
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    edge &= sel
    cv2.copyTo(cv2.convertScaleAbs(colour_map, alpha=0.6), edge, out)


def _text_scale(h: int, w: int) -> tuple[float, int]:
    side = min(h, w)
    return max(0.3, min(0.8, side / 800)), 1


def _label_order(boxes: np.ndarray, scores) -> np.ndarray:
    """Who gets a label first when labels collide: highest score, else largest box."""
    if scores is not None:
        return np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return np.argsort(-areas, kind="stable")


def _covered(rect, placed: list, limit: float = 0.0) -> bool:
    """Whether more than `limit` of rect (x1, y1, x2, y2) lies under labels already drawn (0: any part)."""
    x1, y1, x2, y2 = rect
    own = max(1, (x2 - x1) * (y2 - y1))
    for a1, b1, a2, b2 in placed:
        dx, dy = min(x2, a2) - max(x1, a1), min(y2, b2) - max(y1, b1)
        if dx > 0 and dy > 0 and dx * dy > limit * own:
            return True
    return False


def _draw_labels(out, boxes, labels, class_names, scores, colours) -> None:
    """A label for each instance unless it would overlap another label (dense scenes stay legible: the
    larger or higher-scoring instance keeps its label)."""
    h, w = out.shape[:2]
    scale, text_thick = _text_scale(h, w)
    placed: list = []
    for i in _label_order(boxes, scores):
        x1, y1 = (int(round(v)) for v in boxes[i][:2])
        colour = tuple(int(c) for c in colours[i])
        label = int(labels[i])
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        text = name if scores is None else f"{name} {float(scores[i]):.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, text_thick)
        tx = min(max(0, x1), max(0, w - tw - 2))
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else min(h - 1, y1 + th + 2)
        rect = (tx, ty - th - 1, tx + tw + 1, ty + base - 1)
        if _covered(rect, placed):
            continue
        placed.append(rect)
        cv2.rectangle(out, rect[:2], rect[2:], colour, -1)
        luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
        cv2.putText(out, text, (tx + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, text_thick, cv2.LINE_AA)


def render(image: np.ndarray, masks=None, boxes=None, labels=None, class_names=(), scores=None,
           alpha: float = 0.45, draw_boxes: bool = True, draw_labels: bool = True, draw_masks: bool = True,
           hidden_classes=()) -> np.ndarray:
    """Draw instances over `image` (HxWx3 uint8; HxW or HxWx1 gray is expanded). Returns a new array.

    masks NxHxW (any dtype, nonzero = inside), boxes Nx4 x1,y1,x2,y2 pixels, labels N 0-based class
    indices into class_names, scores N floats or None. Any of masks/boxes may be None or empty.
    alpha: mask opacity (0 = outlines only); hidden_classes: class indices not drawn at all.
    """
    if len(hidden_classes) and labels is not None:
        masks, boxes, labels, scores = _without_classes(masks, boxes, labels, scores, hidden_classes)
    if not draw_masks:
        masks = None
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    out = np.ascontiguousarray(img[:, :, :3], dtype=np.uint8).copy()
    h, w = out.shape[:2]
    labels = np.zeros(0, np.int64) if labels is None else np.asarray(labels).reshape(-1)
    boxes = np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
    colours = PALETTE[labels.astype(np.int64) % len(PALETTE)] if len(labels) else np.zeros((0, 3), np.uint8)
    if masks is not None and len(masks) and len(colours):
        masks = np.asarray(masks)
        _blend(out, _owner_map(masks[:len(colours)], boxes, h, w), colours, alpha)
    if (draw_boxes or draw_labels) and len(boxes) and len(colours):
        thickness = max(1, int(round(min(h, w) / 400)))
        if draw_boxes:
            _draw_boxes(out, boxes[:len(colours)], colours, thickness)
        if draw_labels:
            _draw_labels(out, boxes[:len(colours)], labels, list(class_names), scores, colours)
    return out


def _without_classes(masks, boxes, labels, scores, hidden):
    """The instances whose class is not in `hidden` (masks, boxes and scores filtered alike)."""
    labels = np.asarray(labels).reshape(-1)
    keep = ~np.isin(labels, np.asarray(list(hidden), np.int64))

    def pick(values):
        if values is None or len(values) != len(keep):
            return values
        return np.asarray(values)[keep]
    return pick(masks), pick(None if boxes is None else np.asarray(boxes).reshape(-1, 4)), labels[keep], pick(scores)


def _draw_boxes(out, boxes, colours, thickness) -> None:
    for box, colour in zip(boxes, colours):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)), tuple(int(c) for c in colour),
                      thickness, cv2.LINE_4)


def side_by_side(left: np.ndarray, right: np.ndarray, titles=("original", "augmented"), gap: int = 8,
                 background: int = 255) -> np.ndarray:
    """Two RGB images next to each other, top-aligned, each with a title strip above it (a column is
    widened to fit its title)."""
    titles = tuple(str(t) for t in titles) if titles else ("", "")
    strip = 22 if any(titles) else 0
    widths = [max(img.shape[1], cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0] + 4 if t else 0)
              for img, t in ((left, titles[0]), (right, titles[1]))]
    height = max(left.shape[0], right.shape[0]) + strip
    canvas = np.full((height, widths[0] + gap + widths[1], 3), background, np.uint8)
    for x0, img, title in ((0, left, titles[0]), (widths[0] + gap, right, titles[1])):
        canvas[strip:strip + img.shape[0], x0:x0 + img.shape[1]] = img
        if title:
            cv2.putText(canvas, title, (x0 + 2, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def prepared_to_render(sample) -> dict:
    """Render inputs from a PreparedSample: float [0,1] CxHxW -> uint8 HxWx3, model labels (class + 1)
    back to 0-based class indices."""
    image = sample.image.detach().cpu().numpy()
    image = np.clip(np.rint(image.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
    t = sample.target
    return {"image": image, "masks": t["masks"].cpu().numpy(), "boxes": t["boxes"].cpu().numpy(),
            "labels": t["labels"].cpu().numpy().astype(np.int64) - 1}


def enlarge(inputs: dict, factor: int) -> dict:
    """Render inputs scaled up by an integer factor (nearest neighbour, for display only), so a small
    training crop is readable next to the original; the pixels themselves are unchanged, only repeated."""
    if factor <= 1:
        return inputs
    out = dict(inputs)
    out["image"] = np.repeat(np.repeat(inputs["image"], factor, axis=0), factor, axis=1)
    masks = inputs.get("masks")
    if masks is not None and len(masks):
        out["masks"] = np.repeat(np.repeat(masks, factor, axis=1), factor, axis=2)
    if inputs.get("boxes") is not None:
        out["boxes"] = np.asarray(inputs["boxes"], np.float32) * factor
    return out


def raw_to_render(raw) -> dict:
    """Render inputs from a RawSample (masks, boxes and labels are already in render's layout)."""
    return {"image": raw.image, "masks": raw.masks, "boxes": raw.boxes, "labels": raw.labels}


def render_raw(raw, class_names, **options) -> np.ndarray:
    """A RawSample (a dataset row as stored) with its masks, boxes and class names (options: render()'s)."""
    return render(**raw_to_render(raw), class_names=class_names, **options)


def name_tags(boxes, labels, class_names, scores=None, hidden=(), factor: float = 1.0) -> list[tuple]:
    """(x, y, text, rgb) for each instance's name, for views that draw names over the picture at screen size
    (not into its pixels): the box's top-left corner (times `factor`), the name (and score), its colour."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    out = []
    for i, (box, label) in enumerate(zip(boxes, labels)):
        if int(label) in set(hidden):
            continue
        name = class_names[label] if 0 <= label < len(class_names) else str(int(label))
        text = f"{name} {float(scores[i]):.2f}" if scores is not None else name
        out.append((float(box[0]) * factor, float(box[1]) * factor, text, class_colour(int(label))))
    return out


def render_prepared(raw, prepared, class_names, **options) -> tuple[np.ndarray, int]:
    """What training gets from `raw` (a PreparedSample), drawn, and the whole factor it was enlarged by:
    a small training crop is shown at about the original's height (pixels repeated, not resampled),
    so its labels stay readable next to the original."""
    factor = max(1, round(raw.image.shape[0] / max(1, prepared.image.shape[1])))
    return render(**enlarge(prepared_to_render(prepared), factor), class_names=class_names, **options), factor


def original_and_augmented(raw, prepared, class_names, caption: str = "augmented") -> np.ndarray:
    """The row and what training gets from it side by side, titled with their sizes (`segstudio preview`)."""
    augmented, factor = render_prepared(raw, prepared, class_names)
    aug_h, aug_w = prepared.image.shape[1:]
    shown = f", shown x{factor}" if factor > 1 else ""
    return side_by_side(render_raw(raw, class_names), augmented,
                        titles=(f"row {raw.index}: original {raw.image.shape[1]}x{raw.image.shape[0]}",
                                f"{caption}: {aug_w}x{aug_h}{shown}"))
