"""The text of a history file: encoding, header line, separator, numbered rows and errors.

Encodings: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM (what MT5 often writes) and
UTF-16 LE without BOM (detected from NUL bytes); line endings LF or CRLF. The separator is
the most frequent of tab, semicolon and comma in the header line. A field in double quotes
(pandas quotes a value holding the separator) is read as the CSV rules say.

yfinance 0.2.48+ writes ``download()`` results with a three-line header (``Price,Close,..``
/ ``Ticker,EURUSD=X,..`` / ``Date,,..``): the three lines are read as one header whose first
name is the third line's.

Every error is ``InvalidInput`` naming the file, the line number and what was expected vs
received (``LineSource.fail``).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from chainflow.core.errors import InvalidInput

_SEPARATORS = ("\t", ";", ",")


@dataclass(slots=True)
class LineSource:
    """An open history file positioned after its header; ``line_number`` is the last read."""

    path: Path
    text: TextIO
    raw: BinaryIO
    header: list[str] = field(default_factory=list)
    separator: str = ","
    line_number: int = 1
    pending: list[str] = field(default_factory=list)

    def fail(self, expected: str, received: object) -> InvalidInput:
        """Return the error for the current line: what was ``expected``, what was ``received``."""
        return InvalidInput(
            f"{self.path}: line {self.line_number}: expected {expected}; received {received!r}",
            details={"file": str(self.path), "line": self.line_number},
        )

    def rows(self) -> Iterator[list[str]]:
        """Yield the fields of each non-blank line after the header, counting lines."""
        separator = self.separator
        while self.pending:
            self.line_number += 1
            fields = _split(self.pending.pop(0), separator)
            if fields is not None:
                yield fields
        for line in self.text:
            self.line_number += 1
            fields = _split(line, separator)
            if fields is not None:
                yield fields

    @property
    def header_text(self) -> str:
        """Return the header as read (for error messages), at most 200 characters."""
        return self.separator.join(self.header)[:200]

    @property
    def bytes_read(self) -> int:
        """Return how many bytes of the file have been read so far."""
        return self.raw.tell()


def _split(line: str, separator: str) -> list[str] | None:
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    if '"' in line:
        return next(csv.reader([line], delimiter=separator))
    return line.split(separator)


def separator_of(header: str) -> str:
    """Return the most frequent of tab, semicolon and comma in ``header`` (comma on a tie)."""
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(counts.values())
    return next(sep for sep in reversed(_SEPARATORS) if counts[sep] == best)


def _sniff_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le"
    return "utf-8"


@contextmanager
def open_source(path: Path) -> Iterator[LineSource]:
    """Open ``path`` and read its header; raise ``InvalidInput`` if it cannot be read."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise InvalidInput(f"{path}: cannot be read ({e.strerror or e})") from e
    with raw:
        encoding = _sniff_encoding(raw.read(4))
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, newline=None)
        source = LineSource(path, text, raw)
        try:
            first = text.readline().rstrip("\r\n").lstrip("\ufeff")
            source.separator = separator_of(first)
            source.header = _split(first, source.separator) or [""]
            _merge_multirow_header(source)
            yield source
        except UnicodeDecodeError as e:
            raise source.fail(f"text in {encoding}", f"undecodable bytes ({e.reason})") from e


def _merge_multirow_header(source: LineSource) -> None:
    """Fold yfinance's ``Price`` / ``Ticker`` / ``Date`` header lines into one header."""
    if source.header[0].strip().lower() != "price":
        return
    second = source.text.readline()
    fields = _split(second, source.separator) or [""]
    if fields[0].strip().lower() != "ticker":
        source.pending.append(second)
        return
    third = source.text.readline()
    index_name = (_split(third, source.separator) or [""])[0]
    source.header = [index_name, *source.header[1:]]
    source.line_number = 3
