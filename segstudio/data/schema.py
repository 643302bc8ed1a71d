"""The Deep Lake columns segstudio writes for instance segmentation (importer, demo data, benchmarks, tests).

images: RGB uint8, compressed (JPEG by default); masks: HxWxN binary, LZ4; boxes: N x (left, top, width,
height) in pixels, recorded in the column type so `describe` knows the format; categories: N class
indices with their names in the column's metadata; iscrowd (optional): N booleans. `describe` proposes
exactly this mapping when it opens such a dataset.
"""
from __future__ import annotations


def add_instance_columns(ds, class_names, *, image_compression: str = "jpg", iscrowd: bool = False) -> None:
    """Add the instance columns to a new, empty dataset and record the class names (not committed)."""
    from deeplake import types as T  # noqa: PLC0415

    ds.add_column("images", T.Image(dtype="uint8", sample_compression=image_compression))
    ds.add_column("masks", T.BinaryMask(sample_compression="lz4"))
    ds.add_column("boxes", T.BoundingBox(dtype="float32", format="ltwh", bbox_type="pixel"))
    ds.add_column("categories", T.ClassLabel(T.Array("uint32", 1)))
    if iscrowd:
        ds.add_column("iscrowd", T.Array("bool", 1))
    ds["categories"].metadata["class_names"] = list(class_names)
