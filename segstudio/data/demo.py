"""The embedded demo dataset: synthetic shapes written straight into a local Deep Lake dataset.

Every row is drawn from its own random generator seeded by (seed, row), so a dataset is the same on
every machine and any row can be regenerated alone. The dataset is built in a hidden sibling folder
and renamed into place once committed: an interrupted run never leaves a half dataset at `dest`.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from segstudio.base.errors import DataError
from segstudio.data.demo_draw import CLASS_NAMES, draw_scene, encode_jpeg
from segstudio.data.schema import add_instance_columns

GENERATOR_VERSION = 1
CHUNK_ROWS = 64
# Row kinds by index: coprime periods spread empty and grayscale rows over both splits.
EMPTY_PERIOD, GRAY_PERIOD, VAL_PERIOD = 19, 11, 5

Progress = Callable[[int, int], None]


def default_demo_path() -> str:
    """Where the window's demo dataset lives: the user data folder (SEGSTUDIO_DATA_DIR overrides it)."""
    root = os.environ.get("SEGSTUDIO_DATA_DIR")
    if not root:
        import platformdirs  # noqa: PLC0415
        root = platformdirs.user_data_dir("segstudio", appauthor=False)
    return str(Path(root) / "demo-v1")


def row_kind(index: int, seed: int) -> tuple[bool, bool, str]:
    """(empty, grayscale, split) of a row: about 5% empty, 9% grayscale, 20% validation."""
    k = index + seed
    return k % EMPTY_PERIOD == 5, k % GRAY_PERIOD == 4, "val" if k % VAL_PERIOD == 1 else "train"


def _rows(start: int, stop: int, seed: int) -> dict[str, list]:
    cols: dict[str, list] = {"images": [], "masks": [], "boxes": [], "categories": [], "split": []}
    for i in range(start, stop):
        empty, gray, split = row_kind(i, seed)
        scene = draw_scene(np.random.default_rng([seed, i]), empty=empty, gray=gray)
        cols["images"].append(encode_jpeg(scene.image))   # our own bytes: no second encode in deeplake
        cols["masks"].append(scene.masks)
        cols["boxes"].append(scene.boxes)
        cols["categories"].append(scene.labels)
        cols["split"].append(split)
    return cols


def _add_columns(ds, seed: int, num_images: int) -> None:
    from deeplake import types  # noqa: PLC0415

    add_instance_columns(ds, CLASS_NAMES)
    ds.add_column("split", types.Text())
    ds.metadata["generator"] = "segstudio.data.demo"
    ds.metadata["generator_version"] = GENERATOR_VERSION
    ds.metadata["seed"] = int(seed)
    ds.metadata["num_images"] = int(num_images)


def _write(path: Path, num_images: int, seed: int, progress: Progress | None) -> None:
    import deeplake  # noqa: PLC0415

    ds = deeplake.create(str(path))
    _add_columns(ds, seed, num_images)
    ds.commit("segstudio demo dataset: schema")
    for start in range(0, num_images, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, num_images)
        ds.append(_rows(start, stop, seed))
        ds.commit(f"rows {start}..{stop - 1}")   # per chunk: an interruption keeps whole rows
        if progress is not None:
            progress(stop, num_images)


def _is_local(dest: str) -> bool:
    return "://" not in dest or dest.startswith("file://")


def check_destination(dest: str, overwrite: bool) -> Path:
    """The local path to write, or a DataError saying why not. Touches nothing."""
    if not _is_local(dest):
        raise DataError(f"the demo dataset can only be written to a local folder, not {dest}; "
                        "give a path on this machine.")
    path = Path(dest.removeprefix("file://")).expanduser().absolute()
    if path.is_file() or (path.exists() and not path.is_dir()):
        raise DataError(f"{path} is a file; choose a folder path for the demo dataset.")
    if path.is_dir() and any(path.iterdir()):
        if not (path / "_deeplake_log").is_dir():   # never delete a user's folder, even with --overwrite
            raise DataError(f"{path} is a folder that is not a Deep Lake dataset and is not empty; choose "
                            "another destination (--overwrite only replaces a dataset).")
        if not overwrite:
            raise DataError(f"{path} already exists; choose another destination or pass --overwrite.")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise DataError(f"{parent} is a file, so {path.name} cannot be created in it; choose another destination.")
    return path


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder {path.parent} ({exc.strerror}); "
                        "choose a writable destination.") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise DataError(f"cannot write in {path.parent} (permission denied); choose a writable destination.")


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _remove_stale_partials(path: Path) -> None:
    """Delete build folders left by killed runs (their process is gone) next to `path`."""
    for p in path.parent.glob(f".{path.name}.partial-*"):
        try:
            pid = int(p.name.rsplit(".partial-", 1)[1].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def _move_into_place(built: Path, path: Path, overwrite: bool) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    if path.exists() and overwrite:         # swap, then remove the old copy
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        path.rename(old)
        built.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    else:   # fails (OSError) if another process created `path` meanwhile
        built.rename(path)


def create_demo_dataset(dest: str, num_images: int = 300, seed: int = 0, overwrite: bool = False,
                        progress: Progress | None = None) -> str:
    """Generate the synthetic demo dataset at `dest` (a local folder) and return its absolute path.

    Refuses (DataError, nothing touched) when `dest` is an existing dataset or a non-empty folder,
    unless `overwrite`. `progress(done, total)` is called after each committed chunk.
    """
    if int(num_images) < 1:
        raise DataError(f"the demo dataset needs at least 1 image, not {num_images}; pass --images 1 or more.")
    path = check_destination(str(dest), overwrite)
    _make_parent(path)
    _remove_stale_partials(path)
    built = _partial_name(path)
    try:
        _write(built, int(num_images), int(seed), progress)
        _move_into_place(built, path, overwrite)
    except OSError as exc:
        raise DataError(f"cannot write the demo dataset at {path} ({exc.strerror or exc}); "
                        "choose a writable destination with free space.") from None
    except RuntimeError as exc:   # deeplake storage errors
        detail = str(exc).replace(str(built), str(path))   # name the user's path, not our temp folder
        raise DataError(f"cannot write the demo dataset at {path} ({detail}); "
                        "choose a writable destination with free space.") from None
    finally:
        if built.exists():
            shutil.rmtree(built, ignore_errors=True)
    return str(path)


def ensure_demo_dataset(progress: Progress | None = None) -> str:
    """The default demo dataset's path, generating it first if it is not there yet."""
    import deeplake  # noqa: PLC0415

    path = Path(default_demo_path())
    if deeplake.exists(str(path)):
        return str(path)
    if path.is_dir() and any(path.iterdir()):
        raise DataError(f"{path} exists but is not a dataset; move it away, and the demo dataset will be "
                        "generated there again.")
    try:
        return create_demo_dataset(str(path), progress=progress)
    except DataError:
        if deeplake.exists(str(path)):     # another process finished it first
            return str(path)
        raise
