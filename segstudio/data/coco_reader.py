"""A JSON file streamed to ijson: encodings, the import's fingerprint, and syntax errors as one sentence.

json.loads accepts UTF-8 with or without a byte-order mark, UTF-16 and UTF-32; yajl (ijson's C parser)
reads UTF-8 only, so the others are re-encoded on the fly. yajl reports an error with the text around it
(the error under column 40, newlines shown as spaces) but no offset: the offset is found by looking for
that text in the chunk being parsed, then turned into a line and column like json's own messages.
"""
from __future__ import annotations

import ast
import codecs
import json
from pathlib import Path

from segstudio.base.errors import DataError

_ARROW_COLUMN = 40      # where yajl's "(right here) ------^" points in the line above it


class CocoReader:
    """A binary file object for ijson over `path`: the raw bytes optionally hashed (`sha`) and counted
    (on_read(bytes read so far)), a leading byte-order mark dropped, UTF-16/32 re-encoded as UTF-8;
    remembers the last chunk it handed out."""

    def __init__(self, path, sha=None, on_read=None):
        self.path, self.sha, self.on_read = Path(path), sha, on_read
        self.raw_bytes = 0
        self.fh = _open(self.path)
        encoding = json.detect_encoding(self.fh.read(4))
        self.fh.seek(0)
        self.bom = 3 if encoding == "utf-8-sig" else 0
        self.decoder = None if encoding.startswith("utf-8") else codecs.getincrementaldecoder(encoding)()
        self.offset = 0         # bytes handed out before the last chunk
        self.last = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def read(self, size: int = -1) -> bytes:
        if size == 0:           # ijson probes the file with read(0)
            return b""
        data = b""
        while not data:
            raw = self.fh.read(size)
            if self.sha is not None:
                self.sha.update(raw)
            if self.on_read is not None and raw:
                self.raw_bytes += len(raw)
                self.on_read(self.raw_bytes)
            data = raw[self.bom:] if self.bom else raw
            self.bom = 0
            if self.decoder is not None:
                data = self.decoder.decode(raw, final=not raw).encode("utf-8")
            if not raw:
                break
        self.offset += len(self.last)
        self.last = data
        return data


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"Annotations file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give the COCO annotations .json file.") from None


def not_text(path) -> DataError:
    return DataError(f"{path} is not a text JSON file; give the COCO annotations .json file.")


def json_error(exc: Exception, reader: CocoReader) -> DataError:
    """One sentence for an ijson syntax error met while `reader` was being parsed."""
    text = str(exc)
    if text.startswith(("b'", 'b"')):       # ijson could not decode yajl's message (it quotes raw bytes)
        text = ast.literal_eval(text).decode("utf-8", "replace")
    if "invalid bytes in UTF8" in text:
        return not_text(reader.path)
    lines = text.splitlines()
    what = lines[0].split(": ", 1)[-1].rstrip(". ") if lines else text
    line, column = _line_column(reader.path, _error_offset(lines, reader))
    if "integer overflow" in what:      # yajl reads integers as int64; json.loads took any size
        return DataError(f"{reader.path} has an integer too large for a 64-bit id (line {line}, column {column}); "
                         "renumber the ids.")
    return DataError(f"{reader.path} is not valid JSON (line {line}, column {column}: {what}); fix or re-export "
                     "the file.")


def _error_offset(lines: list, reader: CocoReader) -> int:
    end = reader.offset + len(reader.last)
    if len(lines) < 3 or "premature EOF" in lines[0]:
        return end
    shown = lines[1]
    context = shown.lstrip().encode("utf-8", "replace")
    chunk = reader.last.replace(b"\n", b" ").replace(b"\r", b" ")
    at = chunk.find(context) if context else -1
    if at < 0:
        return reader.offset
    # yajl points just past the character it rejected, except at numbers too large and inside strings
    past = 0 if "overflow" in lines[0] or "inside string" in lines[0] else 1
    return max(0, reader.offset + at + _ARROW_COLUMN - (len(shown) - len(shown.lstrip())) - past)


def _line_column(path: Path, offset: int) -> tuple:
    """1-based line and column of a byte offset in the (UTF-8) text the parser saw."""
    line, line_start, seen = 1, 0, 0
    with CocoReader(path) as reader:
        while seen < offset:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            part = chunk[: offset - seen]
            line += part.count(b"\n")
            if b"\n" in part:
                line_start = seen + part.rindex(b"\n") + 1
            seen += len(chunk)
    return line, offset - line_start + 1


_KINDS = {ord("{"): "object", ord("["): "list", ord('"'): "string", ord("t"): "boolean", ord("f"): "boolean",
          ord("n"): "null"}


def top_level_kind(path) -> str:
    """'object', 'list', 'string', 'boolean', 'null' or 'number': what the (valid) file holds."""
    with CocoReader(path) as reader:
        head = reader.read(4096).lstrip()
        while not head:
            chunk = reader.read(1 << 16)
            if not chunk:
                return "nothing"
            head = chunk.lstrip()
    return _KINDS.get(head[0], "number")
