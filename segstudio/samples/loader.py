"""torch Dataset and DataLoader assembly: spawn workers, per-sample seeding, collate, aspect grouping.

Every sample's random state comes from `sample_seed(run_seed, epoch, row)`, so the same (seed, epoch,
row) gives the same pixels in the main process, in any worker, and in `segstudio preview`. The batch
sampler hands (position, epoch) pairs to the workers, which keeps persistent workers epoch-aware.

A loader process reads a whole batch at once (`__getitems__`: one request per column for all its rows,
every column in flight together) and, with prefetch > 0, starts the requests of its next batches before
it prepares the current one: each batch carries `ahead`, the positions of the batches the same worker
gets next (torch deals batches to workers in turn), so remote round trips overlap decoding/augmenting.
Nothing here imports Qt: spawned workers import this module by name.
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from segstudio.base.errors import DataError, UserError
from segstudio.data.batch_read import is_remote
from segstudio.data.mapped import MappedDataset
from segstudio.data.preflight import ERROR_CODES, PreflightTally, check_sample, check_stored_rows, image_shapes
from segstudio.data.repeat_factor import epoch_indices, epoch_length, shard
from segstudio.data.sample import RawSample, raw_from_cells
from segstudio.samples.augment import PreparedSample, build_pipeline, prepare_sample, sample_seed


class WorkerUserError(UserError):
    """A UserError raised in a DataLoader worker, so that the main process gets the same one sentence.

    torch re-raises a worker's exception as `type(exc)("Caught ... Original Traceback ...")`, which would
    put a traceback into the message users see; this constructor keeps only the original sentence.
    """

    def __init__(self, message: str = ""):
        marker = f"{__name__}.WorkerUserError: "
        if "Original Traceback" in message and marker in message:
            message = message.rsplit(marker, 1)[1].strip()
        super().__init__(message)


class RowCheck:
    """What a loader worker needs to check each row it reads (training's pre-flight beyond its sample)."""

    def __init__(self, num_classes: int, has_masks: bool, has_boxes: bool):
        self.num_classes, self.has_masks, self.has_boxes = int(num_classes), bool(has_masks), bool(has_boxes)

    def findings(self, raw: RawSample) -> dict:
        return check_sample(raw, self.num_classes, self.has_masks, self.has_boxes)


def reraise_user_error(exc: UserError):
    if torch.utils.data.get_worker_info() is None:
        raise exc
    raise WorkerUserError(str(exc)) from None


class Batch(list):
    """A batch of (position, epoch) keys plus `ahead`: position lists of this worker's next batches."""

    ahead: tuple = ()


def pack_rows(rows: list) -> tuple:
    """Rows as they travel to a spawned worker: sorted distinct rows (every split's) as a compressed bitmap,
    about 10 KB for 100k rows instead of 300 KB of pickled ints; other lists as they are.

    Spawn writes each worker's pickled state into a 64 KB pipe: past that, the write waits until the worker
    has imported torch and deeplake and read the rest, one worker after the other, which put 4 s (2
    workers) between `segstudio train` and its first iteration at 100k rows."""
    a = np.asarray(rows, np.int64)
    if len(a) < 2 or a[0] < 0 or not (np.diff(a) > 0).all():
        return ("list", list(rows))
    bits = np.zeros(int(a[-1]) + 1, bool)
    bits[a] = True
    return ("bitmap", len(bits), zlib.compress(np.packbits(bits).tobytes()))


def unpack_rows(packed) -> list:
    if isinstance(packed, tuple) and packed[0] == "bitmap":
        raw = np.frombuffer(zlib.decompress(packed[2]), np.uint8)
        return np.flatnonzero(np.unpackbits(raw, count=packed[1])).tolist()
    return list(packed[1]) if isinstance(packed, tuple) else list(packed)


class SegmentationDataset(Dataset):
    """Rows of a mapped dataset as PreparedSamples; picklable (the MappedDataset reopens in each worker).

    Index with a position (epoch taken from `self.epoch`) or a (position, epoch) pair.
    """

    def __init__(self, mapped: MappedDataset, rows, aug_cfg, train: bool = True, seed: int = 0,
                 keep_crowd: bool | None = None, check: RowCheck | None = None):
        self.mapped = mapped
        self.check = check   # set: items are (PreparedSample or None for a bad row, (row, {code: n}, message))
        self.rows = [int(r) for r in rows]
        self.aug_cfg, self.train, self.seed, self.keep_crowd = aug_cfg, train, int(seed), keep_crowd
        self.epoch = 0
        self._pipeline = build_pipeline(aug_cfg, train, keep_crowd)  # errors surface in the caller's process
        self._pending: dict = {}   # tuple of rows -> PendingRows requested ahead (this process only)
        self._ready: dict = {}     # row -> cells of the batch being prepared

    def __getstate__(self):
        # rebuilt lazily in each worker; the rows travel packed (see pack_rows)
        return dict(self.__dict__, _pipeline=None, _pending={}, _ready={}, rows=pack_rows(self.rows))

    def __setstate__(self, state):
        self.__dict__.update(state, rows=unpack_rows(state["rows"]))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def pipeline(self):
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.aug_cfg, self.train, self.keep_crowd)
        return self._pipeline

    def read(self, row: int) -> RawSample:
        # read_sample leaves HxWxN masks as a zero-copy NxHxW view; prepare_sample gathers from it.
        cells = self._ready.get(row)   # read already, with the rest of its batch
        if cells is not None:
            return raw_from_cells(row, cells, self.mapped.mapping, self.mapped.box_format)
        return self.mapped.read(row)

    def sample_with_raw(self, row: int, epoch: int = 0) -> tuple[RawSample, PreparedSample]:
        """Dataset row `row` as read and as prepared at `epoch`: what training sees, what preview shows."""
        raw = self.read(row)
        return raw, prepare_sample(raw, self.pipeline, sample_seed(self.seed, epoch, row))

    def sample(self, row: int, epoch: int = 0) -> PreparedSample:
        return self.sample_with_raw(row, epoch)[1]

    def checked_sample(self, row: int, epoch: int = 0) -> tuple:
        """(PreparedSample or None for a row with an error, (row, {code: count}, message)).

        A row that read_sample refuses is checked again in its stored form, so that its problem gets the
        code the up-front pre-flight gives it."""
        try:
            raw = self.read(row)
        except DataError as exc:
            return None, (row, self._stored_findings(row), str(exc))
        codes = self.check.findings(raw)
        if ERROR_CODES & set(codes):
            return None, (row, codes, "")
        return prepare_sample(raw, self.pipeline, sample_seed(self.seed, epoch, row)), (row, codes, "")

    def _stored_findings(self, row: int) -> dict:
        m, tally = self.mapped, PreflightTally()
        try:
            check_stored_rows(tally, m.ds, m.mapping, m.box_format, [row], self.check.num_classes)
        except Exception:  # noqa: BLE001 - not even the stored cells can be read
            pass
        return tally.counts if ERROR_CODES & set(tally.counts) else {"unreadable": 1}

    def __getitem__(self, key) -> PreparedSample:
        pos, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        try:
            if self.check is not None:
                return self.checked_sample(self.rows[int(pos)], int(epoch))
            return self.sample(self.rows[int(pos)], int(epoch))
        except UserError as exc:
            reraise_user_error(exc)

    def __getitems__(self, keys) -> list:
        """A whole batch: its rows read together (one request per column, all in flight at once; the
        batches in `keys.ahead` requested too), then each key prepared by __getitem__ as usual."""
        ahead = getattr(keys, "ahead", ())
        try:
            rows = [self.rows[int(k[0] if isinstance(k, tuple) else k)] for k in keys]
            pending = self._pending.pop(tuple(rows), None) or self.mapped.reader.start(rows)
            for positions in ahead:
                self._request([self.rows[int(p)] for p in positions])
            self._ready = {r: c for r, c in zip(rows, pending.cells()) if c is not None}
        except UserError as exc:
            reraise_user_error(exc)
        try:
            return [self[k] for k in keys]
        finally:
            self._ready = {}

    def _request(self, rows: list[int]) -> None:
        key = tuple(rows)
        if key not in self._pending:
            while len(self._pending) >= _MAX_PENDING:   # batches that never came (e.g. the epoch ended)
                self._pending.pop(next(iter(self._pending)))
            self._pending[key] = self.mapped.reader.start(rows)

    def samples_with_raw(self, rows, epoch: int = 0, batch: int = 16):
        """sample_with_raw for each row, the rows read `batch` at a time with the next batch in flight:
        the same pixels, a fraction of the round trips (preview)."""
        chunks = [[int(r) for r in rows[i:i + batch]] for i in range(0, len(rows), batch)]
        following = self.mapped.reader.start(chunks[0]) if chunks else None
        try:
            for i, chunk in enumerate(chunks):
                current = following
                following = self.mapped.reader.start(chunks[i + 1]) if i + 1 < len(chunks) else None
                self._ready = {r: c for r, c in zip(chunk, current.cells()) if c is not None}
                for row in chunk:
                    yield self.sample_with_raw(row, epoch)
        finally:
            self._ready = {}

    def prefetch_depth(self, batch_size: int = 1) -> int:
        return self.mapped.reads.prefetch_for(is_remote(self.mapped.url), batch_size)

    def image_sizes(self) -> list[tuple[int, int]]:
        """(height, width) per row from the stored headers, a batch of rows per request."""
        ds, column, out = self.mapped.ds, self.mapped.mapping.images, []
        for start in range(0, len(self.rows), 256):
            out += [(h, w) for h, w, _, _ in image_shapes(ds, column, self.rows[start:start + 256])]
        return out


