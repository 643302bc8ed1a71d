"""A tiny in-memory dataset with the TrainData interface, so engine tests need no Deep Lake or workers."""
from __future__ import annotations

import torch

from segstudio.base.config import DataConfig

CLASS_NAMES = ["square", "bar"]


def make_sample(row: int, size: int = 64):
    """One image with a bright square (class 1) and a bar (class 2) at row-dependent places."""
    g = torch.Generator().manual_seed(row)
    image = torch.rand(3, size, size, generator=g) * 0.2
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    x, y = int(torch.randint(0, size // 2, (1,), generator=g)), int(torch.randint(0, size // 2, (1,), generator=g))
    s = size // 4
    masks[0, y:y + s, x:x + s] = 1
    bx = (x + size // 2) % (size - 8)
    masks[1, 4:size - 4, bx:bx + 6] = 1
    image[0][masks[0].bool()] = 0.9
    image[2][masks[1].bool()] = 0.9
    boxes = torch.tensor([[x, y, x + s, y + s], [bx, 4, bx + 6, size - 4]], dtype=torch.float32)
    target = {"boxes": boxes, "labels": torch.tensor([1, 2]), "masks": masks,
              "image_id": torch.tensor(row)}
    return image, target


class FakeData:
    """In-memory stand-in for engine.data.TrainData."""

    def __init__(self, num_train=8, num_val=4, batch_size=2, size=64, poison_rows=()):
        self.class_names = list(CLASS_NAMES)
        self.data_config = DataConfig(url="fake", class_names=list(CLASS_NAMES))
        self.train_rows = list(range(num_train))
        self.val_rows = list(range(num_train, num_train + num_val))
        self.batch_size, self.size = batch_size, size
        self.poison_rows = set(poison_rows)
        self.iters_per_epoch = (num_train + batch_size - 1) // batch_size
        self.skips = []

    def _batch(self, rows):
        samples = [make_sample(r, self.size) for r in rows]
        for (img, _), r in zip(samples, rows):
            if r in self.poison_rows:
                img.fill_(float("nan"))
        return [s[0] for s in samples], [s[1] for s in samples], list(rows)

    def train_batches(self, epoch, skip=0):
        self.skips.append((epoch, skip))
        order = torch.randperm(len(self.train_rows), generator=torch.Generator().manual_seed(epoch)).tolist()
        rows = [self.train_rows[i] for i in order]
        batches = [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        for b in batches[skip:]:
            yield self._batch(b)

    def val_batches(self):
        for i in range(0, len(self.val_rows), self.batch_size):
            yield self._batch(self.val_rows[i:i + self.batch_size])

    def run_info(self):
        return {"dataset": "fake", "class_names": self.class_names}

    def split_dict(self):
        return {"method": "fake", "train": self.train_rows, "val": self.val_rows, "details": {}}

    def close(self):
        pass
