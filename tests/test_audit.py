"""The augmentation audit: known-answer counts, anchor coverage against a brute-force IoU over torchvision's
own anchors, warnings that fire on fixtures made for them and stay quiet on the shipped presets."""
import numpy as np
import pytest
import torch

from segstudio.audit.anchors import AnchorSetup
from segstudio.audit.report import Limits, audit_warnings, class_rows, compare_table, report_lines
from segstudio.audit.run import AuditResult, audit_mapped, audit_settings
from segstudio.audit.tally import AuditTally, sample_stats
from segstudio.base.config import AugmentConfig, Config, ModelConfig
from segstudio.data.sample import RawSample
from segstudio.samples.augment import build_pipeline, prepare_sample, sample_seed

NAMES = ["border", "centre"]


def _raw(index: int, rects: list[tuple], h: int = 100, w: int = 100) -> RawSample:
    """A row with one rectangle mask per (label, x0, y0, x1, y1)."""
    masks = np.zeros((len(rects), h, w), np.uint8)
    for i, (_, x0, y0, x1, y1) in enumerate(rects):
        masks[i, y0:y1, x0:x1] = 1
    boxes = np.array([r[1:] for r in rects], np.float32).reshape(-1, 4)
    return RawSample(index, np.zeros((h, w, 3), np.uint8), masks, boxes, np.array([r[0] for r in rects]))


def _cfg(transforms, image_size=80, **aug) -> Config:
    cfg = Config()
    cfg.augment = AugmentConfig(preset="custom", transforms=transforms, image_size=image_size, **aug)
    return cfg


def _audit(cfg: Config, raws: list[RawSample], draws: int = 1) -> AuditResult:
    """The audit's sums over synthetic rows, sample by sample as the loader workers compute them."""
    anchors = AnchorSetup.for_config(cfg)
    pipeline = build_pipeline(cfg.augment)
    tally = AuditTally(len(NAMES))
    for draw in range(draws):
        for raw in raws:
            prepared = prepare_sample(raw, pipeline, sample_seed(cfg.train.seed, draw, raw.index))
            tally.add(sample_stats(raw, prepared, anchors, draw))
    return AuditResult(NAMES, tally, audit_settings(cfg, anchors, len(raws), draws))


# A crop of x 20..100: class 0 lives at the left border (outside the crop, or half cut off), class 1 in the centre.
CROP = [{"name": "Crop", "x_min": 20, "y_min": 0, "x_max": 100, "y_max": 80, "p": 1.0}]


def _border_rows(n: int) -> list[RawSample]:
    return [_raw(i, [(0, 0, 10, 12, 30),          # wholly outside the crop
                     (0, 14, 40, 26, 60),         # half outside: visibility 0.5 < 0.6
                     (1, 36, 16, 68, 48)]) for i in range(n)]   # an anchor fits it exactly


def test_a_pipeline_that_drops_a_known_class_gives_the_known_counts():
    result = _audit(_cfg(CROP, min_visibility=0.6, min_area=0.0), _border_rows(12), draws=2)
    t = result.tally
    assert t["before"].tolist() == [48, 24] and t["after"].tolist() == [0, 24]
    assert t.dropped("outside").tolist() == [24, 0]
    assert t.dropped("min_visibility").tolist() == [24, 0]
    assert t.samples == 24 and t.emptied == 0
    # the centre squares: 32 px sides, 1,024 px² masks at the model's input scale (80 px crop, min_size 80)
    assert t["side_after"][1].tolist() == [0, 0, 0, 24, 0, 0, 0, 0, 0]            # the 32-64 px bin
    assert t["area_after"][1].tolist() == [0, 0, 0, 24, 0, 0, 0, 0, 0]            # 1024-4096 px²
    assert t["coco_after"][1].tolist() == [0, 24, 0]                               # COCO medium from 32²
    assert t["covered_after"][1] == 24                                             # a 32 px anchor sits on it
    rows = {r["class"]: r for r in class_rows(result)}
    assert rows["border"]["lost"] == 1.0 and rows["centre"]["lost"] == 0.0
    assert rows["centre"]["share_before"] == pytest.approx(1 / 3) and rows["centre"]["share_after"] == 1.0
    warnings = audit_warnings(result)
    assert len(warnings) == 1 and "'border' loses 100%" in warnings[0]
    assert "augment.min_visibility" in warnings[0] or "augment.image_size" in warnings[0]


