"""The parity suite behind every export: does the exported model find what PyTorch finds?

Images: the run's validation rows plus images with nothing in them, each at three sizes (as stored and
two odd sizes the model must resize), fed in batches of 1, 2 and 8 (batch sizes a format cannot take are
refused with a sentence, never run into a crash). PyTorch eager is the reference (on the same batch, or
on each image alone for exports whose images do not share a batch's padding, see run_suite): every
detection it keeps must be matched by the export with the same label, box IoU >= 0.99, mask IoU >= 0.95
and a score within 0.01, and the export may not add confident detections of its own. Detections within
the score tolerance of a cut-off (the model's score threshold, or the last score kept when an image hits
detections_per_img) may fall on either side of it in another runtime, so they are left out; nothing else
is.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import Tensor
from torchvision.ops import box_iou

Runner = Callable[[list], list]   # list of 3xHxW float images -> list of {boxes, labels, scores, masks}

SIZES = {"as stored": 1.0, "small odd": 0.61, "large odd": 1.43}
BATCHES = (1, 2, 8)


@dataclass(frozen=True)
class Criteria:
    box_iou: float = 0.99
    mask_iou: float = 0.95
    score: float = 0.01


@dataclass
class Case:
    size: str
    batch: int
    status: str = "passed"           # passed, failed or refused
    images: int = 0
    detections: int = 0
    min_box_iou: float = 1.0
    min_mask_iou: float = 1.0
    max_score_diff: float = 0.0
    failure: str = ""
    notes: list = field(default_factory=list)


def resized(image: Tensor, factor: float) -> Tensor:
    """The image scaled by `factor`, with odd height and width (sizes no stride divides)."""
    if factor == 1.0:
        return image
    h, w = image.shape[-2:]
    size = (max(3, round(h * factor)) | 1, max(3, round(w * factor)) | 1)
    return torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]


def empty_images(count: int, size: int) -> list[Tensor]:
    """`count` images with nothing in them: smooth colour gradients with a faint texture, square and not.

    Not perfectly flat: on a flat image every window looks the same, so a weak model's many proposals
    tie exactly and which of them NMS keeps is up to each runtime's sort (OpenVINO breaks ties
    differently from PyTorch); that would measure tie-breaking, not the export."""
    g = torch.Generator().manual_seed(0)
    images = []
    for i in range(count):
        h, w = (size, size) if i % 2 == 0 else (size * 3 // 4, size + size // 3)
        a, b = torch.rand(3, generator=g), torch.rand(3, generator=g)
        ramp = torch.linspace(0, 1, w)[None, None, :] * (0.5 + 0.5 * torch.linspace(0, 1, h)[None, :, None])
        image = a[:, None, None] + (b - a)[:, None, None] * ramp
        images.append((image + 0.02 * torch.rand(3, h, w, generator=g)).clamp(0, 1))
    return images


def comparison_floor(model, reference: dict, tolerance: float) -> float:
    """Lowest score of `reference` (one image's PyTorch detections) that every correct export must match.

    Scores within `tolerance` above the model's score threshold, or above the last score kept when
    the image hit detections_per_img, may fall on the other side of that line in another runtime."""
    heads = getattr(model, "roi_heads", None)
    floor = float(getattr(heads, "score_thresh", 0.0)) + tolerance
    cap = int(getattr(heads, "detections_per_img", 0) or 0)
    if cap and len(reference["scores"]) >= cap:
        floor = max(floor, float(reference["scores"].min()) + tolerance)
    return floor


def _mask_iou(a: Tensor, b: Tensor) -> float:
    """IoU of two boolean masks."""
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def compare_image(ref: dict, out: dict, floor: float, criteria: Criteria, case: Case) -> str:
    """Match one image's detections into `case`'s figures; -> "" or what failed, in words."""
    kept = torch.nonzero(ref["scores"] >= floor).flatten().tolist()
    if not kept and len(out["scores"]) == 0:
        return ""
    ious = box_iou(ref["boxes"].float(), out["boxes"].float()).tolist() if len(out["scores"]) else []
    out_labels, out_scores = out["labels"].tolist(), out["scores"].tolist()
    ref_masks, out_masks = ref["masks"] > 0.5, out["masks"] > 0.5
    used: set[int] = set()
    for i in kept:   # reference scores come sorted, so confident detections choose first
        label, score = int(ref["labels"][i]), float(ref["scores"][i])
        what = f"PyTorch's {label=} score {score:.3f} at {[round(v, 1) for v in ref['boxes'][i].tolist()]}"
        cands = [j for j, lab in enumerate(out_labels) if lab == label and j not in used]
        if not cands:
            return f"{what} has no match in the export"
        j = max(cands, key=lambda c: ious[i][c])
        used.add(j)
        box, diff = ious[i][j], abs(score - out_scores[j])
        mask = _mask_iou(ref_masks[i], out_masks[j])
        case.detections += 1
        case.min_box_iou, case.min_mask_iou = min(case.min_box_iou, box), min(case.min_mask_iou, mask)
        case.max_score_diff = max(case.max_score_diff, diff)
        if box < criteria.box_iou or mask < criteria.mask_iou or diff > criteria.score:
            return f"{what}: export box IoU {box:.3f}, mask IoU {mask:.3f}, score difference {diff:.3f}"
    extra = [j for j, sc in enumerate(out_scores) if j not in used and sc >= floor + criteria.score]
    if extra:
        return (f"the export adds a detection PyTorch does not make (label {out_labels[extra[0]]}, "
                f"score {out_scores[extra[0]]:.3f})")
    return ""


def run_case(model, reference: Runner, exported: Runner, images: list[tuple[str, Tensor]], case: Case,
             criteria: Criteria) -> Case:
    """Feed `images` in batches of case.batch to both runners and compare; the first failure ends the case."""
    for start in range(0, len(images), case.batch):
        chunk = images[start:start + case.batch]
        tensors = [t for _, t in chunk]
        with torch.no_grad():
            refs = reference(tensors)
        try:
            outs = exported(tensors)
        except Exception as exc:  # noqa: BLE001 - any runtime error is a failed case, reported in words
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            case.status, case.failure = "failed", f"batch at {chunk[0][0]} raised {type(exc).__name__}: {first}"
            return case
        if len(outs) != len(chunk):
            case.status, case.failure = "failed", f"batch of {len(chunk)} gave {len(outs)} results"
            return case
        for (name, _), ref, out in zip(chunk, refs, outs):
            case.images += 1
            problem = compare_image(ref, out, comparison_floor(model, ref, criteria.score), criteria, case)
            if problem:
                case.status, case.failure = "failed", f"{name}: {problem}"
                return case
    return case


def run_suite(model, exported: Runner, images: list[tuple[str, Tensor]], *, max_batch: int | None = None,
              refusal: str = "", per_image: bool = False, batches=None, sizes=None,
              criteria: Criteria = Criteria()) -> dict:
    """Every size x batch case of the suite (after a failure, the rest are "not run"); -> the report
    parity.json holds (see `table` for people).

    PyTorch pads a batch's images to one size before its backbone, so its results for an image move a
    little with the other images of the batch; an export whose images do not share padding (`per_image`:
    the ONNX and OpenVINO batch Loop) is compared with PyTorch on each image alone, at every batch size."""
    started = time.perf_counter()

    alone: dict[int, dict] = {}   # id(image) -> PyTorch's result on it alone, the same at every batch size

    def reference(batch):
        if not per_image:
            return model(batch)
        for t in batch:
            alone[id(t)] = alone[id(t)] if id(t) in alone else model([t])[0]
        return [alone[id(t)] for t in batch]

    cases = []
    for size, factor in (sizes or SIZES).items():
        scaled = [(name, resized(t, factor)) for name, t in images]
        alone.clear()   # ids of the last size's images may be reused
        for b in batches or BATCHES:
            case = Case(size, b)
            if max_batch is not None and b > max_batch:
                case.status, case.failure = "refused", refusal
            elif any(c.status == "failed" for c in cases):
                case.status = "not run"   # one failure condemns the file; say which, and stop early
            else:
                run_case(model, reference, exported, scaled, case, criteria)
            cases.append(case)
    failed = [c for c in cases if c.status == "failed"]
    return {"passed": not failed, "criteria": asdict(criteria), "images": len(images),
            "reference": "PyTorch on each image alone" if per_image else "PyTorch on the same batch",
            "cases": [asdict(c) for c in cases], "seconds": round(time.perf_counter() - started, 1),
            "first_failure": (f"{failed[0].size} images, batch {failed[0].batch}: {failed[0].failure}"
                              if failed else "")}


def table(report: dict) -> str:
    """The report as a short Markdown table."""
    lines = ["| size | batch | images | detections | min box IoU | min mask IoU | max score diff | result |",
             "|---|---|---|---|---|---|---|---|"]
    for c in report["cases"]:
        if c["status"] in ("refused", "not run"):
            lines.append(f"| {c['size']} | {c['batch']} | | | | | | {c['status']} |")
            continue
        lines.append(f"| {c['size']} | {c['batch']} | {c['images']} | {c['detections']} | {c['min_box_iou']:.4f} | "
                     f"{c['min_mask_iou']:.4f} | {c['max_score_diff']:.4f} | {c['status']} |")
    notes = [f"Reference: {report['reference']}."] if report.get("reference") else []
    notes += [f"Failed: {report['first_failure']}"] if report["first_failure"] else []
    refusals = sorted({c["failure"] for c in report["cases"] if c["status"] == "refused"})
    return "\n".join(lines + [""] + notes + [f"Refused: {r}" for r in refusals]) + "\n"
