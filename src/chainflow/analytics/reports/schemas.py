"""Wire models of ``/api/v1/analytics/reports``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chainflow.analytics.reports.periods import ReportKind, ReportSetting


class ReportPreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: ReportSetting = Field(
        description="off, daily (after each local midnight) or weekly (after Monday 00:00 "
        "local); the time zone is your profile's (PATCH /api/v1/users/me)"
    )


class ReportPreferencesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    period: ReportSetting
    timezone: str
    next_report_at: datetime | None = Field(
        description="when the next scheduled report is sent (null while reports are off)"
    )


class SentReportOut(BaseModel):
    period: ReportKind
    label: str = Field(description="the period's local dates")
    start: datetime
    end: datetime
    queued: bool
