"""HTML pieces for notebooks and reports. Every value from a trace is escaped."""

from __future__ import annotations

import datetime as dt
import html

import polars as pl

_PLOTLY_INCLUDED = False


def esc(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dt.datetime,)):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return html.escape("; ".join(map(str, value)))
    return html.escape(str(value))


def table(frame: pl.DataFrame, max_rows: int = 50, caption: str | None = None) -> str:
    """An escaped HTML table of at most ``max_rows`` rows (and says how many more there are)."""
    shown = frame.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in shown.iter_rows())
    more = f"<p>… and {frame.height - max_rows} more rows</p>" if frame.height > max_rows else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    if not frame.height:
        return f"<p><i>{esc(caption) + ': ' if caption else ''}none</i></p>"
    return f"<table class='agentops'>{cap}<tr>{head}</tr>{body}</table>{more}"


def figure_html(fig) -> str:
    """A plotly figure as HTML that works offline: plotly.js is inlined with the first figure only."""
    global _PLOTLY_INCLUDED
    include = not _PLOTLY_INCLUDED
    _PLOTLY_INCLUDED = True
    return fig.to_html(full_html=False, include_plotlyjs=include, include_mathjax=False,
                       config={"displaylogo": False, "responsive": True})


def show(fig) -> None:
    """Display a plotly figure in a notebook so that it survives HTML export, offline."""
    from IPython.display import HTML, display

    display(HTML(figure_html(fig)))


def pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def signed(value) -> str:
    """A change of a rate, in percentage points."""
    return "" if value is None else f"{value * 100:+.1f} pts"
