"""The one format of times in the drift alert's messages, events and audit records: ISO 8601, UTC, seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_epoch(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, UTC))
