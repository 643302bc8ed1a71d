"""Synthetic instance-segmentation scenes for the demo dataset: pure numpy + OpenCV, no Deep Lake.

`draw_scene(rng, ...)` paints textured shapes onto a cluttered background and returns the image with
the *visible* part of each instance (later shapes occlude earlier ones), tight boxes and class ids.
The class of an instance is decided by its outline only; colour and texture are drawn per instance,
so a model has to learn shapes, not colours.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CLASS_NAMES = ["circle", "square", "triangle", "star", "ring", "cross"]

MIN_SIZE, MAX_SIZE = 20, 120          # instance diameter in pixels, before clipping to the image
MIN_VISIBLE_PIXELS = 30               # smaller visible remnants are not labelled
MIN_VISIBLE_SHARE = 0.2               # nor are shapes hidden to less than this share of their area


@dataclass
class Scene:
    image: np.ndarray        # HxWx3 uint8 RGB, or HxWx1 uint8 for grayscale scenes
    masks: np.ndarray        # HxWxN bool, visible part of each instance
    boxes: np.ndarray        # Nx4 float32 left, top, width, height in pixels (tight box of the mask)
    labels: np.ndarray       # N uint32 index into CLASS_NAMES


# ---------------------------------------------------------------- shape outlines (binary masks)

def _rotated(points: np.ndarray, angle: float, cx: float, cy: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[:, 0], points[:, 1]
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _fill_polygon(h: int, w: int, points: np.ndarray) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    # 4 bits of sub-pixel precision keeps small shapes symmetric
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask


def _regular(n: int, radius: float) -> np.ndarray:
    t = np.arange(n) * (2 * np.pi / n) - np.pi / 2
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def shape_mask(kind: int, h: int, w: int, cx: float, cy: float, size: float, angle: float,
               rng: np.random.Generator) -> np.ndarray:
    """HxW uint8 0/1 mask of one shape of class `kind` with diameter about `size`."""
    r = size / 2
    name = CLASS_NAMES[kind]
    if name in ("circle", "ring"):
        mask = np.zeros((h, w), np.uint8)
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 16)), 1, -1,
                   lineType=cv2.LINE_8, shift=4)
        if name == "ring":   # the hole shows what lies beneath, so it is not part of the mask
            cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))),
                       int(round(r * rng.uniform(0.45, 0.62) * 16)), 0, -1, lineType=cv2.LINE_8, shift=4)
        return mask
    if name == "square":
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * (r * 0.72)
    elif name == "triangle":
        pts = _regular(3, r)
    elif name == "star":
        outer, inner = _regular(5, r), _regular(5, r * 0.42)
        inner = _rotated(inner, np.pi / 5, 0, 0)
        pts = np.stack([outer, inner], axis=1).reshape(-1, 2)
    else:  # cross: a plus sign with arms a third of its width
        a, b = r, r * 0.3
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a],
                        [-b, b], [-a, b], [-a, -b], [-b, -b]], float)
    return _fill_polygon(h, w, _rotated(pts, angle, cx, cy))


# ---------------------------------------------------------------- backgrounds and textures

def _gradient(h: int, w: int, c0: np.ndarray, c1: np.ndarray, angle: float) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = x * np.cos(angle) + y * np.sin(angle)
    t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    return c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, amplitude: float) -> np.ndarray:
    coarse = rng.normal(0, amplitude, (cells, cells, 3)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """HxWx3 float32 in 0..255: gradient and/or blotchy noise, sometimes with clutter lines."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    style = rng.integers(3)
    if style == 0:
        bg = _gradient(h, w, c0, c1, rng.uniform(0, 2 * np.pi))
    elif style == 1:
        bg = np.broadcast_to(c0, (h, w, 3)) + _smooth_noise(rng, h, w, int(rng.integers(3, 9)), 45)
    else:
        bg = _gradient(h, w, c0, c1, rng.uniform(0, 2 * np.pi)) + _smooth_noise(rng, h, w, 5, 25)
    bg = np.ascontiguousarray(bg, dtype=np.float32)
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(3, 14))):
            p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(bg, p0, p1, rng.uniform(0, 255, 3).tolist(), int(rng.integers(1, 4)))
    return bg


def texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray) -> np.ndarray:
    """HxWx3 float32 fill for one instance: solid, stripes, speckle noise or a gradient around `base`."""
    style = rng.choice(4, p=[0.4, 0.2, 0.2, 0.2])
    if style == 0:
        return np.broadcast_to(base.astype(np.float32), (h, w, 3))
    if style == 1:
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        angle, period = rng.uniform(0, np.pi), rng.uniform(5, 14)
        wave = np.sin((x * np.cos(angle) + y * np.sin(angle)) * (2 * np.pi / period))
        other = np.clip(base + rng.choice([-1, 1]) * rng.uniform(50, 90), 0, 255)
        t = (wave > 0).astype(np.float32)[..., None]
        return base * t + other * (1 - t)
    if style == 2:
        return base + rng.normal(0, 28, (h, w, 3)).astype(np.float32)
    other = np.clip(base + rng.uniform(-70, 70, 3), 0, 255)
    return _gradient(h, w, base, other, rng.uniform(0, 2 * np.pi))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray, gray: bool) -> np.ndarray:
    """A random colour that stands out against the mean colour `under` it (in luma for gray scenes)."""
    colour = rng.uniform(0, 255, 3)
    for _ in range(8):
        far = (abs(_luma(colour) - _luma(under)) >= 45 if gray
               else np.linalg.norm(colour - under) >= 90)
        if far:
            break
        colour = rng.uniform(0, 255, 3)
    else:
        colour = np.where(under > 127, rng.uniform(0, 60, 3), rng.uniform(195, 255, 3))
    return colour.astype(np.float32)


# ---------------------------------------------------------------- scenes

def _place(rng: np.random.Generator, h: int, w: int, size: float, placed: list) -> tuple[float, float]:
    """Centre for a new shape: anywhere (a little may fall outside) or touching/overlapping an earlier one."""
    if placed and rng.random() < 0.35:
        px, py, psize = placed[int(rng.integers(len(placed)))]
        angle = rng.uniform(0, 2 * np.pi)
        dist = (psize + size) / 2 * rng.uniform(0.55, 1.0)
        cx, cy = px + dist * np.cos(angle), py + dist * np.sin(angle)
        inset = min(size * 0.25, (min(h, w) - 1) / 2)     # keep most of it inside the image
        return float(np.clip(cx, inset, w - 1 - inset)), float(np.clip(cy, inset, h - 1 - inset))
    margin = size * 0.3
    return float(rng.uniform(-margin * 0.5, w + margin * 0.5)), float(rng.uniform(-margin * 0.5, h + margin * 0.5))


def tight_box(mask: np.ndarray) -> np.ndarray:
    """[left, top, width, height] of the pixels set in a HxW mask (width counts whole pixels)."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], np.float32)


def draw_scene(rng: np.random.Generator, *, empty: bool = False, gray: bool = False) -> Scene:
    h, w = (int(v) for v in rng.integers(160, 321, 2))
    image = background(rng, h, w)
    count = 0 if empty else int(rng.integers(1, 9))
    full_masks, visible, kinds, placed = [], [], [], []
    largest = min(MAX_SIZE, 0.75 * min(h, w))
    for _ in range(count):
        kind = int(rng.integers(len(CLASS_NAMES)))
        size = float(np.exp(rng.uniform(np.log(MIN_SIZE), np.log(largest))))
        cx, cy = _place(rng, h, w, size, placed)
        mask = shape_mask(kind, h, w, cx, cy, size, rng.uniform(0, 2 * np.pi), rng)
        if not mask.any():
            continue
        on = mask.astype(bool)
        under = image[on].mean(axis=0)
        fill = texture(rng, h, w, _contrasting_colour(rng, under, gray))
        image[on] = fill[on]
        for v in visible:           # the new shape hides what it covers
            v &= ~on
        visible.append(on.copy())
        full_masks.append(int(on.sum()))
        kinds.append(kind)
        placed.append((cx, cy, size))
    keep = [i for i, v in enumerate(visible)
            if v.sum() >= max(MIN_VISIBLE_PIXELS, MIN_VISIBLE_SHARE * full_masks[i])]
    image += rng.normal(0, 3, image.shape).astype(np.float32)     # sensor noise, so no flat regions
    image = np.clip(image, 0, 255).astype(np.uint8)
    if gray:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    masks = (np.stack([visible[i] for i in keep], axis=2) if keep else np.zeros((h, w, 0), bool))
    boxes = (np.stack([tight_box(visible[i]) for i in keep]) if keep else np.zeros((0, 4), np.float32))
    labels = np.array([kinds[i] for i in keep], np.uint32)
    return Scene(image, masks, boxes.astype(np.float32), labels)


def encode_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of an HxWx3 RGB or HxWx1 gray uint8 image (gray stays single-channel)."""
    pixels = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return buf.tobytes()
