"""The exported graph's NMS on an image where nothing passes the score threshold: no If with an empty
branch (OpenVINO 2026.4 returns one uninitialised element from one), and no detections in any runtime."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from torchvision.ops import boxes as box_ops


class ThresholdThenNms(torch.nn.Module):
    """Boxes scoring above 0.5 through torchvision's batched NMS: the pattern at the end of Mask R-CNN."""

    def forward(self, boxes, scores, labels):
        keep = torch.where(scores > 0.5)[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        kept = box_ops.batched_nms(boxes, scores, labels, 0.5)
        return boxes[kept], scores[kept]


def _export(path, branchless: bool):
    import contextlib

    from segstudio.engine.export_trace import branchless_nms
    example = (torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]), torch.tensor([0.9, 0.8, 0.7]),
               torch.tensor([1, 1, 2]))
    with branchless_nms() if branchless else contextlib.nullcontext():
        torch.onnx.export(ThresholdThenNms(), example, str(path), opset_version=17, dynamo=False,
                          input_names=["boxes", "scores", "labels"], output_names=["kept_boxes", "kept_scores"],
                          dynamic_axes={"boxes": {0: "n"}, "scores": {0: "n"}, "labels": {0: "n"},
                                        "kept_boxes": {0: "k"}, "kept_scores": {0: "k"}})


def _feeds(scores):
    return {"boxes": torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]).numpy(),
            "scores": torch.tensor(scores).numpy(), "labels": torch.tensor([1, 1, 2]).numpy()}


def test_branchless_nms_keeps_what_torchvision_keeps_and_nothing_on_empty(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    _export(tmp_path / "m.onnx", branchless=True)
    assert "If" not in {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    boxes, scores = session.run(None, _feeds([0.9, 0.8, 0.7]))
    expected = ThresholdThenNms()(*[torch.from_numpy(v) for v in _feeds([0.9, 0.8, 0.7]).values()])
    assert torch.equal(torch.from_numpy(boxes), expected[0]) and scores.tolist() == pytest.approx([0.9, 0.7])
    assert session.run(None, _feeds([0.1, 0.2, 0.3]))[0].shape == (0, 4)
    assert box_ops.batched_nms is not None and box_ops.batched_nms.__module__ == "torchvision.ops.boxes"


@pytest.mark.upstream
def test_openvino_gives_nothing_for_nothing_with_the_branchless_graph(tmp_path):
    """With torchvision's graph OpenVINO 2026.4 invents one row on the empty input (if this starts to give
    none, OpenVINO has fixed it); with the branchless graph it gives none."""
    if importlib.util.find_spec("openvino") is None:   # not importorskip: importing it starts its telemetry
        pytest.skip("openvino is not installed")
    pytest.importorskip("onnx")
    from segstudio.engine.export_formats import _without_openvino_telemetry
    _without_openvino_telemetry()
    import openvino as ov
    rows = {}
    for branchless in (False, True):
        path = tmp_path / f"m{branchless}.onnx"
        _export(path, branchless)
        compiled = ov.Core().compile_model(str(path), "CPU")
        rows[branchless] = len(compiled(list(_feeds([0.1, 0.2, 0.3]).values()))[0])
        assert len(compiled(list(_feeds([0.9, 0.8, 0.7]).values()))[0]) == 2
    assert rows[True] == 0
    assert rows[False] == 1, "OpenVINO no longer invents a row: the branchless NMS may not be needed any more"
