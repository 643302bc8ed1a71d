"""`segstudio weights import FILE`: a weights file fetched elsewhere, or a colleague's checkpoint.

The file must load with torch.load(weights_only=True) and fit one of segstudio's architectures (a whole
detector, or an ImageNet classification backbone). A file named like torchvision's must also carry the
checksum its name promises. It is copied (temp file, then rename) into torch's cache folder; files that
are not torchvision's get a small `<name>.json` beside them saying what they fit, for `weights list`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from segstudio.base.errors import WeightsError
from segstudio.base.files import atomic_write_text
from segstudio.models.weights import hub_checkpoint_dir, known_weights, weights_for

SIDECAR = ".json"
_MIN_COVERAGE = 0.9   # share of an architecture's tensors a file must hold to count as that architecture


@dataclass
class ImportedWeights:
    path: str
    kind: str            # "detector" or "backbone"
    archs: list
    known_name: str = ""   # the catalogue name when the file is torchvision's

    def config_value(self) -> str:
        if self.known_name:
            return "coco" if self.kind == "detector" else "imagenet"
        return self.path


def _read(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path} does not exist; give the path of a .pth file.") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise WeightsError(f"{path} does not load with torch.load(weights_only=True) ({type(exc).__name__}); "
                           "import a PyTorch state-dict .pth file or a segstudio checkpoint.") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["ema"]["model"] if obj.get("weights") == "ema" else obj["model"]   # a segstudio checkpoint
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds no state dict; import a PyTorch state-dict .pth file or a "
                           "segstudio checkpoint.")
    return obj


def _skeleton(arch: str) -> dict:
    """name -> shape of arch's tensors with torchvision's widths (built on the meta device: no memory)."""
    from segstudio.base.config import ModelConfig  # noqa: PLC0415
    from segstudio.models.maskrcnn import build_model  # noqa: PLC0415

    cfg = ModelConfig(arch=arch, weights="coco", fpn_channels=256, mask_head_channels=256, mask_head_layers=4)
    with torch.device("meta"):
        model = build_model(cfg, 2, 128, load_weights=False)
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def _as_backbone(state: dict, arch: str) -> dict:
    prefix = "backbone.body."
    out = {}
    for k, v in state.items():
        if k.startswith(("fc.", "classifier.")) or not isinstance(v, torch.Tensor):
            continue
        name = prefix + (k.replace("features.", "", 1) if "mobilenet" in arch else k)
        out[name] = tuple(v.shape)
    return out


def _coverage(have: dict, want: dict, shapes: bool) -> float:
    if not want:
        return 0.0
    hits = sum(1 for k, s in want.items() if k in have and (not shapes or have[k] == s))
    return hits / len(want)


def detect_architecture(state: dict) -> tuple[str, list]:
    """-> ("detector" | "backbone", archs the file fits best); WeightsError when none fits."""
    from segstudio.models.maskrcnn import ARCHS  # noqa: PLC0415

    own = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    scores = {}
    for arch in ARCHS:
        skel = _skeleton(arch)
        body = {k: s for k, s in skel.items() if k.startswith("backbone.body.")}
        # Whole detectors: names only (a colleague's run may use other widths or class counts); the
        # backbone body's shapes must agree, which tells ResNet-18 from ResNet-50.
        detector = min(_coverage(own, skel, False), _coverage(own, body, True))
        scores[("detector", arch)] = detector
        scores[("backbone", arch)] = _coverage(_as_backbone(state, arch), body, True)
    best = max(scores.values())
    if best < _MIN_COVERAGE:
        raise WeightsError("The file fits none of segstudio's architectures (" + ", ".join(ARCHS) + "); "
                           "import a Mask R-CNN state dict, a segstudio checkpoint or an ImageNet backbone.")
    kind = next(k for (k, _), s in scores.items() if s == best)
    return kind, [a for (k, a), s in scores.items() if k == kind and s == best]


def _known_for(file_name: str):
    return next((k for k in known_weights() if k.file_name == file_name), None)


def _verify_known(path: Path, known) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(known.sha256_prefix):
        raise WeightsError(f"{path.name} is named like torchvision's file but its checksum differs (sha256 "
                           f"{digest.hexdigest()[:12]}..., expected {known.sha256_prefix}...); the copy is "
                           f"damaged: {known.manual_hint()} again.")


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def import_weights(file: str | os.PathLike) -> ImportedWeights:
    """Check `file` and copy it into the cache folder; -> what it is and where it went."""
    src = Path(os.path.expanduser(str(file)))
    state = _read(src)
    kind, archs = detect_architecture(state)
    known = _known_for(src.name)
    if known is not None:
        _verify_known(src, known)
    dest = hub_checkpoint_dir() / src.name
    if dest.exists() and dest.resolve() != src.resolve() and not known:
        raise WeightsError(f"{dest} already exists; rename the file you import or remove the old one.")
    if dest.resolve() != src.resolve():
        try:
            _copy_atomic(src, dest)
        except OSError as exc:
            raise WeightsError(f"Cannot copy {src.name} into {dest.parent} ({exc.strerror or exc}); free some "
                               "disk space or set TORCH_HOME to a writable folder.") from None
    result = ImportedWeights(str(dest), kind, archs, known.name if known else "")
    if not known:
        atomic_write_text(dest.with_name(dest.name + SIDECAR), json.dumps(asdict(result), indent=2) + "\n")
    return result


def imported_weights() -> list[ImportedWeights]:
    """Files imported earlier (those with a sidecar in the cache folder)."""
    out = []
    for sidecar in sorted(hub_checkpoint_dir().glob("*" + SIDECAR)):
        try:
            info = ImportedWeights(**json.loads(sidecar.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if Path(info.path).is_file():
            out.append(info)
    return out


def present_choices(arch: str) -> list[str]:
    """What the Weights field offers for `arch`: none, auto, the torchvision files present, imported files."""
    items = ["none", "auto"]
    for kind in ("coco", "imagenet"):
        known = weights_for(arch, kind)
        if known is not None and known.present():
            items.append(kind)
    return items + [w.path for w in imported_weights() if arch in w.archs]
