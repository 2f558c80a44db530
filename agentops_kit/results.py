"""The face every analytics result shows: computed once, then rendered as many ways as it is needed.

    result.to_polars()        its main table, a polars DataFrame
    result.to_dict()          plain Python, ready for json.dumps (times as ISO 8601 text)
    result                    renders itself in Jupyter (``_repr_html_``); every value is escaped
    result.figure()           a plotly figure, where the result has a chart
    result.write_html(path)   one self-contained HTML page: plotly.js inlined, nothing fetched from anywhere,
                              written to a temporary name and renamed, so a reader never sees half a page
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import polars as pl

from .rendering import esc, table

# The page allows inline code and styles only: no script, style, image or font is fetched from anywhere,
# and nothing the page holds can send data out.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src data:; font-src data:")
PAGE_CSS = ("body { font-family: system-ui, sans-serif; margin: 24px; color: #222; } "
            "h1 { font-size: 1.4em; } p.agentops-lead { margin: 4px 0 12px; }")


def records(frame: pl.DataFrame) -> list[dict]:
    """The rows of a frame as JSON-ready dictionaries (dates and times as ISO 8601 text, NaN as None)."""
    return json.loads(frame.write_json())


class Result:
    """Base of the analytics results. A subclass sets ``title``, implements ``to_polars`` and ``html``
    (the body: escaped HTML), and defines ``figure()`` when it has a chart."""

    title: ClassVar[str] = "Result"

    def to_polars(self) -> pl.DataFrame:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"title": self.title, "rows": records(self.to_polars())}

    def html(self) -> str:
        return table(self.to_polars(), max_rows=500)

    def _repr_html_(self) -> str:
        return f"<div class='agentops-result'><h4>{esc(self.title)}</h4>{self.html()}</div>"

    def page(self) -> str:
        """The whole HTML page that ``write_html`` writes."""
        chart = ""
        if hasattr(self, "figure"):
            chart = self.figure().to_html(full_html=False, include_plotlyjs=True, include_mathjax=False,
                                          config={"displaylogo": False, "responsive": True})
        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<meta http-equiv='Content-Security-Policy' content=\"{PAGE_POLICY}\">"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{esc(self.title)}</title><style>{PAGE_CSS}</style></head>"
                f"<body><h1>{esc(self.title)}</h1>{chart}{self.html()}</body></html>\n")

    def write_html(self, path: str | os.PathLike) -> Path:
        """Write ``page()`` to ``path`` (all or nothing) and return the path."""
        path = Path(path)
        text = self.page()
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path
