"""The augmentation spec: which Albumentations transforms segstudio offers, presets, and validation.

A spec is an ordered list of plain dicts, e.g. ``[{"name": "HorizontalFlip", "p": 0.5}]``, as stored in a
run's TOML (``[[augment.transforms]]``). Only transforms that move masks and boxes together are offered
for geometric changes; pixel-level transforms never touch masks or boxes.
"""
from __future__ import annotations

import inspect
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

import albumentations as A

from segstudio.base.errors import ConfigError

GEOMETRIC = (
    "HorizontalFlip", "VerticalFlip", "Transpose", "RandomRotate90", "D4", "SquareSymmetry",
    "RandomSizedBBoxSafeCrop", "BBoxSafeRandomCrop", "AtLeastOneBBoxRandomCrop", "RandomResizedCrop",
    "RandomSizedCrop", "RandomCrop", "CenterCrop", "Crop", "RandomCropFromBorders", "CropAndPad",
    "Affine", "ShiftScaleRotate", "Rotate", "SafeRotate", "Perspective", "RandomScale", "Resize",
    "LongestMaxSize", "SmallestMaxSize", "PadIfNeeded", "Pad",
    "ElasticTransform", "GridDistortion", "OpticalDistortion",
)
PIXEL = (
    "RandomBrightnessContrast", "ColorJitter", "HueSaturationValue", "RGBShift", "RandomGamma",
    "CLAHE", "Equalize", "AutoContrast", "ToGray", "ToSepia", "ChannelShuffle", "ChannelDropout",
    "InvertImg", "Posterize", "Solarize", "FancyPCA", "PlanckianJitter", "RandomToneCurve",
    "Blur", "GaussianBlur", "MedianBlur", "MotionBlur", "AdvancedBlur", "Defocus", "ZoomBlur", "GlassBlur",
    "Sharpen", "UnsharpMask", "Emboss", "GaussNoise", "ISONoise", "MultiplicativeNoise",
    "ImageCompression", "Downscale", "RandomFog", "RandomShadow",
)
# Transforms that turn boxes into loose approximations: boxes are recomputed from masks after them
# (boxes_from_masks = "auto").
LOOSENS_BOXES = frozenset({"Affine", "ShiftScaleRotate", "Rotate", "SafeRotate", "Perspective",
                           "ElasticTransform", "GridDistortion", "OpticalDistortion"})

EXCLUDED = {
    "Normalize": "the model normalises images itself (ImageNet mean/std), so normalising here would do it twice",
    "ToTensorV2": "prepare_sample makes the tensors (float in [0, 1]) after the transforms",
    "ToFloat": "prepare_sample converts images to float in [0, 1] after the transforms",
    "FromFloat": "images stay uint8 until prepare_sample converts them",
    "Lambda": "arbitrary code cannot be stored in a config file",
    "Mosaic": "it needs several images at once",
    "CoarseDropout": "it erases mask pixels while keeping the boxes",
    "GridDropout": "it erases mask pixels while keeping the boxes",
    "MaskDropout": "it erases whole instances without reporting them",
    "XYMasking": "it erases mask pixels while keeping the boxes",
    "Erasing": "it erases mask pixels while keeping the boxes",
    "FDA": "it needs reference images", "HistogramMatching": "it needs reference images",
    "PixelDistributionAdaptation": "it needs reference images", "TemplateTransform": "it needs templates",
}
# Parameters pinned so that masks stay binary and borders are background; hidden from the editor.
FIXED = {
    "mask_interpolation": (0, "masks are resampled with nearest-neighbour so they stay binary"),
    "fill_mask": (0, "pixels moved in from outside the image are background"),
    "border_mode": (0, "reflected or replicated borders would copy objects without their annotations"),
}
HIDDEN = frozenset({"strict", "always_apply"}) | frozenset(FIXED)


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str                 # bool, int, float, choice, range (a number or a [lo, hi] pair), any
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    annotation: str = ""
    required: bool = False    # no default: the spec must give it (e.g. a crop's height and width)
    labels: tuple | None = None   # what to show for each choice (OpenCV codes get their names)


@dataclass(frozen=True)
class TransformInfo:
    name: str
    kind: str                 # geometric or pixel
    params: tuple[ParamInfo, ...] = field(default_factory=tuple)
    doc: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _bounds(metadata) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in metadata:
        lo = getattr(m, "ge", getattr(m, "gt", lo))
        hi = getattr(m, "le", getattr(m, "lt", hi))
    return lo, hi


