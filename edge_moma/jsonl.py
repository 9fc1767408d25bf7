"""JSON Lines files: the one reader every routing set, intent set, batch and gate file goes through.

A line ends at ``b"\\n"`` and nowhere else. ``str.splitlines()`` and text-mode
files also break lines at CR, U+000B, U+000C, U+001C-U+001E, U+0085, U+2028
and U+2029, which may stand inside a JSON string (a public routing file has
U+0085 in an MMLU prompt), so files are read as bytes. What a line may hold:

- a trailing ``\\r`` (a file written on Windows) and a UTF-8 byte order mark
  on the first line are dropped; blank lines are skipped;
- control characters written raw inside a string (strict JSON wants them
  escaped) are kept as they are rather than losing the row;
- anything else that is not UTF-8 JSON is a ``DataError`` naming the file and
  the line, because a silently skipped row changes every figure computed from it.

Example::

    for line_no, row in read_records("train.jsonl"):
        print(line_no, row["text"])
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import orjson

from .errors import DataError

_BOM = "\ufeff"


def lines(byte_lines: Iterable[bytes], name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; ``name`` is the file, for errors.

    ``byte_lines`` is a file opened in binary mode (its iteration splits on
    ``b"\\n"`` only) or ``data.split(b"\\n")``; the last line needs no newline.
    """
    for number, raw in enumerate(byte_lines, 1):
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"not valid UTF-8 ({exc.reason} at byte {exc.start + 1} of the line)",
                path=name,
                line=number,
            ) from None
        yield number, text.removeprefix(_BOM) if number == 1 else text


def parse(text: str, name: str, number: int) -> Any:
    """One line's JSON value; ``DataError`` names the file, the line and what is wrong."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass  # the strict fast path refused it: the lenient parser decides and explains
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON: {exc.msg} (column {exc.colno})", path=name, line=number
        ) from None
    except RecursionError:
        raise DataError("not valid JSON: nested too deeply", path=name, line=number) from None


def records(byte_lines: Iterable[bytes], name: str) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of each non-blank line."""
    for number, text in lines(byte_lines, name):
        yield number, parse(text, name, number)


def open_binary(path: str | Path) -> IO[bytes]:
    """``path`` opened for reading bytes, gunzipped if it ends in ``.gz``; ``DataError`` if not."""
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "rb"))
        return path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", path=str(path)) from None
    except ValueError as exc:  # a NUL byte in the name
        raise DataError(f"cannot read the file: {exc}", path=str(path)) from None


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line of the file at ``path``."""
    name = str(path)
    with open_binary(path) as fh:
        try:
            yield from lines(fh, name)
        except (OSError, EOFError, zlib.error) as exc:  # a damaged gzip stream, a read error
            raise DataError(f"cannot read the file: {exc}", path=name) from None


def read_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of each non-blank line of the file at ``path``."""
    name = str(path)
    for number, text in read_lines(path):
        yield number, parse(text, name, number)
