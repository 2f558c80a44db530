"""ISO weeks in UTC, the kit's unit of review: ``2026-W47`` runs from Monday 00:00 UTC to the next Monday."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from .errors import UsageError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(col: str = "started_at") -> pl.Expr:
    """The ISO week (UTC) of a timestamp column, e.g. ``2026-W47``."""
    return pl.col(col).dt.convert_time_zone("UTC").dt.strftime("%G-W%V")


def week_number(col: str = "started_at") -> pl.Expr:
    """The ISO week as one integer (202647): grouped far faster than its text, which is made per group."""
    utc = pl.col(col).dt.convert_time_zone("UTC")
    return utc.dt.iso_year() * 100 + utc.dt.week()


def week_text(number: pl.Expr) -> pl.Expr:
    """``week_number`` back to ``2026-W47``."""
    return pl.format("{}-W{}", number // 100, (number % 100).cast(pl.String).str.zfill(2))


def week_of(moment: dt.datetime | dt.date) -> str:
    iso = moment.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def parse_week(week: str) -> dt.date:
    """The Monday of ``week``; UsageError unless it is an ISO week such as 2026-W47."""
    match = _WEEK.match(str(week).strip())
    if match:
        try:
            return dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            pass
    raise UsageError(f"week {week!r}: expected an ISO week such as 2026-W47 (weeks 01-52, or 53 in long years)")


def week_bounds(week: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the week in UTC."""
    start = dt.datetime.combine(parse_week(week), dt.time(), tzinfo=dt.timezone.utc)
    return start, start + dt.timedelta(weeks=1)


def previous_week(week: str) -> str:
    return week_of(parse_week(week) - dt.timedelta(days=1))


def last_week(now: dt.datetime | None = None) -> str:
    """The week before the current one (UTC): what a Monday report covers."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return week_of(now - dt.timedelta(weeks=1))


def week_range(weeks: list[str]) -> list[str]:
    """Every week from the earliest to the latest of ``weeks``, gaps included, in order."""
    if not weeks:
        return []
    day, end = parse_week(min(weeks)), parse_week(max(weeks))
    out = []
    while day <= end:
        out.append(week_of(day))
        day += dt.timedelta(weeks=1)
    return out
