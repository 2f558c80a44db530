"""The ISO week and the day of a timestamp as integer keys every engine can compute and group by.

narwhals has no ISO week on DuckDB or Spark, but each engine has year, day of the year and weekday: the key
of a week is its Monday as ``year * 1000 + day of the year`` (a Monday in the previous year when the week
began there), the key of a day likewise. Both are turned back into ``2026-W47`` and a date in polars, after
aggregating. The engines compute them in UTC (``engine.py`` sets the session time zone).
"""

from __future__ import annotations

import narwhals as nw
import polars as pl


def _leap(year):
    return ((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))).cast(nw.Int64)


def week_key(col: str = "started_at") -> nw.Expr:
    """The Monday (UTC) of the ISO week of ``col`` as year * 1000 + day of the year."""
    t = nw.col(col)
    year = t.dt.year().cast(nw.Int64)
    # 1 = Monday .. 7 = Sunday everywhere: narwhals' Spark weekday (narwhals 2.29) gives Sunday as 0
    weekday = (t.dt.weekday().cast(nw.Int64) + 6) % 7 + 1
    monday = t.dt.ordinal_day().cast(nw.Int64) - weekday + 1
    before = year - 1
    return nw.when(monday < 1).then(before * 1000 + monday + 365 + _leap(before)).otherwise(year * 1000 + monday)


def day_key(col: str = "started_at") -> nw.Expr:
    """The day (UTC) of ``col`` as year * 1000 + day of the year."""
    t = nw.col(col)
    return t.dt.year().cast(nw.Int64) * 1000 + t.dt.ordinal_day().cast(nw.Int64)


def key_date(key: pl.Expr) -> pl.Expr:
    """A key of ``week_key`` or ``day_key`` back to its date."""
    return pl.date(key // 1000, 1, 1) + pl.duration(days=key % 1000 - 1)


def key_week(key: pl.Expr) -> pl.Expr:
    """A key of ``week_key`` as the ISO week's name, ``2026-W47``."""
    return key_date(key).dt.strftime("%G-W%V")
