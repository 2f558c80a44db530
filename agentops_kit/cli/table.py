"""Frames as text for a terminal: every string made inert (``terminal.safe``), numbers formatted by what their
column holds (the report's rules: shares as percentages, money in dollars), and long texts wrapped to the
terminal's width instead of cut. A table too wide even with its texts wrapped between words is shown one record at a time.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import textwrap

import polars as pl

from ..rendering import _is_share, money, pct, signed
from ..terminal import _UNSAFE, safe

GAP = "  "
NARROWEST = 20  # the narrowest a value gets in the records layout


def inert(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every control character in its string (and list-of-string) columns shown escaped.
    Only the values that hold one go through Python."""
    out = []
    for name, dtype in frame.schema.items():
        column = frame[name]
        if dtype == pl.List(pl.String) and column.list.explode().str.contains(_UNSAFE.pattern).any():
            column = pl.Series(name, [None if v is None else [safe(x) for x in v] for v in column.to_list()],
                               dtype=dtype)
        elif dtype == pl.String:
            bad = column.str.contains(_UNSAFE.pattern).fill_null(False)
            if bad.any():
                column = column.scatter(bad.arg_true(), [safe(v) for v in column.filter(bad)])
        out.append(column)
    return pl.DataFrame(out)


def text(column: str, value) -> str | list[str]:
    """One value as the table shows it; a list stays a list (one line, or wrapped block, per item)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if column.endswith("_wow") and _is_share(column.removesuffix("_wow")):
            return signed(value)
        if _is_share(column):
            return pct(value)
        if column.endswith("_hours"):
            return f"{value:,.1f} h"
        if column == "burn_rate":
            return f"{value:.2f}×"
        if "cost" in column and "runs" not in column and isinstance(value, float):
            return money(value, sign=column.endswith("_wow"))
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (list, pl.Series)):
        return [safe(v) for v in value] or ["–"]
    return safe(value)


# where a line may break: at spaces, and after the "_" or "/" inside names (order_status_/inquiries)
_CHUNKS = re.compile(r"\s+|[^\s_/]*[_/]+|[^\s_/]+")


class _Wrapper(textwrap.TextWrapper):
    """Breaks between words; inside a name only when the name is wider than the line."""

    def _split(self, text: str) -> list[str]:
        return [piece for chunk in re.split(r"(\s+)", text) if chunk
                for piece in (_CHUNKS.findall(chunk) if len(chunk) > self.width - len(self.subsequent_indent)
                              else [chunk])]


def _pieces(value: str | list[str], names_too: bool) -> int:
    """The longest piece of a cell between spaces (``names_too``: also after the _ or / inside names)."""
    items = value if isinstance(value, list) else [value]
    marker = 2 if isinstance(value, list) and len(value) > 1 else 0
    split = _CHUNKS.findall if names_too else str.split
    return max((len(c) + marker for item in items for c in split(item) if not c.isspace()), default=1)


def _wrap(value: str | list[str], width: int) -> list[str]:
    """The lines of one cell; the items of a list each start on a line of their own, marked "- "."""
    if not isinstance(value, list) or len(value) < 2:
        item = value[0] if isinstance(value, list) else value
        return _Wrapper(width).wrap(item) or [""]
    wrapper = _Wrapper(width, initial_indent="- ", subsequent_indent="  ")
    return [line for item in value for line in wrapper.wrap(item) or ["-"]]


def _longest(value: str | list[str]) -> int:
    marker = 2 if isinstance(value, list) and len(value) > 1 else 0
    return max((len(v) + marker for v in (value if isinstance(value, list) else [value])), default=0)


def _widths(headers, cells, numeric, width: int | None) -> list[int] | None:
    """Column widths that fit ``width`` (None: natural widths), or None when even wrapped they cannot."""
    values = [max(map(_longest, col), default=1) for col in cells]
    word = [max(map(len, h.split()), default=1) for h in headers]
    natural = [max(len(h), v) for h, v in zip(headers, values, strict=True)]
    if width is None:
        return natural
    # widest column first, in three rounds: only headers wrap; then texts wrap between words; then also after
    # the _ or / inside names. An id is never cut in a table: past that, the records layout reads better.
    headers_only = [max(v, w) for v, w in zip(values, word, strict=True)]
    between_words, inside_names = (
        [h if num else max(max((_pieces(v, names_too) for v in col), default=1), w)
         for h, col, w, num in zip(headers_only, cells, word, numeric, strict=True)]
        for names_too in (False, True))
    widths, room = list(natural), width - len(GAP) * (len(headers) - 1)
    for floor in (headers_only, between_words, inside_names):
        while sum(widths) > room:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    return widths if sum(widths) <= room else None


def render(frame: pl.DataFrame, width: int | None = None) -> str:
    """``frame`` as an aligned text table no wider than ``width`` (None: as wide as its values)."""
    headers = [c.replace("_", " ") for c in frame.columns]
    numeric = [frame.schema[c].is_numeric() for c in frame.columns]
    cells = [[text(c, v) for v in frame[c].to_list()] for c in frame.columns]
    widths = _widths(headers, cells, numeric, width)
    if widths is None:
        return _records(frame.columns, cells, width)  # type: ignore[arg-type]  # only a given width fails to fit

    def block(values: list, row_widths: list[int]) -> list[str]:
        wrapped = [_wrap(v, w) for v, w in zip(values, row_widths, strict=True)]
        height = max(map(len, wrapped))
        return [GAP.join((part[i] if i < len(part) else "").rjust(w) if num else
                         (part[i] if i < len(part) else "").ljust(w)
                         for part, w, num in zip(wrapped, row_widths, numeric, strict=True)).rstrip()
                for i in range(height)]

    lines = block(headers, widths)
    lines.append(GAP.join("─" * w for w in widths))
    for row in zip(*cells, strict=True):
        lines += block(list(row), widths)
    return "\n".join(lines)


def _records(columns: list[str], cells: list[list], width: int) -> str:
    """One record after another, ``column  value`` per line, values wrapped: for a table that cannot fit."""
    label = max(map(len, columns))
    room = max(width - label - len(GAP), NARROWEST)
    out = []
    for row in zip(*cells, strict=True):
        out.append("─" * min(width, label + len(GAP) + room))
        for column, value in zip(columns, row, strict=True):
            for i, line in enumerate(_wrap(value, room)):
                out.append(f"{column if i == 0 else '':<{label}}{GAP}{line}".rstrip())
    return "\n".join(out)


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width, else 80 (a pipe or a file)."""
    return shutil.get_terminal_size((80, 24)).columns
