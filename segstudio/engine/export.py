"""Export a run's model to TorchScript or ONNX with its class names, checked against PyTorch.

TorchScript: a scripted wrapper whose `class_names` attribute (List[str]) travels inside the file.
ONNX: the class names go in the model's metadata_props ("class_names", JSON). Each export is run on a
few validation images and compared with the eager model; the largest score/box difference is reported.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Dict, List

import torch
from torch import Tensor, nn

from segstudio.errors import TrainingError
from segstudio.files import atomic_write
from segstudio.model_io import image_tensor


class ScriptableDetector(nn.Module):
    """Mask R-CNN plus its class names; forward(images) -> detections (scripted models return both)."""

    def __init__(self, model: nn.Module, class_names: List[str]):
        super().__init__()
        self.model = model
        self.class_names: List[str] = list(class_names)

    def forward(self, images: List[Tensor]) -> List[Dict[str, Tensor]]:
        _losses, detections = self.model(images)
        return detections


def sample_images(loaded, count: int = 3) -> list[Tensor]:
    """A few validation images (float CxHxW in [0,1]) of the run, or random ones if the data is gone."""
    try:
        from segstudio.data.mapped import open_mapped
        from segstudio.engine import rundir

        cfg = loaded.cfg
        mapped = open_mapped(cfg.data.url, cfg.data, endpoint_url=cfg.data.endpoint_url)
        rows = (rundir.read_split(loaded.run_dir) or {}).get("val", [])[:count] or list(range(count))
        return [image_tensor(mapped.read(r).image) for r in rows]
    except Exception:  # noqa: BLE001 - the dataset may be gone; a synthetic image still checks the export
        g = torch.Generator().manual_seed(0)
        size = loaded.cfg.augment.image_size
        return [torch.rand(3, size, size, generator=g) for _ in range(count)]


SCORE_MARGIN = 0.01   # detections this close to a cut-off may fall on either side of it in another runtime


def comparison_floor(model, reference: list[dict]) -> float:
    """Lowest reference score that every correct export must also produce.

    Everything the model keeps is compared (its own score threshold, 0.05 by default), not only the
    confident detections, so even a barely trained model gets checked; detections within SCORE_MARGIN
    of the score threshold, or of the last score kept when an image hits detections_per_img, are left
    out because a float difference may move them across that line."""
    heads = getattr(model, "roi_heads", None)
    floor = float(getattr(heads, "score_thresh", 0.0)) + SCORE_MARGIN
    cap = int(getattr(heads, "detections_per_img", 0) or 0)
    for ref in reference:
        if cap and len(ref["scores"]) >= cap:
            floor = max(floor, float(ref["scores"].min()) + SCORE_MARGIN)
    return floor


def _max_difference(reference: list[dict], exported: list[dict], min_score: float) -> tuple[float, int]:
    """Largest box/score/mask difference between each reference detection scoring >= min_score and its
    match in the export.

    Detections are matched by label and box IoU, not by position: near-equal scores may come out in
    another order. A reference detection with no match gives an infinite difference."""
    from torchvision.ops import box_iou

    worst, compared = 0.0, 0
    for ref, out in zip(reference, exported):
        kept = ref["scores"] >= min_score
        if not kept.any():
            continue
        compared += int(kept.sum())
        if len(out["scores"]) == 0:
            return float("inf"), compared
        iou = box_iou(ref["boxes"][kept], out["boxes"].float())
        iou[ref["labels"][kept][:, None] != out["labels"][None, :]] = -1
        best, idx = iou.max(dim=1)
        if (best < 0.5).any():
            return float("inf"), compared
        for key in ("boxes", "scores", "masks"):
            diff = (ref[key][kept].float() - out[key][idx].float()).abs()
            worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
    return worst, compared


def export_torchscript(loaded, out_dir: Path, images: list[Tensor]) -> tuple[Path, float, int]:
    model = loaded.model.eval()
    with warnings.catch_warnings():   # torch.jit is deprecated upstream but is the one format that scripts
        warnings.simplefilter("ignore")  # Mask R-CNN with its control flow today
        scripted = torch.jit.script(ScriptableDetector(model, loaded.class_names))
    path = out_dir / "model.torchscript.pt"
    atomic_write(path, lambda tmp: scripted.save(str(tmp)))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        reloaded = torch.jit.load(str(path))
        reference = model(images)
        exported = reloaded(images)
    floor = comparison_floor(model, reference)
    return (path, *_max_difference(reference, exported, floor), floor)


def export_onnx(loaded, out_dir: Path, images: list[Tensor]) -> tuple[Path, float, int]:
    import onnx
    import onnxruntime as ort

    model = loaded.model.eval()
    path = out_dir / "model.onnx"
    example = images[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, ([example],), str(path), opset_version=17, dynamo=False,
                              input_names=["image"], output_names=["boxes", "labels", "scores", "masks"],
                              dynamic_axes={"image": {1: "height", 2: "width"}, "boxes": {0: "n"},
                                            "labels": {0: "n"}, "scores": {0: "n"}, "masks": {0: "n"}})
        proto = onnx.load(str(path))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "class_names", json.dumps(loaded.class_names)
        onnx.save(proto, str(path))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - the exporter fails in many ways across torch versions
        path.unlink(missing_ok=True)
        raise TrainingError(f"ONNX export of Mask R-CNN failed with torch {torch.__version__} "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}); "
                            "use --format torchscript instead.") from None
    worst, compared, floor = 0.0, 0, 0.0
    with torch.no_grad():
        for img in images:
            ref = model([img])[0]
            boxes, labels, scores, masks = session.run(None, {"image": img.numpy()})
            out = {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels),
                   "scores": torch.from_numpy(scores), "masks": torch.from_numpy(masks)}
            image_floor = comparison_floor(model, [ref])
            diff, n = _max_difference([ref], [out], image_floor)
            worst, compared, floor = max(worst, diff), compared + n, max(floor, image_floor)
    return path, worst, compared, floor


def at_model_scale(image: Tensor, model) -> Tensor:
    """The image resized to the size the model's own transform gives it, so that resize is a no-op.

    Scripted torchvision computes that resize factor in float32 and eager Python in float64; for some
    image sizes the two round to sizes a pixel apart, which would make the comparison measure
    torchvision's rounding instead of the export. The check runs on images already at model scale."""
    t = getattr(model, "transform", None)
    if t is None:
        return image
    h, w = image.shape[-2:]
    scale = min(float(t.min_size[-1]) / min(h, w), float(t.max_size) / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return image
    return torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]


def export_run(loaded, fmt: str, images: list[Tensor] | None = None) -> dict:
    out_dir = loaded.run_dir / "export"
    out_dir.mkdir(parents=True, exist_ok=True)
    images = images if images is not None else sample_images(loaded)
    images = [at_model_scale(img, loaded.model) for img in images]
    exporter = export_torchscript if fmt == "torchscript" else export_onnx
    path, worst, compared, floor = exporter(loaded, out_dir, images)
    return {"path": str(path), "format": fmt, "max_difference": worst, "images": len(images),
            "detections_compared": compared, "min_score_compared": round(floor, 4),
            "class_names": list(loaded.class_names)}
