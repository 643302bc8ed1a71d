"""Detect a local Deep Lake dataset whose data files were cut short, before Deep Lake decodes them.

deeplake 4.7 does not check a chunk file against the size it recorded: reading a truncated chunk returns
zeros or half-decoded images for most column types, and for text columns it allocates memory without bound
(the process grows until the kernel kills it). See tests/test_data_integrity.py for the reproduction.

The dataset's log (`_deeplake_log/<branch>/*.jsonl.lz4`, LZ4 block-compressed JSON lines) records each
chunk file it adds (`addBlock`: column id, file key, byte size, row count). A file that exists but is
shorter than recorded is damaged; the message names the column and the rows it holds. A log file that
cannot be decompressed is damaged too (Deep Lake silently drops its commits). Files that are absent are
left to Deep Lake, which reports them (a compaction may legitimately remove old chunk files).

Cost: one read of the log (which Deep Lake reads anyway) and one stat per chunk file; chunks hold
megabytes, so this is thousands of stats for a million-row dataset.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from segstudio.base.errors import DataError

_LOG = "_deeplake_log"


@dataclass
class Block:
    column: str
    key: str
    size: int
    first_row: int
    rows: int


def _log_lines(path: Path):
    """The JSON objects of one log file; DataError if the file cannot be decoded."""
    raw = path.read_bytes()
    if path.name.endswith(".lz4"):
        import lz4.block  # noqa: PLC0415
        try:
            raw = lz4.block.decompress(raw)
        except Exception:  # noqa: BLE001 - lz4 raises LZ4BlockError, no common base worth naming
            raise _log_damaged(path) from None
    try:
        return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _log_damaged(path) from None


def _log_damaged(path: Path) -> DataError:
    return DataError(f"The dataset's log file {path} is damaged (cut short or overwritten); restore the "
                     "dataset from a backup or re-import the data.")


def _blocks(branch_dir: Path, names: dict[int, str]) -> dict[str, Block]:
    """The last recorded size of every chunk file added in one branch's log, in commit order."""
    blocks: dict[str, Block] = {}
    next_row: dict[int, int] = {}
    for log in sorted(branch_dir.glob("*.jsonl*")):
        for entry in _log_lines(log):
            if "createColumn" in entry:
                names[entry["createColumn"].get("i")] = entry["createColumn"].get("n", "?")
            add = entry.get("addBlock")
            if not isinstance(add, dict) or not isinstance(add.get("d"), dict):
                continue
            data, col = add["d"], add.get("c")
            first = next_row.get(col, 0)
            for block in _parts(data, names.get(col, str(col)), first):
                blocks[block.key] = block
            next_row[col] = first + sum(int(n) for n in data.get("n") or [])
    return blocks


def _parts(data: dict, column: str, first: int) -> list[Block]:
    """One Block per file of an addBlock entry: the key itself, or (deeplake.from_coco writes these) a
    folder `key` holding the parts `p`, with sizes `b` and row counts `n` per part."""
    key, parts, sizes, rows = data.get("x"), data.get("p") or [""], data.get("b") or [], data.get("n") or []
    if not key or len(sizes) != len(parts) or len(rows) != len(parts):
        return []
    out = []
    for part, size, count in zip(parts, sizes, rows):
        out.append(Block(column, key + part, int(size), first, int(count)))
        first += int(count)
    return out


def check_local_dataset(path: Path, url: str) -> None:
    """Raise DataError naming the column and rows if a chunk file is shorter than the log records."""
    log_root = path / _LOG
    names: dict[int, str] = {}
    root = str(path)
    for branch_dir in sorted(p for p in log_root.iterdir() if p.is_dir() and p.name != "_meta"):
        for block in _blocks(branch_dir, names).values():
            _check_block(root, url, block)


def _check_block(root: str, url: str, block: Block) -> None:
    """One os.stat per chunk file (plain strings: pathlib doubled the cost of this, the one part of opening
    a local dataset that grows with its size)."""
    try:
        st = os.stat(os.path.join(root, block.key))
    except OSError:             # absent (e.g. compacted away): Deep Lake reports a missing file itself
        return
    size = st.st_size
    if not stat.S_ISREG(st.st_mode):
        return
    if size < block.size:
        last = block.first_row + block.rows - 1
        raise DataError(
            f"Dataset {url} is damaged: the data file of column '{block.column}' holding rows "
            f"{block.first_row}-{last} is cut short ({size} of {block.size} bytes, as a full disk or an "
            "interrupted copy leaves it); restore the dataset from a backup or re-import the data.")
