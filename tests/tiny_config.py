"""The tiny training config the command tests run (a small model, 64 px, a few iterations on the CPU)."""
from __future__ import annotations

from pathlib import Path

TINY = """
[data]
url = "{url}"
endpoint_url = "{endpoint}"
{data_extra}
[augment]
image_size = 64

[model]
fpn_channels = 32
mask_head_channels = 16
mask_head_layers = 1
rpn_pre_nms_top_n_train = 100
rpn_post_nms_top_n_train = 50
rpn_pre_nms_top_n_test = 50
rpn_post_nms_top_n_test = 25
box_batch_size_per_image = 32

[train]
epochs = 1
batch_size = 2
max_iters = {iters}
workers = {workers}
device = "cpu"
runs_dir = "{runs}"
run_name = "{name}"
{train_extra}
[eval]
max_images = {eval_images}
"""


def write_config(tmp_path: Path, url: str, name: str = "cli", iters: int = 3, *, endpoint: str = "",
                 workers: int = 0, split_column: str = "split", data_extra: str = "", train_extra: str = "",
                 eval_images: int = 4) -> Path:
    """tmp_path/NAME.toml training on `url`, runs in tmp_path/runs; extra lines go into [data] / [train]."""
    if split_column:
        data_extra = f'split_column = "{split_column}"\n' + data_extra
    path = Path(tmp_path) / f"{name}.toml"
    path.write_text(TINY.format(url=url, endpoint=endpoint, runs=Path(tmp_path) / "runs", name=name, iters=iters,
                                workers=workers, data_extra=data_extra, train_extra=train_extra,
                                eval_images=eval_images))
    return path