def test_the_min_area_filter_is_named_when_it_drops_a_class():
    rows = [_raw(i, [(0, 40, 40, 44, 44), (1, 52, 16, 84, 48)]) for i in range(24)]   # class 0: 16 px²
    result = _audit(_cfg([{"name": "HorizontalFlip", "p": 1.0}], 100, min_area=25.0, min_visibility=0.0), rows)
    assert result.tally.dropped("min_area").tolist() == [24, 0]
    (warning,) = audit_warnings(result)
    assert "'border' loses 100%" in warning and "augment.min_area (now 25 px²)" in warning


def test_emptied_samples_warn_and_name_the_crop():
    rows = [_raw(i, [(0, 0, 0, 10, 10)]) for i in range(10)] + [_raw(10 + i, [(1, 40, 40, 70, 70)])
                                                                for i in range(10)]   # 10 of 20 emptied
    result = _audit(_cfg(CROP, min_visibility=0.1, min_area=0.0), rows)
    assert result.tally.emptied == 10 and result.tally.emptied_rows[0] == (0, 0)
    warnings = audit_warnings(result, Limits(min_instances=100))   # only the empty-sample warning
    assert len(warnings) == 1 and warnings[0].startswith("50% of samples (10 of 20) have no instance left")
    assert "augment.image_size" in warnings[0]


def test_objects_under_the_smallest_anchor_warn_about_the_input_size():
    rows = [_raw(i, [(0, 10 + 2 * i, 10, 14 + 2 * i, 14), (1, 30, 30, 60, 62)]) for i in range(24)]  # 4 px
    result = _audit(_cfg([], image_size=100, min_area=0.0), rows)
    t = result.tally
    assert t["covered_after"][0] == 0 and t["covered_after"][1] == 24
    (warning,) = audit_warnings(result)
    assert warning.startswith("Only 0% of 'border' boxes") and "raise augment.image_size" in warning


# ---- anchor coverage against a brute force over torchvision's anchors -------------------------------

