"""One mapped dataset: (URL, data config, credentials/endpoint) -> the opened dataset with its column mapping,
box format, class names and version. Every caller (training, evaluation, prediction, export, preview,
inspect, the window) gets its dataset from `open_mapped` and passes the MappedDataset along.

A MappedDataset pickles without its open handle (each spawned loader worker reopens it on first use).
Credentials given explicitly travel with it to those workers inside `Hidden`, whose repr and str never
show the value, and which `to_dict`/`repr` of the dataset leave out: nothing logged or saved carries them.
"""
from __future__ import annotations

import dataclasses

from segstudio.base.errors import DataError
from segstudio.data.batch_read import ReadSettings, RowReader, make_reader
from segstudio.data.describe import DatasetInfo, class_names_for, describe, resolve_mapping
from segstudio.data.open import open_readable, strip_secrets
from segstudio.data.repeat_factor import image_categories
from segstudio.data.sample import BoxFormat, ColumnMapping, RawSample, read_sample
from segstudio.data.splits import Split, filtered_rows, make_split
from segstudio.data.versions import VersionRef, open_at, resolve, version_key


class Hidden:
    """A secret that pickles as is (to spawn workers) but never prints."""

    __slots__ = ("value",)

    def __init__(self, value=None):
        self.value = value

    def __getstate__(self):
        return (self.value,)       # a tuple: pickle skips __setstate__ for a false state such as None

    def __setstate__(self, state):
        self.value = state[0]

    def __repr__(self) -> str:
        return "<hidden>" if self.value else "<none>"

    __str__ = __repr__


@dataclasses.dataclass(eq=False, repr=False)
class MappedDataset:
    """An opened dataset with the columns chosen for each role. `mapping` is None only when
    `open_mapped(strict=False)` could not resolve one (then `problem` says why)."""

    url: str
    info: DatasetInfo
    mapping: ColumnMapping | None
    box_format: BoxFormat
    class_names: list
    endpoint_url: str = ""
    problem: str = ""
    legacy_v3: bool = False     # a Deep Lake 3.x dataset, read-only through deeplake.query
    creds: Hidden = dataclasses.field(default_factory=Hidden)
    reads: ReadSettings = dataclasses.field(default_factory=ReadSettings)
    ref: VersionRef = VersionRef("", "")      # the exact state read (a worker reopens exactly it)
    _ds: object = None
    _reader: object = None

    @property
    def ds(self):
        """The open Deep Lake dataset (or read-only view); reopened after unpickling in a worker."""
        if self._ds is None:
            ds, _ = open_readable(self.url, endpoint_url=self.endpoint_url, creds=self.creds.value)
            self._ds = open_at(ds, self.ref)   # a version does not survive pickling: reopen it by name
        return self._ds

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def num_rows(self) -> int:
        return self.info.num_rows

    def __len__(self) -> int:
        return self.info.num_rows

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _ds=None, _reader=None)

    @property
    def reader(self) -> RowReader:
        """This process's batched reader of the mapped columns (cache and retries for remote data)."""
        if self.mapping is None:
            raise DataError(self.problem or "No column mapping is chosen; set the images, masks and labels columns.")
        if self._reader is None:
            self._reader = make_reader(self.ds, self.mapping, self.url, self.endpoint_url, self.version, self.reads)
        return self._reader

    def __repr__(self) -> str:
        return (f"MappedDataset({strip_secrets(self.url)!r}, rows={self.num_rows}, version={self.version!r}, "
                f"mapping={self.mapping}, box_format={self.box_format})")

    def read(self, row: int) -> RawSample:
        """Row `row` in the canonical layout (see data.sample.read_sample)."""
        if self.mapping is None:
            raise DataError(self.problem or "No column mapping is chosen; set the images, masks and labels columns.")
        return read_sample(self.ds, row, self.mapping, self.box_format)

    def split(self, data_cfg) -> Split:
        """Training and validation rows as the data settings say (within data.query's rows)."""
        return make_split(self.ds, data_cfg)

    def query_rows(self, query: str):
        """The rows a TQL filter keeps (every row for an empty one)."""
        return filtered_rows(self.ds, query)

    def categories(self, rows) -> list:
        """The classes present in each of `rows` (repeat-factor sampling's input)."""
        return image_categories(self.ds, self.mapping.labels, rows)

    def version_key(self) -> str:
        """The exact state read, as caches key it (branch and commit)."""
        return version_key(self.ds)

    def remap(self, data_cfg) -> MappedDataset:
        """The same open dataset with the columns `data_cfg` names (DataError when they do not fit)."""
        mapping, box_format = resolve_mapping(self.info, data_cfg)
        names = class_names_for(self.info, mapping, data_cfg)
        return dataclasses.replace(self, mapping=mapping, box_format=box_format, class_names=names, problem="",
                                   _reader=None)


def open_mapped(url: str, data_cfg=None, *, endpoint_url: str = "", creds: dict | None = None,
                strict: bool = True) -> MappedDataset:
    """Open `url` read-only, describe it and resolve the columns `data_cfg` names (or the proposed ones).

    strict=False keeps going when no mapping fits: mapping is None and `problem` holds the one sentence
    (inspect and the window show the schema so that the user can choose columns)."""
    from segstudio.base.config import DataConfig  # noqa: PLC0415

    data_cfg = data_cfg if data_cfg is not None else DataConfig()
    ds, legacy = open_readable(url, endpoint_url=endpoint_url, creds=creds)
    ds, ref = resolve(ds, data_cfg.commit or data_cfg.version)
    info = describe(ds, strip_secrets(url))
    if legacy:
        info.notes.insert(0, legacy_note(url))
    base = MappedDataset(url=url, info=info, mapping=None, box_format=info.box_format,
                         class_names=list(info.class_names), endpoint_url=endpoint_url, legacy_v3=legacy,
                         creds=Hidden(dict(creds) if creds else None), _ds=ds, ref=ref,
                         reads=ReadSettings.from_config(data_cfg))
    try:
        return base.remap(data_cfg)
    except DataError as exc:
        if strict:
            raise
        return dataclasses.replace(base, problem=str(exc))


def legacy_note(url: str) -> str:
    return (f"{strip_secrets(url)} is a Deep Lake 3.x dataset: segstudio reads it read-only (through "
            "deeplake.query); to change it, convert it to Deep Lake 4 or re-import the data.")
