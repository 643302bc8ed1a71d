"""Rows of a Deep Lake dataset as model-ready (image, target) pairs, for DataLoader workers.

Keys are (epoch, row): the augmentation seed is sample_seed(run seed, epoch, row), so a sample is the same
in any worker, any process and after a resume. The dataset is opened lazily in each process (an open
Deep Lake handle does not pickle), and the class lives at module level with Qt-free imports so spawned
workers can import it.
"""
from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402


class RowDataset(torch.utils.data.Dataset):
    def __init__(self, *, url, endpoint_url, mapping, box_format, aug_cfg, run_seed: int, train: bool):
        self.url, self.endpoint_url = url, endpoint_url
        self.mapping, self.box_format = mapping, box_format
        self.aug_cfg, self.run_seed, self.train = aug_cfg, run_seed, train
        self._ds = self._pipeline = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_ds"] = state["_pipeline"] = None
        return state

    def _open(self):
        from segstudio.augment import build_pipeline
        from segstudio.data.open import open_dataset

        self._ds = open_dataset(self.url, endpoint_url=self.endpoint_url)
        self._pipeline = build_pipeline(self.aug_cfg, train=self.train)

    def __getitem__(self, key):
        from segstudio.augment import prepare_sample, sample_seed
        from segstudio.data.sample import read_sample

        if self._ds is None:
            self._open()
        epoch, row = key
        raw = read_sample(self._ds, row, self.mapping, self.box_format)
        prepared = prepare_sample(raw, self._pipeline, sample_seed(self.run_seed, epoch, row))
        return prepared.image, prepared.target, int(row)


def collate_rows(batch):
    """[(image, target, row)] -> (images, targets, rows): Mask R-CNN takes lists, not stacked tensors."""
    images, targets, rows = zip(*batch)
    return list(images), list(targets), list(rows)


def worker_init(_worker_id: int) -> None:
    # One thread per worker: OpenCV and torch would otherwise each start a pool per process.
    import cv2

    cv2.setNumThreads(0)
    torch.set_num_threads(1)
