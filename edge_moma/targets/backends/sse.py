"""Server-sent events, line by line: split at CRLF, LF or CR and nowhere else.

The SSE format ends a line with CRLF, LF or CR only. httpx's ``iter_lines``
splits like ``str.splitlines()``, also at U+0085, U+2028, U+2029 and other
characters that a JSON ``data:`` payload may hold raw (servers that write
UTF-8 JSON, ours included), which cut a streamed answer's event in two.
``LineSplitter`` takes the bytes as they arrive, so a sync or async reader
can use it alike; a line longer than ``max_line`` bytes is an error rather
than unbounded memory.

Example::

    for line in sse_lines(response.iter_bytes()):
        if line.startswith("data:"):
            ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

MAX_LINE_BYTES = 16 << 20
_EOL = re.compile(rb"\r\n|\r|\n")


class SseError(ValueError):
    """The stream is not SSE text: a line that is not UTF-8 or longer than allowed."""


class LineSplitter:
    """Feed it chunks of an event stream; it returns the lines each chunk completes."""

    def __init__(self, max_line: int = MAX_LINE_BYTES):
        self.max_line = max_line
        self._head: list[bytes] = []  # the pieces of the line not ended yet
        self._size = 0
        self._after_cr = False  # the last chunk ended in CR: a LF next is the same line end

    def feed(self, chunk: bytes) -> list[str]:
        if chunk and self._after_cr:
            self._after_cr = False  # this chunk answers the CR, whatever it starts with
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if chunk:
            self._after_cr = chunk.endswith(b"\r")
        parts = _EOL.split(chunk)
        if len(parts) == 1:
            self._keep(chunk)
            return []
        out = [_text(b"".join([*self._head, parts[0]]))]
        out += [_text(p) for p in parts[1:-1]]
        self._head, self._size = [], 0
        self._keep(parts[-1])
        return out

    def flush(self) -> list[str]:
        """The last line, if the stream ended without a line end."""
        line, self._head, self._size = b"".join(self._head), [], 0
        return [_text(line)] if line else []

    def _keep(self, piece: bytes) -> None:
        if piece:
            self._head.append(piece)
            self._size += len(piece)
            if self._size > self.max_line:
                raise SseError(f"an event line longer than {self.max_line} bytes")


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SseError(f"an event line that is not UTF-8 ({exc.reason})") from None


def sse_lines(chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of an event stream given as byte chunks (``response.iter_bytes()``)."""
    splitter = LineSplitter(max_line)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.flush()