def _brute_force_covered(model, image: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
    """The model's own transform, backbone and AnchorGenerator; IoU and the Matcher's rule by hand."""
    model.eval()
    with torch.no_grad():
        images, targets = model.transform([image], [{"boxes": torch.from_numpy(boxes)}])
        features = list(model.backbone(images.tensors).values())
        anchors = model.rpn.anchor_generator(images, features)[0].numpy().astype(np.float64)
    gt = targets[0]["boxes"].numpy().astype(np.float64)
    covered = np.zeros(len(gt), bool)
    area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    best_iou = np.zeros(len(gt))
    for a in anchors:   # each anchor goes to its best box; positive at IoU >= 0.7
        iw = np.clip(np.minimum(a[2], gt[:, 2]) - np.maximum(a[0], gt[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[3], gt[:, 3]) - np.maximum(a[1], gt[:, 1]), 0, None)
        inter = iw * ih
        ious = inter / ((a[2] - a[0]) * (a[3] - a[1]) + area - inter)
        best_iou = np.maximum(best_iou, ious)
        best = int(np.argmax(ious))
        if ious[best] >= 0.7:
            covered[best] = True
    return covered, best_iou >= 0.7


@pytest.mark.parametrize("arch,image_size,hw", [("maskrcnn_resnet18_fpn", 128, (128, 128)),
                                                ("maskrcnn_resnet18_fpn", 128, (150, 230)),
                                                ("maskrcnn_mobilenet_v3_fpn", 160, (120, 200))])
def test_anchor_coverage_agrees_with_a_brute_force_iou(arch, image_size, hw):
    from segstudio.models.maskrcnn import build_model

    cfg = Config()
    cfg.model, cfg.augment.image_size = ModelConfig(arch=arch), image_size
    rng = np.random.default_rng(3)
    h, w = hw
    xy = rng.uniform(0, [w - 4, h - 4], (200, 2))
    wh = np.exp(rng.uniform(np.log(3), np.log(min(h, w)), (200, 2)))
    boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1).astype(np.float32)
    setup = AnchorSetup.for_config(cfg)
    model_boxes, _, (mh, mw) = setup.to_input(boxes, h, w)
    covered, reachable = setup.coverage(model_boxes, mh, mw)
    expected, expected_reachable = _brute_force_covered(build_model(cfg.model, 2, image_size, load_weights=False),
                                                        torch.zeros(3, h, w), boxes)
    assert 0 < expected.sum() < len(boxes)     # the fixture has covered and uncovered boxes
    assert covered.tolist() == expected.tolist()
    assert reachable.tolist() == expected_reachable.tolist()


@pytest.mark.parametrize("arch", ["maskrcnn_resnet18_fpn", "maskrcnn_mobilenet_v3_fpn"])
def test_the_anchors_are_torchvisions_anchor_generator_s_for_the_model(arch):
    from segstudio.models.maskrcnn import build_model

    cfg = Config()
    cfg.model = ModelConfig(arch=arch)
    setup = AnchorSetup.for_config(cfg)
    model = build_model(cfg.model, 2, cfg.augment.image_size, load_weights=False).eval()
    for h, w in [(128, 128), (96, 160), (170, 128)]:
        with torch.no_grad():
            images, _ = model.transform([torch.zeros(3, h, w)])
            features = list(model.backbone(images.tensors).values())
            expected = model.rpn.anchor_generator(images, features)[0].numpy()
        mh, mw = setup.input_size(h, w)
        assert tuple(images.image_sizes[0]) == (mh, mw)
        ours, areas = setup.anchors(mh, mw)
        assert ours.shape == expected.shape
        np.testing.assert_array_equal(np.unique(ours, axis=0), np.unique(expected, axis=0))


# ---- over a dataset ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_mapped(demo_dataset):
    from segstudio.data.mapped import open_mapped

    return open_mapped(demo_dataset, Config().data)


@pytest.mark.parametrize("preset", ["cpu", "gpu", "tutorial"])
def test_the_shipped_presets_audit_the_demo_data_without_warnings(demo_mapped, preset):
    from segstudio.base.config_presets import load_preset

    result = audit_mapped(demo_mapped, load_preset(preset), rows=40, draws=4, workers=0, use_cache=False)
    assert result.tally.samples == 38 * 4 and result.complete   # 38 training rows of 48
    assert audit_warnings(result) == []
    assert any("No warning" in line for line in report_lines(result))


def test_the_audit_is_cached_per_pipeline_and_can_be_cancelled(demo_mapped):
    cfg = Config()
    seen = []
    first = audit_mapped(demo_mapped, cfg, rows=8, draws=2, workers=0, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 16) and seen[-1] == (16, 16) and not first.cached
    again = audit_mapped(demo_mapped, cfg, rows=8, draws=2, workers=0)
    assert again.cached and again.tally.to_dict() == first.tally.to_dict()
    cfg.augment.min_visibility = 0.9      # another pipeline: audited anew
    other = audit_mapped(demo_mapped, cfg, rows=8, draws=2, workers=0)
    assert not other.cached
    assert "*" in "".join(compare_table(first, other)) or first.tally["after"].tolist() == other.tally["after"].tolist()
    cfg.augment.min_visibility = 0.8
    partial = audit_mapped(demo_mapped, cfg, rows=16, draws=2, workers=0, should_stop=lambda: True)
    assert not partial.complete and partial.tally.samples == 8 * 2     # one batch of 8 rows, then it stopped
    assert not audit_mapped(demo_mapped, cfg, rows=16, draws=2, workers=0).cached   # a partial one is not cached


def test_classes_with_the_same_cause_share_one_warning():
    rows = [_raw(i, [(0, 10 + 2 * i, 10, 14 + 2 * i, 14), (1, 60, 60 + i, 64, 64 + i)]) for i in range(24)]
    result = _audit(_cfg([], image_size=100, min_area=0.0), rows)
    (warning,) = audit_warnings(result)
    assert warning.startswith("2 classes have under 15% of their boxes after augmentation matched by an anchor")
    assert "'border' (0%, most 0-8 px)" in warning and "'centre' (0%" in warning
    assert "raise augment.image_size" in warning


def test_class_balance_with_the_repeat_factor_sampler_weights_rows_as_training_does(demo_mapped):
    from segstudio.data.repeat_factor import image_categories, repeat_factors
    from segstudio.data.splits import make_split

    cfg = Config()
    cfg.train.repeat_factor_threshold = 0.9      # every class is rarer than that: rows repeat unevenly
    result = audit_mapped(demo_mapped, cfg, rows=10, draws=1, workers=0, use_cache=False)
    train = list(make_split(demo_mapped.ds, cfg.data).train)
    factor = dict(zip(train, repeat_factors(image_categories(demo_mapped.ds, demo_mapped.mapping.labels, train),
                                            0.9)))
    t = result.tally
    assert len(set(factor[r] for r in result.rows)) > 1
    # the weighted counts are the per-row counts times the row's repeat factor
    expected = np.zeros(len(demo_mapped.class_names))
    pipeline = build_pipeline(cfg.augment)
    for row in result.rows:
        prepared = prepare_sample(demo_mapped.read(row), pipeline, sample_seed(cfg.train.seed, 0, row))
        np.add.at(expected, prepared.target["labels"].numpy() - 1, factor[row])
    np.testing.assert_allclose(t["after_weighted"], expected)
    rows = class_rows(result)
    assert sum(r["share_after_sampler"] for r in rows) == pytest.approx(1.0)
    assert any("sampled" in line for line in report_lines(result))


def test_a_box_cropped_away_with_both_box_filters_off_is_dropped_as_outside():
    """min_area = min_visibility = 0 used to make Albumentations fail on the zero-width box left behind."""
    result = _audit(_cfg(CROP, min_visibility=0.0, min_area=0.0), _border_rows(2))
    t = result.tally
    assert t.dropped("outside").tolist() == [2, 0] and t["after"].tolist() == [2, 2]   # the half-visible kept


def test_two_boxes_on_one_anchor_the_matcher_gives_it_to_one_of_them():
    setup = AnchorSetup.for_config(Config())               # 128 px: a 32 px anchor centred at (32, 32)
    boxes = np.array([[16, 16, 48, 48], [16, 16, 48, 48.5]], np.float32)
    covered, reachable = setup.coverage(boxes, 128, 128)
    assert reachable.tolist() == [True, True]
    assert covered.tolist() == [True, False]               # every anchor near them prefers the exact box


def test_coverage_is_the_same_computed_in_chunks(monkeypatch):
    import segstudio.audit.anchors as anchors_module

    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 100, (60, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(4, 60, (60, 2))], axis=1).astype(np.float32)
    setup = AnchorSetup.for_config(Config())
    whole = setup.coverage(boxes, 160, 160)
    monkeypatch.setattr(anchors_module, "_CHUNK", 500)     # 8 anchors at a time
    chunked = setup.coverage(boxes, 160, 160)
    assert whole[0].any() and [c.tolist() for c in chunked] == [c.tolist() for c in whole]
