"""The audit on real data (coco128: dense scenes, small objects, crowd regions) against counts made by hand:
every sample prepared again with training's seed, the model's own transform and AnchorGenerator, and a
brute-force IoU."""
import numpy as np
import pytest
import torch

from segstudio.audit.run import audit_mapped
from segstudio.base.config import Config
from segstudio.data.coco_import import import_coco
from segstudio.data.mapped import open_mapped
from segstudio.models.maskrcnn import build_model
from segstudio.samples.augment import build_pipeline, prepare_sample, sample_seed


@pytest.fixture(scope="module")
def mapped(coco128, tmp_path_factory):
    dest = tmp_path_factory.mktemp("audit-c128") / "ds"
    import_coco(coco128 / "images", coco128 / "annotations.json", dest)
    return open_mapped(str(dest), Config().data)


def _covered_by_hand(model, image: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        images, targets = model.transform([image], [{"boxes": torch.from_numpy(boxes).reshape(-1, 4)}])
        anchors = model.rpn.anchor_generator(images, list(model.backbone(images.tensors).values()))[0].numpy()
    gt = targets[0]["boxes"].numpy().astype(np.float64)
    covered = np.zeros(len(gt), bool)
    if not len(gt):
        return covered
    area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    for a in anchors.astype(np.float64):
        iw = np.clip(np.minimum(a[2], gt[:, 2]) - np.maximum(a[0], gt[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[3], gt[:, 3]) - np.maximum(a[1], gt[:, 1]), 0, None)
        ious = iw * ih / ((a[2] - a[0]) * (a[3] - a[1]) + area - iw * ih)
        if ious.max() >= 0.7:
            covered[int(np.argmax(ious))] = True
    return covered


@pytest.mark.slow   # ~20 s on 2 busy cores: the brute force walks every anchor of every sample
def test_the_audit_of_coco128_matches_counts_made_by_hand(mapped):
    cfg = Config()          # the cpu preset's pipeline: multiscale at 128 px, resnet18 anchors
    result = audit_mapped(mapped, cfg, rows=8, draws=2, workers=0, use_cache=False)
    t, n = result.tally, len(mapped.class_names)
    before, after, covered = np.zeros(n), np.zeros(n), np.zeros(n)
    dropped = {}
    pipeline = build_pipeline(cfg.augment)
    model = build_model(cfg.model, 2, cfg.augment.image_size, load_weights=False).eval()
    for draw in range(2):
        for row in result.rows:
            raw = mapped.read(row)
            s = prepare_sample(raw, pipeline, sample_seed(cfg.train.seed, draw, row))
            np.add.at(before, raw.labels, 1)
            labels = s.target["labels"].numpy() - 1
            np.add.at(after, labels, 1)
            hit = _covered_by_hand(model, s.image, s.target["boxes"].numpy())
            np.add.at(covered, labels[hit], 1)
            for d in s.report["dropped"]:
                dropped[d["code"]] = dropped.get(d["code"], 0) + 1
    assert t.samples == 16 and before.sum() > 60           # a dense sample: the counts mean something
    np.testing.assert_array_equal(t["before"], before)
    np.testing.assert_array_equal(t["after"], after)
    np.testing.assert_array_equal(t["covered_after"], covered)
    assert {code: int(t.dropped(code).sum()) for code in dropped} == dropped
    assert t["before"].sum() == t["after"].sum() + sum(dropped.values())
