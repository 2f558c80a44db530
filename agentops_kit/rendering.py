"""HTML pieces for notebooks and reports. Every value from a trace is escaped."""

from __future__ import annotations

import datetime as dt
import html

import polars as pl

from .model import Verdict

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


# JupyterLab typesets $…$ in HTML outputs with MathJax after the HTML is parsed, so an entity such as &#36; is
# typeset all the same; MathJax skips elements of these classes (tex2jax_ignore: MathJax 2, mathjax_ignore: 3).
NO_MATH = "tex2jax_ignore mathjax_ignore"


def no_math(fragment: str) -> str:
    """HTML in which JupyterLab never turns dollar amounts into LaTeX."""
    return f"<div class='{NO_MATH}'>{fragment}</div>"


# Scoped to our tables, and specific enough to win over JupyterLab's own right-aligned cells.
TABLE_CSS = """<style>
div.agentops-table { overflow-x: auto; margin: 4px 0 12px; }
div.agentops-table table.agentops { border-collapse: collapse; font-size: 0.9em; }
div.agentops-table table.agentops caption { text-align: left; font-weight: 600; padding: 4px 0; }
div.agentops-table table.agentops th, div.agentops-table table.agentops td {
  border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }
div.agentops-table table.agentops th { background: #f6f6f6; }
div.agentops-table table.agentops td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
div.agentops-table table.agentops td.v-go { color: #1b7837; font-weight: 600; }
div.agentops-table table.agentops td.v-no-go { color: #b2182b; font-weight: 600; }
div.agentops-table table.agentops td.v-unknown { color: #7570b3; font-weight: 600; }
</style>"""


def _is_share(column: str) -> bool:
    """Columns holding a fraction of 1, shown as a percentage (a burn rate is a multiple, not a share)."""
    return column != "burn_rate" and (column.endswith(("_rate", "_share")) or column in ("consumed", "agreement"))


def cell(column: str, value) -> tuple[str, str]:
    """(escaped text, css class) of one value, formatted by what its column holds."""
    if value is None:
        return "–", ""
    if isinstance(value, bool):
        return ("yes" if value else "no"), ""
    if column == "verdict" or column.startswith("verdict_"):
        return esc(value), f"v-{value}" if value in tuple(Verdict) else ""
    if isinstance(value, (int, float)):
        if column.endswith("_wow") and _is_share(column.removesuffix("_wow")):
            return signed(value), "num"
        if _is_share(column):
            return pct(value), "num"
        if column.endswith("_hours"):
            return f"{value:,.1f} h", "num"
        if column == "burn_rate":
            return f"{value:.2f}×", "num"
        if "cost" in column and "runs" not in column and isinstance(value, float):
            return money(value, sign=column.endswith("_wow")), "num"
        return esc(value), "num"
    return esc(value), ""


def table(frame: pl.DataFrame, max_rows: int = 50, caption: str | None = None, height: int | None = None,
          links: dict[tuple[int, str], str] | None = None) -> str:
    """An escaped HTML table of at most ``max_rows`` rows (and says how many more there are), each value
    formatted by its column: shares as percentages, changes of shares in points, costs in dollars.
    ``height`` (px) makes a long table scroll inside that height. ``links`` maps (row index, column) to the
    id of an element of the page the cell links to (the runs behind a count: ``runs_behind.Counted.links``)."""
    if not frame.height:
        return f"<p><i>{esc(caption) + ': ' if caption else ''}none</i></p>"
    shown = frame.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    rows = []
    for i, row in enumerate(shown.iter_rows()):
        cells = [cell(c, v) for c, v in zip(shown.columns, row, strict=True)]
        if links:
            cells = [(f"<a class='agentops-count' href='#{html.escape(links[i, c])}'>{text}</a>", css)
                     if (i, c) in links else (text, css) for c, (text, css) in zip(shown.columns, cells, strict=True)]
        rows.append("<tr>" + "".join(f"<td class='{cls}'>{text}</td>" if cls else f"<td>{text}</td>"
                                     for text, cls in cells) + "</tr>")
    more = f"<p>… and {frame.height - max_rows} more rows</p>" if frame.height > max_rows else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    scroll = f" style='max-height:{int(height)}px;overflow-y:auto'" if height else ""
    return no_math(f"{TABLE_CSS}<div class='agentops-table'{scroll}><table class='agentops'>{cap}<tr>{head}</tr>"
                   f"{''.join(rows)}</table>{more}</div>")


def figure_html(fig) -> str:
    """A plotly figure as HTML that works offline: plotly.js is inlined with the first figure only."""
    global _PLOTLY_INCLUDED
    include = not _PLOTLY_INCLUDED
    _PLOTLY_INCLUDED = True
    return fig.to_html(full_html=False, include_plotlyjs=include, include_mathjax=False,
                       config={"displaylogo": False, "responsive": True})


def show(fig, caption: str | None = None, height: int = 420) -> None:
    """Display a plotly figure in a notebook so that it survives HTML export, offline; or a polars DataFrame as
    a formatted table holding every row, scrolling inside ``height`` px when long (never a raw frame dump).

    Example (in a folder made by ``agentops-kit init``)::

        >>> from agentops_kit.charts import inventory_matrix
        >>> ak.show(inventory_matrix(ak.score_inventory("data/inventory.csv")))
        <IPython.core.display.HTML object>
    """
    from IPython.display import HTML, display

    if isinstance(fig, pl.DataFrame):
        display(HTML(table(fig, max_rows=max(fig.height, 1), caption=caption, height=height if fig.height > 12 else None)))
        return
    display(HTML(figure_html(fig)))


def pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def money(value, sign: bool = False) -> str:
    """US dollars: cents from a dollar up; below that more decimals, since agent runs cost fractions of a cent."""
    if value is None:
        return "–"
    prefix = ("+" if value > 0 else "-" if value < 0 else "±") if sign else ("-" if value < 0 else "")
    amount = abs(value)
    digits = 2 if amount >= 1 else 4 if amount >= 0.01 else 6
    return f"{prefix}${amount:,.{digits}f}" if amount else "$0"


def signed(value) -> str:
    """A change of a rate, in percentage points."""
    return "" if value is None else f"{value * 100:+.1f} pts"
