"""The export errors: each a bad request (400) in the DESIGN error shape."""

from __future__ import annotations

from chainflow.core.errors import ProtocolError


class ExportDatasetUnknownError(ProtocolError):
    """A dataset that is not one of the exported ones."""

    code = "export_dataset_unknown"


class ExportFormatUnknownError(ProtocolError):
    """A format other than ``csv`` or ``parquet``."""

    code = "export_format_unknown"


class ExportSymbolRequiredError(ProtocolError):
    """A dataset stored per symbol (bars, predictions) asked for without ``symbol``."""

    code = "export_symbol_required"


class ExportRangeInvalidError(ProtocolError):
    """A range whose end is not after its start, or one longer than the limit."""

    code = "export_range_invalid"
