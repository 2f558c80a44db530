"""ISO-8601 timestamps (Langfuse, LangSmith) -> nanoseconds since the epoch, UTC."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_ns(value) -> int | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"timestamp {value!r} is not an ISO-8601 string")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:  # exports write UTC; a naive time is read as UTC
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000