class EpochBatchSampler(Sampler):
    """Batches of (position, epoch) pairs for training, validation and prediction.

    The order of an epoch is DistributedSampler's seeded permutation for (seed, epoch), this rank's share
    under torchrun (world_size > 1); optional grouping by aspect (group ids). Each `iter()` uses the
    current epoch, skips the batches `set_epoch(e, skip=k)` asked to skip (resume), then advances the epoch.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False,
                 groups=None, *, rank: int = 0, world_size: int = 1, repeat_factors=None, ahead: int = 0,
                 workers: int = 0):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, int(seed)
        # Class-balanced epochs (data/repeat_factor.py): row i appears about repeat_factors[i] times.
        self.repeat_factors = None if repeat_factors is None else np.asarray(repeat_factors, np.float64)
        self.drop_last = drop_last
        self.groups = None if groups is None else np.asarray(groups)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch, self.skip = 0, 0
        # batch i goes to worker i % workers: its next batches are i + workers, i + 2 * workers...
        self.ahead, self.stride = int(ahead), max(int(workers), 1)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = int(epoch), int(skip)

    def _order(self, epoch: int) -> np.ndarray:
        if self.repeat_factors is not None:
            return shard(epoch_indices(self.repeat_factors, self.seed, epoch), self.rank, self.world_size)
        if not self.shuffle and self.world_size == 1:
            return np.arange(self.n)
        sampler = DistributedSampler(range(self.n), num_replicas=self.world_size, rank=self.rank,
                                     shuffle=self.shuffle, seed=self.seed, drop_last=False)
        sampler.set_epoch(epoch)
        return np.fromiter(sampler, dtype=np.int64, count=len(sampler))

    def _batches(self, order: np.ndarray) -> list[list[int]]:
        if self.groups is None or len(np.unique(self.groups)) < 2:
            return [order[i:i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        buckets: dict = {}
        out = []
        for pos in order:   # keep the shuffled order, emit a batch when one group fills up
            bucket = buckets.setdefault(self.groups[pos], [])
            bucket.append(int(pos))
            if len(bucket) == self.batch_size:
                out.append(bucket)
                buckets[self.groups[pos]] = []
        rest = [p for b in buckets.values() for p in b]
        out += [rest[i:i + self.batch_size] for i in range(0, len(rest), self.batch_size)]
        return out

    def __iter__(self):
        epoch, skip = self.epoch, self.skip
        self.epoch, self.skip = epoch + 1, 0
        batches = self._batches(self._order(epoch))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        batches = batches[skip:]
        for i, batch in enumerate(batches):
            keys = Batch((pos, epoch) for pos in batch)
            keys.ahead = tuple(batches[j] for j in range(i + self.stride, len(batches), self.stride)[:self.ahead])
            yield keys

    def _share(self) -> int:
        """Positions this rank gets per epoch (DistributedSampler pads ranks to equal shares)."""
        n = self.n
        if self.repeat_factors is not None:
            n = epoch_length(self.repeat_factors)
        return n if self.world_size == 1 else -(-n // self.world_size)

    def __len__(self) -> int:
        """Batches in a whole epoch (skipped ones included)."""
        if self.groups is not None and len(np.unique(self.groups)) >= 2:
            batches = self._batches(self._order(self.epoch))
            return sum(1 for b in batches if len(b) == self.batch_size) if self.drop_last else len(batches)
        share = self._share()
        return share // self.batch_size if self.drop_last else -(-share // self.batch_size)


def collate(batch: list[PreparedSample]):
    """-> (list of image tensors, list of target dicts, list of dataset row ids)."""
    return [s.image for s in batch], [s.target for s in batch], [s.row for s in batch]


def checked_collate(batch: list[tuple]):
    """Items of a checking dataset -> collate's three lists of the good rows, plus every row's findings."""
    images, targets, rows = collate([sample for sample, _ in batch if sample is not None])
    return images, targets, rows, [findings for _, findings in batch]


def worker_init(worker_id: int) -> None:
    """Keep each worker to one thread: workers already run in parallel with each other."""
    cv2.setNumThreads(0)
    torch.set_num_threads(1)


def aspect_groups(sizes) -> np.ndarray:
    """0 for landscape (or square), 1 for portrait."""
    return np.array([1 if h > w else 0 for h, w in sizes], dtype=np.int64)


def build_loader(dataset: SegmentationDataset, batch_size: int, workers: int, shuffle: bool, seed: int,
                 device="cpu", drop_last: bool = False, *, group_by_aspect: bool | None = None,
                 timeout: float = 300.0, prefetch_factor: int = 2, pin_memory: bool | None = None,
                 rank: int = 0, world_size: int = 1, repeat_factors=None, collate_fn=None) -> DataLoader:
    """The one DataLoader factory (training, validation, evaluation, benchmarks): batches from an
    EpochBatchSampler (`loader.batch_sampler.set_epoch(e, skip=k)` pins the epoch), spawn workers.

    group_by_aspect=None groups only when the pipeline keeps image shapes (no fixed-size crop or resize),
    where padding portrait and landscape together wastes work; grouping reads every row's image header."""
    if group_by_aspect is None:
        group_by_aspect = not _fixed_output_size(dataset)
    groups = aspect_groups(dataset.image_sizes()) if group_by_aspect else None
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle, seed, drop_last, groups, rank=rank,
                                world_size=world_size, repeat_factors=repeat_factors,
                                ahead=dataset.prefetch_depth(batch_size), workers=workers)
    kwargs = {}
    if workers > 0:
        kwargs = dict(multiprocessing_context="spawn", persistent_workers=True, prefetch_factor=prefetch_factor,
                      worker_init_fn=worker_init, timeout=timeout)
    pin = str(device).startswith("cuda") if pin_memory is None else pin_memory
    if collate_fn is None:   # the audit passes its own (its items are figures, not samples)
        collate_fn = checked_collate if getattr(dataset, "check", None) is not None else collate
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_fn, pin_memory=pin,
                      generator=torch.Generator().manual_seed(seed), **kwargs)


_MAX_PENDING = 80   # above the largest prefetch setting (64)

_FIXED_SIZE = {"RandomSizedBBoxSafeCrop", "RandomResizedCrop", "RandomSizedCrop", "Resize", "CenterCrop",
               "RandomCrop"}


def _fixed_output_size(dataset: SegmentationDataset) -> bool:
    spec = dataset.pipeline.spec
    return any(t.get("name") in _FIXED_SIZE and t.get("p", 1.0) >= 1.0 for t in spec)
