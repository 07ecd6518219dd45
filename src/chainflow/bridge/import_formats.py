"""Read history files for ``chainflow import``: the names callers import from here.

The reader lives in ``chainflow.bridge.bar_files`` (formats, encodings, time zones, column
detection, error messages); this module keeps its public names where they always were.
"""

from __future__ import annotations

from chainflow.bridge.bar_files import (
    DEFAULT_CHUNK_ROWS,
    IMPORT_FORMATS,
    MAX_TZ_OFFSET_HOURS,
    ColumnChoices,
    ImportFormat,
    ParsedChunk,
    detect_format,
    iter_chunks,
    utc_offset_ms,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "IMPORT_FORMATS",
    "MAX_TZ_OFFSET_HOURS",
    "ColumnChoices",
    "ImportFormat",
    "ParsedChunk",
    "detect_format",
    "iter_chunks",
    "utc_offset_ms",
]
