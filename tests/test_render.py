"""render: output layout, class colours on mask pixels, boxes, side_by_side, PreparedSample round trip."""
import numpy as np
import torch

from segstudio.samples.augment import PreparedSample
from segstudio.samples.render import PALETTE, class_colour, enlarge, prepared_to_render, render, side_by_side


def scene():
    image = np.zeros((60, 80, 3), np.uint8)
    masks = np.zeros((2, 60, 80), np.uint8)
    masks[0, 10:30, 10:30] = 1
    masks[1, 35:55, 40:75] = 1
    boxes = np.array([[10, 10, 30, 30], [40, 35, 75, 55]], np.float32)
    return image, masks, boxes, np.array([0, 3])


def test_shape_dtype_and_input_untouched():
    image, masks, boxes, labels = scene()
    before = image.copy()
    out = render(image, masks, boxes, labels, ["a", "b", "c", "d"])
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    assert np.array_equal(image, before)


def test_mask_pixels_are_tinted_in_the_class_colour():
    image, masks, boxes, labels = scene()
    out = render(image, masks, boxes, labels, ["a", "b", "c", "d"], alpha=0.5, draw_boxes=False,
                 draw_labels=False)
    for (y, x), label in zip([(20, 20), (45, 57)], labels):   # pixels away from the outlines
        interior = out[y, x].astype(int)
        expected = np.array(class_colour(label)) * 0.5
        assert np.abs(interior - expected).max() <= 2
    assert (out[masks.max(axis=0) == 0] == 0).all()        # outside every mask: unchanged
    assert not np.array_equal(class_colour(0), class_colour(3))


def test_boxes_and_labels_are_drawn():
    image, masks, boxes, labels = scene()
    out = render(image, None, boxes, labels, ["a", "b", "c", "d"], scores=[0.9, 0.5])
    assert tuple(out[20, 10]) == tuple(PALETTE[0])           # left edge of box 0
    assert out.sum() > 0


def test_gray_empty_and_unknown_labels():
    gray = np.full((20, 30), 100, np.uint8)
    assert render(gray).shape == (20, 30, 3)
    assert np.array_equal(render(gray, np.zeros((0, 20, 30)), np.zeros((0, 4)), np.zeros(0)), np.dstack([gray] * 3))
    out = render(gray, np.ones((1, 20, 30)), [[0, 0, 30, 20]], [99], ["only"])
    assert out.shape == (20, 30, 3)


def test_side_by_side_and_enlarge():
    left, right = np.zeros((50, 40, 3), np.uint8), np.zeros((20, 30, 3), np.uint8)
    both = side_by_side(left, right, ("x", "y"), gap=5)
    assert both.shape[1] == 40 + 5 + 30 and both.shape[0] >= 50
    big = enlarge({"image": right, "masks": np.ones((1, 20, 30)), "boxes": np.array([[1, 2, 3, 4]])}, 3)
    assert big["image"].shape == (60, 90, 3) and big["masks"].shape == (1, 60, 90)
    assert big["boxes"].tolist() == [[3, 6, 9, 12]]


def test_prepared_sample_round_trip():
    img = torch.rand(3, 16, 20)
    target = {"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "labels": torch.tensor([4]),
              "masks": torch.ones(1, 16, 20, dtype=torch.uint8)}
    inputs = prepared_to_render(PreparedSample(img, target, {}, 0))
    assert inputs["image"].dtype == np.uint8 and inputs["image"].shape == (16, 20, 3)
    assert inputs["labels"].tolist() == [3]
    assert render(**inputs, class_names=["a", "b", "c", "d"]).shape == (16, 20, 3)


def test_dense_scene_labels_do_not_overlap(monkeypatch):
    """90-instance scenes: a label is skipped where it would overlap one already drawn (largest box first)."""
    import segstudio.samples.render as render_module

    drawn = []
    real = render_module.cv2.putText
    monkeypatch.setattr(render_module.cv2, "putText",
                        lambda img, text, *a, **k: drawn.append(text) or real(img, text, *a, **k))
    image = np.zeros((120, 160, 3), np.uint8)
    boxes = np.array([[10 + i % 10, 40, 60 + i % 10, 90] for i in range(20)] + [[100, 90, 150, 115]], np.float32)
    boxes[7] = [5, 40, 80, 110]                                   # the largest of the stack
    labels = np.arange(21) % 4
    render(image, None, boxes, labels, ["alpha", "beta", "gamma", "delta"])
    assert drawn == ["delta", "alpha"]                            # box 7 (class 3) wins the stack; box 20 is apart
    drawn.clear()
    render(image, None, boxes, labels, ["alpha", "beta", "gamma", "delta"], scores=np.linspace(0.1, 0.9, 21))
    assert drawn == ["alpha 0.90", "delta 0.86"]                  # predictions: highest score first


def test_display_options_hide_classes_masks_and_boxes_independently():
    image, masks, boxes, labels = scene()
    names = ["a", "b", "c", "d"]
    full = render(image, masks, boxes, labels, names, draw_labels=False)
    hidden = render(image, masks, boxes, labels, names, draw_labels=False, hidden_classes=(3,))
    alone = render(image, masks[:1], boxes[:1], labels[:1], names, draw_labels=False)
    assert np.array_equal(hidden, alone) and not np.array_equal(hidden, full)   # class 3 is gone entirely
    no_masks = render(image, masks, boxes, labels, names, draw_masks=False, draw_labels=False)
    assert tuple(no_masks[20, 20]) == (0, 0, 0) and tuple(no_masks[20, 10]) == tuple(PALETTE[0])
    faint = render(image, masks, boxes, labels, names, alpha=0.1, draw_boxes=False, draw_labels=False)
    assert faint[20, 20].astype(int).sum() < full[20, 20].astype(int).sum()
    labels_only = render(image, None, boxes, labels, names, draw_boxes=False)
    assert tuple(labels_only[28, 10]) != tuple(PALETTE[0]) and labels_only.sum() > 0   # text, no box edge