def _type_of(annotation) -> tuple[str, tuple | None]:
    """Reduce an InitSchema annotation to a type the editor can offer."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation is bool:
        return "bool", None
    if annotation in (int, float):
        return annotation.__name__, None
    if typing.get_origin(annotation) is typing.Literal:
        return "choice", tuple(typing.get_args(annotation))
    if args and all(a in (int, float) or typing.get_origin(a) is tuple for a in args):
        return "range", None
    if len(args) == 1:
        return _type_of(args[0])
    return "any", None


# OpenCV constants that Albumentations takes as plain ints: an editor shows these names.
CODE_NAMES = {
    "interpolation": {0: "nearest", 1: "linear", 2: "cubic", 3: "area", 4: "lanczos4", 5: "linear exact",
                      6: "nearest exact"},
    "border_mode": {0: "constant", 1: "replicate", 2: "reflect", 3: "wrap", 4: "reflect 101"},
}


def _labels(name: str, choices: tuple | None) -> tuple | None:
    names = CODE_NAMES.get(name)
    if not choices or names is None:
        return None
    return tuple(f"{names[c]} ({c})" if c in names else str(c) for c in choices)


def _param_infos(cls) -> tuple[ParamInfo, ...]:
    schema = getattr(cls, "InitSchema", None)
    fields = schema.model_fields if schema is not None else {}
    out = []
    for name, par in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "args", "kwargs") or name in HIDDEN or par.kind is par.VAR_KEYWORD:
            continue
        f = fields.get(name)
        kind, choices = _type_of(f.annotation) if f is not None else ("any", None)
        lo, hi = _bounds(f.metadata) if f is not None else (None, None)
        required = par.default is inspect.Parameter.empty
        out.append(ParamInfo(name, kind, None if required else par.default, lo, hi, choices,
                             str(f.annotation) if f is not None else "", required, _labels(name, choices)))
    return tuple(out)


_CATALOGUE: dict[str, TransformInfo] | None = None


def catalogue() -> dict[str, TransformInfo]:
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = {}
        for kind, names in (("geometric", GEOMETRIC), ("pixel", PIXEL)):
            for name in names:
                cls = getattr(A, name, None)
                if cls is not None:
                    doc = (cls.__doc__ or "").strip().split("\n")[0]
                    _CATALOGUE[name] = TransformInfo(name, kind, _param_infos(cls), doc)
    return _CATALOGUE


def list_transforms() -> list[TransformInfo]:
    """Every transform segstudio offers, geometric first, with typed parameters for an editor."""
    return list(catalogue().values())


# ---- validation ----------------------------------------------------------------------------------

def _where(i: int, name: str) -> str:
    return f"augment.transforms[{i}] ({name})"


def _check_name(i: int, entry) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"augment.transforms[{i}] must be a table with a 'name' key naming a transform.")
    name = entry["name"]
    if name in catalogue():
        return name
    if name in EXCLUDED:
        raise ConfigError(f"{_where(i, name)} is not allowed: {EXCLUDED[name]}; remove it.")
    if hasattr(A, name):
        raise ConfigError(f"{_where(i, name)} is not offered because it does not keep masks and boxes "
                          "consistent; pick one from `list_transforms()`.")
    raise ConfigError(f"{_where(i, name)} is not an Albumentations transform; check the spelling.")


def _check_params(i: int, name: str, params: dict) -> None:
    allowed = [p.name for p in catalogue()[name].params]
    for key, value in params.items():
        if key in FIXED:
            fixed, why = FIXED[key]
            if value != fixed:
                raise ConfigError(f"{_where(i, name)}: parameter {key} must be {fixed} ({why}).")
        elif key not in allowed:
            raise ConfigError(f"{_where(i, name)}: unknown parameter {key!r}; allowed: {', '.join(allowed)}.")
        elif _reversed_range(value):
            # Albumentations swaps (120, 90) into (90, 120) without a word: the user likely meant something else
            raise ConfigError(f"{_where(i, name)}: {key} ({value[0]:g}, {value[1]:g}) has its larger value first; "
                              f"write the range low to high, e.g. ({value[1]:g}, {value[0]:g}).")


def _reversed_range(value) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and value[0] > value[1])


def _first_error(exc: Exception) -> tuple[str, str]:
    """(parameter, message) from Albumentations' pydantic error (raised as ValueError from it)."""
    for e in (exc, exc.__cause__, exc.__context__):
        errors = getattr(e, "errors", None)
        if callable(errors):
            try:
                err = errors()[0]
                loc = str(err["loc"][0]) if err.get("loc") else "?"   # the field; the rest is type detail
                return loc, err.get("msg", str(e))
            except Exception:  # noqa: BLE001 - fall back to the plain message
                pass
    lines = str(exc).splitlines()
    return "?", (lines[-1] if lines else type(exc).__name__).strip()


def make_transform(i: int, entry: dict):
    """Instantiate one validated spec entry (Albumentations' own validation checks the values)."""
    name = _check_name(i, entry)
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in entry.items() if k != "name"}
    _check_params(i, name, params)
    params.update({k: v for k, (v, _) in FIXED.items() if k in dict(inspect.signature(
        getattr(A, name).__init__).parameters)})
    try:
        return getattr(A, name)(**params)
    except Exception as exc:  # noqa: BLE001 - pydantic ValidationError, ValueError, TypeError: one message
        key, msg = _first_error(exc)
        if key in params:
            raise ConfigError(f"{_where(i, name)}: invalid value {params[key]!r} for parameter {key} "
                              f"({msg}).") from None
        if key != "?":
            raise ConfigError(f"{_where(i, name)}: parameter {key}: {msg}; check it against "
                              "list_transforms().") from None
        raise ConfigError(f"{_where(i, name)}: invalid parameters ({msg}); check them against "
                          "list_transforms().") from None


def validate_spec(spec: list[dict]) -> list:
    """Raise ConfigError naming the index, transform and parameter of the first problem; return transforms."""
    if not isinstance(spec, list):
        raise ConfigError("augment.transforms must be a list of tables.")
    return [make_transform(i, entry) for i, entry in enumerate(spec)]


def loosens_boxes(spec: list[dict]) -> bool:
    """True when a transform rotates or warps, so boxes should be recomputed from masks."""
    for entry in spec:
        if entry.get("name") == "Affine":
            if any(entry.get(k) not in (None, 0, 0.0, [0, 0], (0, 0)) for k in ("rotate", "shear")):
                return True
        elif entry.get("name") in LOOSENS_BOXES:
            return True
    return False
