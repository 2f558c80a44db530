"""The ISO week and the day of a timestamp as integer keys every engine can compute and group by.

The key of a day is its number of days since 1970-01-01 (UTC), the key of an ISO week that of its Monday;
both are turned back into a date and ``2026-W47`` in polars, after aggregating. polars gets the day number by
casting the date; narwhals cannot cast a date to an integer on DuckDB or Spark, so there it is counted from
the year and the day of the year (the Gregorian calendar's leap days before the year, by floor division,
which narwhals gives on every engine). The engines compute them in UTC (``engine.py`` sets the session time
zone).
"""

from __future__ import annotations

import narwhals as nw
import polars as pl

_LEAP_DAYS_BEFORE_1970 = 1969 // 4 - 1969 // 100 + 1969 // 400


def day_key(col: str = "started_at", engine: str = "polars") -> nw.Expr:
    """The day (UTC) of ``col`` as days since 1970-01-01."""
    t = nw.col(col)
    if engine == "polars":
        return t.dt.date().cast(nw.Int64)
    year = t.dt.year().cast(nw.Int64)
    before = year - 1
    leap_days = before // 4 - before // 100 + before // 400 - _LEAP_DAYS_BEFORE_1970
    return (year - 1970) * 365 + leap_days + t.dt.ordinal_day().cast(nw.Int64) - 1


def week_key(col: str = "started_at", engine: str = "polars") -> nw.Expr:
    """The Monday (UTC) of the ISO week of ``col`` as days since 1970-01-01 (a Thursday: day 0 − 3 is a Monday)."""
    day = day_key(col, engine)
    return day - (day + 3) % 7


def key_date(key: pl.Expr) -> pl.Expr:
    """A key of ``week_key`` or ``day_key`` back to its date."""
    return key.cast(pl.Int32).cast(pl.Date)


def key_week(key: pl.Expr) -> pl.Expr:
    """A key of ``week_key`` as the ISO week's name, ``2026-W47``."""
    return key_date(key).dt.strftime("%G-W%V")
