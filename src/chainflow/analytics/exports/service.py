"""Open an export: check the request, then hand back a stream of encoded chunks.

Every check happens before the first byte (a bad request is a 400 in the error shape, not a
broken stream); the rows are then read in batches of ``batch_rows`` as the client reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chainflow.analytics.exports.datasets import ExportDataset, ExportQuery
from chainflow.analytics.exports.encoders import csv_chunks, parquet_chunks
from chainflow.analytics.exports.errors import (
    ExportDatasetUnknownError,
    ExportFormatUnknownError,
    ExportRangeInvalidError,
    ExportSymbolRequiredError,
)

FORMATS: Mapping[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
DEFAULT_BATCH_ROWS = 2_000  # ~3 kB per row in flight (store dict + cells): ~6 MB a batch
END_OF_TIME_MS = 2**62


@dataclass(frozen=True, slots=True)
class ExportStream:
    """An export ready to stream: its media type, file name and chunks."""

    media_type: str
    filename: str
    chunks: AsyncIterator[bytes]


def _stamp(ms: int) -> str:
    if ms <= 0 or ms >= END_OF_TIME_MS:
        return "all"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


class ExportService:
    """The exportable datasets of every tenant."""

    def __init__(
        self,
        datasets: Mapping[str, ExportDataset],
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        max_range_ms: int | None = None,
        spool_root: Path | None = None,
    ) -> None:
        self._datasets = dict(datasets)
        self._batch_rows = batch_rows
        self._max_range_ms = max_range_ms
        self._spool_root = spool_root

    @property
    def dataset_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._datasets))

    def open(
        self,
        name: str,
        output_format: str,
        query: ExportQuery,
    ) -> ExportStream:
        """Return the stream of ``name`` for ``query``; raise a 400 error for a bad request."""
        dataset = self._datasets.get(name)
        if dataset is None:
            raise ExportDatasetUnknownError(
                f"dataset must be one of {', '.join(self.dataset_names)}; received {name!r}",
                details={"allowed": list(self.dataset_names)},
            )
        media_type = FORMATS.get(output_format)
        if media_type is None:
            raise ExportFormatUnknownError(
                f"format must be one of {', '.join(FORMATS)}; received {output_format!r}",
                details={"allowed": list(FORMATS)},
            )
        if dataset.needs_symbol and not query.symbol:
            raise ExportSymbolRequiredError(
                f"dataset {name!r} is stored per symbol: expected a symbol; received none"
            )
        self._check_range(query)
        batches = dataset.source.batches(query, self._batch_rows)
        if output_format == "csv":
            chunks = csv_chunks(dataset, batches)
        else:
            chunks = parquet_chunks(dataset, batches, spool_root=self._spool_root)
        parts = [name, query.symbol or "all", _stamp(query.start_ms), _stamp(query.end_ms)]
        return ExportStream(media_type, "_".join(parts) + f".{output_format}", chunks)

    def _check_range(self, query: ExportQuery) -> None:
        if query.start_ms >= query.end_ms:
            raise ExportRangeInvalidError(
                f"expected from < to; received from={query.start_ms} to={query.end_ms}"
            )
        if self._max_range_ms is not None and query.end_ms - query.start_ms > self._max_range_ms:
            raise ExportRangeInvalidError(
                f"expected a range of at most {self._max_range_ms} ms; "
                f"received {query.end_ms - query.start_ms} ms"
            )
