"""The augmentation spec: presets, the transform catalogue, and errors that name the culprit."""
import pytest

from segstudio.base.config import AugmentConfig, config_from_dict, dumps_config, load_config
from segstudio.base.errors import ConfigError
from segstudio.samples.augment import build_pipeline
from segstudio.samples.augment_presets import AUGMENT_PRESETS, resolve_spec
from segstudio.samples.augment_spec import list_transforms, loosens_boxes, validate_spec


@pytest.mark.parametrize("preset", sorted(AUGMENT_PRESETS))
def test_presets_validate_and_follow_image_size(preset):
    spec = resolve_spec(AugmentConfig(preset=preset, image_size=200))
    validate_spec(spec)
    for t in spec:
        if t["name"] == "RandomSizedBBoxSafeCrop":
            assert t["height"] == t["width"] == 200


def test_seed_preset_is_the_tutorials_pipeline_without_normalize():
    spec = resolve_spec(AugmentConfig(preset="seed"))
    assert [t["name"] for t in spec] == ["RandomSizedBBoxSafeCrop", "HorizontalFlip"]
    assert spec[0]["erosion_rate"] == 0.2 and spec[0]["height"] == 128
    pipe = build_pipeline(AugmentConfig(min_area=25, min_visibility=0.6))
    params = pipe.compose.processors["bboxes"].params
    assert params.min_area == 25 and params.min_visibility == 0.6 and params.clip and params.filter_invalid_bboxes


def test_catalogue_has_typed_params():
    infos = {t.name: t for t in list_transforms()}
    assert infos["HorizontalFlip"].kind == "geometric" and infos["ColorJitter"].kind == "pixel"
    p = {q.name: q for q in infos["RandomSizedBBoxSafeCrop"].params}
    assert p["height"].type == "int" and p["erosion_rate"].type == "float" and p["erosion_rate"].default == 0.0
    assert p["p"].min == 0 and p["p"].max == 1
    assert p["height"].required and not p["erosion_rate"].required
    assert "mask_interpolation" not in p and "strict" not in p
    assert {q.name: q for q in infos["Affine"].params}["rotate"].type == "range"
    assert "Normalize" not in infos and "ToTensorV2" not in infos
    assert infos["Affine"].to_dict()["params"]


@pytest.mark.parametrize("spec, words", [
    ([{"name": "HorizontalFlip"}, {"name": "HorizntalFlip"}], ["transforms[1]", "HorizntalFlip"]),
    ([{"name": "Rotate", "angel": 10}], ["transforms[0]", "Rotate", "angel"]),
    ([{"name": "HorizontalFlip", "p": 2}], ["transforms[0]", "HorizontalFlip", "p"]),
    ([{"name": "RandomSizedBBoxSafeCrop", "height": "big", "width": 10}], ["RandomSizedBBoxSafeCrop", "height"]),
    ([{"name": "Normalize"}], ["Normalize", "normalises"]),
    ([{"name": "ToTensorV2"}], ["ToTensorV2", "tensors"]),
    ([{"name": "MaskDropout"}], ["MaskDropout"]),
    ([{"name": "Rotate", "border_mode": 2}], ["Rotate", "border_mode"]),
    ([{"p": 0.5}], ["transforms[0]", "name"]),
    ([{"name": "Rotate", "limit": [120, 90]}], ["Rotate", "limit (120, 90)", "low to high"]),   # was swapped silently
])
def test_invalid_specs_name_the_problem(spec, words):
    with pytest.raises(ConfigError) as err:
        validate_spec(spec)
    for word in words:
        assert word in str(err.value)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="augment.preset"):
        resolve_spec(AugmentConfig(preset="heavy"))


def test_custom_spec_from_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[augment]\npreset = "custom"\nboxes_from_masks = "auto"\n'
                    '[[augment.transforms]]\nname = "Rotate"\nlimit = [-15, 15]\np = 1.0\n'
                    '[[augment.transforms]]\nname = "HorizontalFlip"\np = 0.5\n')
    cfg = load_config(path)
    pipe = build_pipeline(cfg.augment)
    assert [t["name"] for t in pipe.spec] == ["Rotate", "HorizontalFlip"]
    assert pipe.boxes_from_masks      # rotations loosen boxes: recompute them from masks
    again = config_from_dict(__import__("tomllib").loads(dumps_config(cfg)))
    assert again.augment.transforms == cfg.augment.transforms


def test_boxes_from_masks_modes():
    rot = [{"name": "Affine", "rotate": [-5, 5]}]
    assert loosens_boxes(rot) and not loosens_boxes([{"name": "Affine", "scale": [0.9, 1.1]}])
    assert not build_pipeline(AugmentConfig(preset="custom", transforms=rot, boxes_from_masks="never")).boxes_from_masks
    assert build_pipeline(AugmentConfig(preset="seed", boxes_from_masks="always")).boxes_from_masks
    assert not build_pipeline(AugmentConfig(preset="seed")).boxes_from_masks


def test_evaluation_pipeline_has_nothing_random():
    pipe = build_pipeline(AugmentConfig(preset="strong"), train=False)
    assert pipe.spec == [] and pipe.keep_crowd


def test_multiscale_preset_keeps_the_aspect_and_crops_to_image_size():
    spec = resolve_spec(AugmentConfig(preset="multiscale", image_size=128))
    assert [t["name"] for t in spec] == ["SmallestMaxSize", "RandomCrop", "HorizontalFlip"]
    assert spec[0]["max_size"] == [112, 128, 144, 160] and spec[1]["height"] == spec[1]["width"] == 128
    assert spec[1]["pad_if_needed"]   # a short side of 112 is padded, not a crash


def test_opencv_codes_have_names_for_the_editor():
    from segstudio.samples.augment_spec import catalogue
    info = {p.name: p for p in catalogue()["Affine"].params}
    labels = dict(zip(info["interpolation"].choices, info["interpolation"].labels))
    assert labels[1] == "linear (1)" and labels[0] == "nearest (0)"
