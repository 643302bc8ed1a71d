"""Writing a run's model in one deployment format, and running the written file.

Each writer puts its file(s) in a folder and returns an `Exported`: the files, a runner that loads and
runs them the way a deployment would (list of 3xHxW float RGB images in [0, 1] -> list of dicts with
boxes, labels, scores and masks), and the largest batch the format takes with the sentence that says why
(None: any). ONNX and OpenVINO files take a padded batch through a Loop around the traced one-image graph
(engine/onnx_batch.py); TorchScript takes a list of images. Metadata (class names, score thresholds, the
input it expects) travels inside every file.
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

from segstudio.base.errors import ExportError
from segstudio.engine.export_trace import branchless_nms
from segstudio.engine.onnx_batch import batched, pack, unpack

FORMATS = ("torchscript", "onnx", "openvino")
BATCH_INPUT_DOC = ("images: float32 [N, 3, H, W] RGB in [0, 1], each image at the top left of its slot and "
                   "zero padding after it; sizes: int64 [N, 2], each image's height and width; any N, H and W")
OUTPUTS = ("boxes", "labels", "scores", "masks")
BATCH_OUTPUTS = OUTPUTS + ("image_index",)


@dataclass
class Exported:
    files: list[Path]
    runner: Callable[[list], list]
    max_batch: int | None = None
    refusal: str = ""
    per_image: bool = False   # each image's results do not depend on the rest of its batch


def require(fmt: str, *modules: str) -> None:
    """Import the optional packages a format needs, or say in one sentence how to install them."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        plural = len(missing) > 1
        raise ExportError(f"The {fmt} format (export and prediction) needs the Python package{'s' if plural else ''} "
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
    return Exported([path], torchscript_runner(path))


def torchscript_runner(path: Path) -> Callable[[list], list]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path))

    def run(images):
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return loaded(images)
    return run


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
            "input": BATCH_INPUT_DOC, "outputs": ", ".join(BATCH_OUTPUTS) + " (image_index: the image in the "
            "batch each detection belongs to; masks padded to H x W)", "producer": "segstudio"}


def _batched_onnx(model, meta: dict, example: Tensor, path: Path) -> None:
    """Trace the one-image graph, wrap it in the batch Loop (engine/onnx_batch.py), add the metadata."""
    import onnx  # noqa: PLC0415 - optional package (the export extra)


    single = path.with_name("single-image.onnx")
    try:
        _trace_onnx(model, example, single)
        proto = batched(onnx.load(str(single)))
    finally:
        single.unlink(missing_ok=True)
    for key, value in _onnx_metadata(meta).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _batch_runner(call) -> Callable[[list], list]:
    """call(images [N,3,H,W], sizes [N,2]) -> the five batched outputs; -> a runner over lists of images."""

    def run(images):
        if not images:
            return []
        packed, sizes = pack(images)
        return [{k: torch.from_numpy(v) for k, v in out.items()} for out in unpack(call(packed, sizes), sizes)]
    return run


def write_onnx(model, meta: dict, folder: Path, example: Tensor) -> Exported:
    require("ONNX", "onnx", "onnxruntime")
    path = folder / "model.onnx"
    _batched_onnx(model, meta, example, path)
    return Exported([path], onnx_runner(path), per_image=True)


def onnx_runner(path: Path) -> Callable[[list], list]:
    """The written file on onnxruntime's CPU provider, as a runner over lists of images."""
    require("ONNX", "onnxruntime")
    import onnxruntime as ort  # noqa: PLC0415 - optional package (the export extra)

    options = ort.SessionOptions()   # idle worker threads otherwise spin, taking the CPU from everything else
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _batch_runner(lambda images, sizes: session.run(None, {"images": images, "sizes": sizes}))


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
    """OpenVINO IR (model.xml + model.bin) converted from the batched ONNX graph, run on OpenVINO's CPU plugin."""
    _without_openvino_telemetry()
    require("OpenVINO", "openvino", "onnx")
    import openvino as ov  # noqa: PLC0415

    onnx_path = folder / "from.onnx"
    _batched_onnx(model, meta, example, onnx_path)
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
    return Exported([xml, folder / "model.bin"], openvino_runner(xml), per_image=True)


def openvino_runner(xml: Path) -> Callable[[list], list]:
    """The written IR compiled for OpenVINO's CPU plugin in float32, as a runner over lists of images."""
    _without_openvino_telemetry()
    require("OpenVINO", "openvino")
    import openvino as ov  # noqa: PLC0415 - optional package (the export extra)

    compiled = ov.Core().compile_model(str(xml), "CPU", OPENVINO_CPU_CONFIG)

    def call(images, sizes):
        result = compiled([images, sizes])
        return [result[compiled.output(i)].copy() for i in range(len(BATCH_OUTPUTS))]
    return _batch_runner(call)


def export_runner(folder: Path, fmt: str) -> Callable[[list], list]:
    """A runner over the export of `fmt` placed in `folder` (runs/<name>/export/<fmt>)."""
    files = {"torchscript": ("model.pt", torchscript_runner), "onnx": ("model.onnx", onnx_runner),
             "openvino": ("model.xml", openvino_runner)}
    if fmt not in files:
        raise ExportError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    name, runner = files[fmt]
    if not (folder / name).is_file():
        raise ExportError(f"{folder / name} does not exist; export the run with --format {fmt} first.")
    return runner(folder / name)


def write_format(fmt: str, model, meta: dict, folder: Path, example: Tensor) -> Exported:
    if fmt == "torchscript":
        return write_torchscript(model, meta, folder)
    if fmt == "onnx":
        return write_onnx(model, meta, folder, example)
    if fmt == "openvino":
        return write_openvino(model, meta, folder, example)
    raise ExportError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
