"""Writing a run's model in one deployment format, and running the written file.

Each writer puts its file(s) in a folder and returns an `Exported`: the files, a runner that loads and
runs them the way a deployment would (list of 3xHxW float RGB images in [0, 1] -> list of dicts with
boxes, labels, scores and masks), and the largest batch the format takes with the sentence that says why.
Metadata (class names, score thresholds, the input it expects) travels inside every file.
"""
from __future__ import annotations

import importlib
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import torch
from torch import Tensor, nn

from segstudio.engine.export_trace import branchless_nms
from segstudio.errors import ExportError

FORMATS = ("torchscript", "onnx", "openvino")
INPUT_DOC = "one RGB image as float32 3xHxW in [0, 1], any height and width"
OUTPUTS = ("boxes", "labels", "scores", "masks")
SINGLE_IMAGE = ("its graph takes one image per call (torchvision's Mask R-CNN unrolls its per-image steps "
                "when traced), so run the images of a batch one after another")


@dataclass
class Exported:
    files: list[Path]
    runner: Callable[[list], list]
    max_batch: int | None = None
    refusal: str = ""


def require(fmt: str, *modules: str) -> None:
    """Import the optional packages a format needs, or say in one sentence how to install them."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(f"Exporting to {fmt} needs the Python package{'s' if len(missing) > 1 else ''} "
                          f"{' and '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} not installed; "
                          "install it with `pip install segstudio[export]`.")


class ScriptableDetector(nn.Module):
    """Mask R-CNN plus its metadata; forward(images) -> detections (scripted models return both)."""

    def __init__(self, model: nn.Module, class_names: List[str], score_threshold: float):
        super().__init__()
        self.model = model
        self.class_names: List[str] = list(class_names)
        self.score_threshold: float = float(score_threshold)

    def forward(self, images: List[Tensor]) -> List[Dict[str, Tensor]]:
        _losses, detections = self.model(images)
        return detections


def write_torchscript(model, meta: dict, folder: Path) -> Exported:
    with warnings.catch_warnings():   # torch.jit is deprecated upstream but is the one format that scripts
        warnings.simplefilter("ignore")  # Mask R-CNN with its control flow today
        scripted = torch.jit.script(ScriptableDetector(model, meta["class_names"], meta["score_threshold"]))
        path = folder / "model.pt"
        scripted.save(str(path), _extra_files={"segstudio.json": json.dumps(meta)})
        loaded = torch.jit.load(str(path))

    def run(images):
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return loaded(images)
    return Exported([path], run)


def _trace_onnx(model, example: Tensor, path: Path) -> None:
    try:
        with warnings.catch_warnings(), branchless_nms():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, ([example],), str(path), opset_version=17, dynamo=False,
                              input_names=["image"], output_names=list(OUTPUTS),
                              dynamic_axes={"image": {1: "height", 2: "width"},
                                            **{name: {0: "detections"} for name in OUTPUTS}})
    except Exception as exc:  # noqa: BLE001 - the exporter fails in many ways across torch versions
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ExportError(f"ONNX export of Mask R-CNN failed with torch {torch.__version__} "
                          f"({type(exc).__name__}: {first}); use --format torchscript instead.") from None


def _onnx_metadata(meta: dict) -> dict:
    return {"class_names": json.dumps(meta["class_names"]), "score_threshold": str(meta["score_threshold"]),
            "per_class_score_thresholds": json.dumps(meta["per_class_thresholds"]),
            "input": INPUT_DOC, "outputs": ", ".join(OUTPUTS), "producer": "segstudio"}


def write_onnx(model, meta: dict, folder: Path, example: Tensor) -> Exported:
    require("ONNX", "onnx", "onnxruntime")
    import onnx
    import onnxruntime as ort

    path = folder / "model.onnx"
    _trace_onnx(model, example, path)
    proto = onnx.load(str(path))
    for key, value in _onnx_metadata(meta).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    options = ort.SessionOptions()   # idle worker threads otherwise spin, taking the CPU from everything else
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(images):
        outs = []
        for image in images:
            arrays = session.run(None, {"image": image.numpy()})
            outs.append({k: torch.from_numpy(v) for k, v in zip(OUTPUTS, arrays)})
        return outs
    return Exported([path], run, max_batch=1, refusal=f"ONNX: {SINGLE_IMAGE}.")


# OpenVINO's CPU plugin runs in bfloat16 on CPUs that have it unless told otherwise; in bfloat16 masks
# move by more than the parity criteria (mask IoU 0.93 on a one-epoch run), so the file is certified,
# and must be deployed, in float32 (the setting travels in the file's rt_info as segstudio/compile_with).
OPENVINO_CPU_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def _without_openvino_telemetry() -> None:
    """`import openvino` sends a usage event by forking a process from a thread, which crashes a process
    where Deep Lake has registered its fork handlers; OpenVINO falls back to its no-op stub when the
    telemetry package cannot be imported."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)


def write_openvino(model, meta: dict, folder: Path, example: Tensor) -> Exported:
    """OpenVINO IR (model.xml + model.bin) converted from the ONNX graph, run on OpenVINO's CPU plugin."""
    _without_openvino_telemetry()
    require("OpenVINO", "openvino", "onnx")
    import openvino as ov

    onnx_path = folder / "from.onnx"
    _trace_onnx(model, example, onnx_path)
    core = ov.Core()
    try:   # Core.read_model, not ov.convert_model: the converter forks a telemetry process from a thread
        ov_model = core.read_model(str(onnx_path))
    except Exception as exc:  # noqa: BLE001 - the converter's errors are many and version-dependent
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ExportError(f"OpenVINO could not convert the model ({type(exc).__name__}: {first}); "
                          "use --format onnx instead.") from None
    finally:
        onnx_path.unlink(missing_ok=True)
    for key, value in _onnx_metadata(meta).items():
        ov_model.set_rt_info(value, ["segstudio", key])
    ov_model.set_rt_info(json.dumps(OPENVINO_CPU_CONFIG), ["segstudio", "compile_with"])
    xml = folder / "model.xml"
    ov.save_model(ov_model, str(xml), compress_to_fp16=False)   # its default halves the weights
    compiled = core.compile_model(str(xml), "CPU", OPENVINO_CPU_CONFIG)

    def run(images):
        outs = []
        for image in images:
            result = compiled([image.numpy()])
            outs.append({k: torch.from_numpy(result[compiled.output(i)].copy()) for i, k in enumerate(OUTPUTS)})
        return outs
    return Exported([xml, folder / "model.bin"], run, max_batch=1, refusal=f"OpenVINO: {SINGLE_IMAGE}.")


def write_format(fmt: str, model, meta: dict, folder: Path, example: Tensor) -> Exported:
    if fmt == "torchscript":
        return write_torchscript(model, meta, folder)
    if fmt == "onnx":
        return write_onnx(model, meta, folder, example)
    if fmt == "openvino":
        return write_openvino(model, meta, folder, example)
    raise ExportError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
