"""describe / resolve_mapping: kinds, proposed mapping, box format from the schema, class names, overrides."""
from pathlib import Path

import deeplake
import numpy as np
import pytest
from deeplake import types as T

from segstudio.base.config import DataConfig
from segstudio.base.errors import DataError
from segstudio.data.describe import class_names_for, describe, read_box_formats, resolve_mapping
from segstudio.data.open import open_dataset
from segstudio.data.sample import BoxFormat, ColumnMapping


def _make(path, *, box_fmt=("ccwh", "fractional"), class_names=("a", "b"), extra_rows=0):
    ds = deeplake.create(str(path))
    ds.add_column("photo", T.Image(dtype="uint8", sample_compression="png"))
    ds.add_column("seg", T.BinaryMask(sample_compression="lz4"))
    ds.add_column("rects", T.BoundingBox(dtype="float32", format=box_fmt[0], bbox_type=box_fmt[1]))
    ds.add_column("rects_default", T.BoundingBox(dtype="float32"))
    ds.add_column("cls", T.ClassLabel(T.Array("uint32", 1)))
    ds.add_column("other_cls", T.ClassLabel(T.Array("uint32", 1)))
    ds.add_column("iscrowds", T.Array("bool", 1))
    ds.add_column("note", T.Text())
    ds.add_column("meta", T.Dict())
    if class_names:
        ds["cls"].metadata["class_names"] = list(class_names)
    ds["other_cls"].metadata["class_names"] = ["x", "y", "z"]
    n = 2 + extra_rows
    ds.append({"photo": [np.zeros((8, 10, 3), np.uint8)] * n, "seg": [np.zeros((8, 10, 1), bool)] * n,
               "rects": [np.zeros((1, 4), np.float32)] * n, "rects_default": [np.zeros((1, 4), np.float32)] * n,
               "cls": [np.zeros(1, np.uint32)] * n, "other_cls": [np.zeros(1, np.uint32)] * n,
               "iscrowds": [np.zeros(1, bool)] * n, "note": ["x"] * n, "meta": [{"k": 1}] * n})
    ds.commit("rows")
    # Many commits push the schema into an LZ4-compressed log file; the format must still be found.
    for i in range(extra_rows):
        ds.metadata["i"] = i
        ds.commit(f"c{i}")
    return str(path)


def test_kinds_mapping_format_and_classes(tmp_path):
    url = _make(tmp_path / "d")
    info = describe(open_dataset(url), url)
    kinds = {c.name: (c.kind, c.dtype) for c in info.columns}
    assert kinds["photo"] == ("image", "uint8") and kinds["seg"] == ("binary_mask", "bool")
    assert kinds["rects"][0] == "bounding_box" and kinds["cls"] == ("class_label", "uint32")
    assert kinds["note"][0] == "text" and kinds["meta"][0] == "dict" and kinds["iscrowds"][0] == "array"
    assert info.num_rows == 2 and info.version
    assert info.mapping == ColumnMapping("photo", "seg", "rects", "cls", "iscrowds")
    assert info.box_format == BoxFormat("ccwh", "fractional") and info.box_format_known
    assert info.class_names == ["a", "b"]
    assert info.to_dict()["box_formats"]["rects"] == {"fmt": "ccwh", "units": "fractional"}


def test_box_format_read_from_compressed_log(tmp_path):
    url = _make(tmp_path / "d", box_fmt=("ltrb", "pixel"), extra_rows=30)
    info = describe(open_dataset(url), url)
    assert info.box_format == BoxFormat("ltrb", "pixel") and info.box_format_known


def test_overrides_and_kind_checks(tmp_path):
    url = _make(tmp_path / "d")
    info = describe(open_dataset(url), url)
    mapping, fmt = resolve_mapping(info, DataConfig(labels="other_cls", boxes="rects_default"))
    assert mapping.labels == "other_cls" and mapping.boxes == "rects_default" and fmt == BoxFormat()
    assert class_names_for(info, mapping) == ["x", "y", "z"]
    with pytest.raises(DataError, match="'nope' .*does not exist; columns: photo"):
        resolve_mapping(info, DataConfig(masks="nope"))
    with pytest.raises(DataError, match="'note' is text .*data.images needs image"):
        resolve_mapping(info, DataConfig(images="note"))


def test_no_class_names_says_how_to_add_them(tmp_path):
    url = _make(tmp_path / "d", class_names=())
    info = describe(open_dataset(url), url)
    assert info.class_names == [] and any("class_names" in n for n in info.notes)
    with pytest.raises(DataError, match=r"metadata\['class_names'\] = \[...\]"):
        resolve_mapping(info, DataConfig())
    mapping, _ = resolve_mapping(info, DataConfig(class_names=["p", "q"]))
    assert class_names_for(info, mapping, DataConfig(class_names=["p", "q"])) == ["p", "q"]


def test_no_image_column_lists_the_columns():
    ds = deeplake.create("mem://describe-noimage")
    ds.add_column("values", T.Array("float32", 1))
    ds.add_column("name", T.Text())
    ds.commit()
    info = describe(ds, "mem://describe-noimage")
    assert info.mapping is None
    with pytest.raises(DataError, match=r"No images column found \(columns: values \(array\), name \(text\)\)"):
        resolve_mapping(info, DataConfig())


def test_generic_arrays_are_mapped_by_name():
    ds = deeplake.create("mem://describe-generic")
    ds.add_column("image", T.Array("uint8", 3))
    ds.add_column("masks", T.Array("bool", 3))
    ds.add_column("labels", T.Array("int64", 1))
    ds.add_column("bbox", T.Array("float32", 2))
    ds["labels"].metadata["class_names"] = ["only"]
    ds.commit()
    info = describe(ds)
    assert info.mapping == ColumnMapping("image", "masks", "bbox", "labels", "")
    assert not info.box_format_known and "assuming ltwh" in info.notes[0]
    assert resolve_mapping(info, DataConfig())[0] == info.mapping


def test_demo_dataset_is_described(demo_dataset):
    info = describe(open_dataset(demo_dataset), demo_dataset)
    assert info.mapping.images == "images" and info.mapping.labels == "categories"
    assert info.box_format == BoxFormat("ltwh", "pixel") and info.box_format_known and info.class_names


def test_every_recorded_box_format_is_read_through_the_public_type(tmp_path):
    """The box format comes from Type equality (deeplake has no attribute for it): if a deeplake release
    stops telling formats apart this way, this fails for the pair it confuses."""
    ds = deeplake.create(str(tmp_path / "boxes"))
    pairs = [(f, u) for f in ("ltwh", "ltrb", "ccwh") for u in ("pixel", "fractional")]
    for i, (f, u) in enumerate(pairs):
        ds.add_column(f"b{i}", T.BoundingBox(dtype="float32" if i % 2 else "float64", format=f, bbox_type=u))
    ds.add_column("unrecorded", T.BoundingBox(dtype="float32"))
    ds.commit()
    for opened in (open_dataset(str(tmp_path / "boxes")), open_dataset(str(tmp_path / "boxes")).query("SELECT *")):
        formats = read_box_formats(opened)
        assert formats == {f"b{i}": BoxFormat(f, u) for i, (f, u) in enumerate(pairs)}


def test_describe_reads_only_public_deeplake_api():
    source = (Path(__file__).resolve().parent.parent / "segstudio" / "data" / "describe.py").read_text()
    assert "._" not in source.replace("__", "")     # no private attribute such as ds._reader
