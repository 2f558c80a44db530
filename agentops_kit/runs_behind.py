"""The runs behind a number: every count a result shows can be opened as the list of the runs it counts.

``Counted`` says where the counts of one table come from: the rows counted (one per run, or per violation,
request, step ...; each with a ``run_id``), the table's key columns, and for each count column the predicate
that picks the rows it counts. The runs behind any cell are then the same filter that made the number, found
lazily when asked for, and never copied per table. ``RunsBehind`` is one such set of runs. For the HTML report
``links`` turns a table's counts into anchors and ``appendix_html`` lists each set with its runs' key facts;
in a notebook ``widgets.RunsBehindLinks`` opens a set in the run inspector.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from .rendering import esc, no_math, table

# the key facts of a run the appendix lists (cost_source says why a cost is missing: unknown is a value)
FACTS = ("run_id", "agent", "workflow", "outcome", "started_at", "cost_usd", "cost_source", "error_type")
APPENDIX_ROWS = 200  # per set: a count over more runs says how many more; the run inspector opens them all


@dataclass(frozen=True)
class RunsBehind:
    """The runs counted by one number. ``count`` is the number as shown (violations, requests or runs);
    ``rows`` are the rows it counted, lazily; ``run_ids()`` the distinct runs among them."""

    section: str
    label: str
    count: int
    rows: pl.LazyFrame = field(repr=False, compare=False)
    # where it came from, when a Counted made it: the appendix then finds the runs of all of a table's cells
    # in one pass over its rows instead of one pass per cell
    origin: Counted | None = field(default=None, repr=False, compare=False)
    cell: tuple = field(default=(), repr=False, compare=False)  # the cell's key values
    column: str = field(default="", repr=False, compare=False)

    @property
    def anchor(self) -> str:
        """A stable HTML id: letters, digits and dashes only, whatever the names hold."""
        words = re.sub(r"[^a-z0-9]+", "-", f"{self.section} {self.label}".lower()).strip("-")[:60]
        digest = hashlib.sha1(f"{self.section}\x00{self.label}".encode()).hexdigest()[:8]
        return f"runs-{words}-{digest}"

    @property
    def title(self) -> str:
        return f"{self.section}: {self.label}"

    def runs(self) -> pl.LazyFrame:
        """run_id of each distinct run behind the number (rows without a run, such as a request made outside
        any run, are left out here and counted by ``without_run``)."""
        return self.rows.filter(pl.col("run_id").is_not_null()).select("run_id").unique()

    def run_ids(self) -> list[str]:
        return self.runs().sort("run_id").collect()["run_id"].to_list()

    def without_run(self) -> int:
        return self.rows.filter(pl.col("run_id").is_null()).select(pl.len()).collect().item()


def _matches(keys: Iterable[str], row: Mapping) -> pl.Expr:
    parts = [pl.col(k).eq_missing(row[k]) for k in keys]
    return pl.all_horizontal(parts) if parts else pl.lit(True)


@dataclass(frozen=True)
class Counted:
    """Where one table's counts come from. ``counts`` maps a count column to the predicate over ``rows`` that
    picks what it counts (``None``: every row of the group). A table made by grouping ``rows`` by ``keys`` and
    counting each predicate then has, in every cell, exactly ``behind(row, column).count`` rows behind it."""

    section: str
    rows: pl.LazyFrame = field(repr=False)
    keys: tuple[str, ...]
    counts: Mapping[str, pl.Expr | None]
    distinct: tuple[str, ...] = ()  # count columns that count distinct runs among their rows, not rows

    def behind(self, row: Mapping, column: str) -> RunsBehind:
        """The rows behind one cell of the table (``row``: its values by column, keys included)."""
        predicate = self.counts[column]
        chosen = self.rows.filter(_matches(self.keys, row))
        if predicate is not None:
            chosen = chosen.filter(predicate)
        where = " · ".join("–" if row[k] is None else str(row[k]) for k in self.keys)
        label = f"{where} · {column.replace('_', ' ')}" if where else column.replace("_", " ")
        return RunsBehind(self.section, label, int(row[column] or 0), chosen, self, tuple(row[k] for k in self.keys),
                          column)

    def cell_runs(self, column: str, cells: pl.DataFrame) -> pl.LazyFrame:
        """(_set, run_id) of the rows behind many cells of one count column at once; ``cells`` holds the keys
        and ``_set``, one row per cell."""
        predicate = self.counts[column]
        rows = self.rows if predicate is None else self.rows.filter(predicate)
        if not self.keys:
            return rows.select("run_id").join(cells.lazy().select("_set"), how="cross")
        return rows.select(*self.keys, "run_id").join(cells.lazy(), on=list(self.keys), how="inner",
                                                     nulls_equal=True).select("_set", "run_id")

    def all_behind(self, frame: pl.DataFrame) -> list[RunsBehind]:
        """A set for every non-zero count of ``frame`` (a table of this source), row by row."""
        columns = [c for c in self.counts if c in frame.columns]
        return [self.behind(row, c) for row in frame.iter_rows(named=True) for c in columns if row[c]]

    def links(self, frame: pl.DataFrame) -> dict[tuple[int, str], str]:
        """(row index, column) -> anchor of the set behind it, for ``rendering.table(links=...)``."""
        columns = [c for c in self.counts if c in frame.columns]
        return {(i, c): self.behind(row, c).anchor for i, row in enumerate(frame.iter_rows(named=True))
                for c in columns if row[c]}

    def totals(self) -> pl.DataFrame:
        """The table this source counts (one row per key, a column per count), for checks and simple tables."""
        def agg(column: str, predicate: pl.Expr | None) -> pl.Expr:
            if column in self.distinct:
                ids = pl.col("run_id") if predicate is None else pl.col("run_id").filter(predicate)
                return ids.drop_nulls().n_unique()
            return pl.len() if predicate is None else predicate.sum()

        aggs = [agg(c, p).alias(c) for c, p in self.counts.items()]
        if not self.keys:
            return self.rows.select(aggs).collect()
        return self.rows.group_by(list(self.keys)).agg(aggs).sort(list(self.keys), nulls_last=True).collect()


def count_link(count: int | None, sets: RunsBehind | None) -> str:
    """A count as an anchor to the appendix entry listing its runs (plain text when it counts nothing)."""
    text = "–" if count is None else f"{count:,}"
    if sets is None or not count:
        return text
    return f"<a class='agentops-count' href='#{esc(sets.anchor)}'>{text}</a>"


APPENDIX_CSS = """<style>
.agentops-appendix section { border-top: 1px solid #ddd; margin-top: 12px; padding-top: 4px; }
.agentops-appendix section:target { background: #fffbe6; }
a.agentops-count { font-weight: 600; text-decoration: underline dotted; }
</style>"""


def unique_sets(sets: Iterable[RunsBehind]) -> list[RunsBehind]:
    """The sets in order, once each (a number shown twice, as a card and in a table, has one entry)."""
    seen: dict[str, RunsBehind] = {}
    for s in sets:
        seen.setdefault(s.anchor, s)
    return list(seen.values())


def _set_runs(sets: list[RunsBehind]) -> list[pl.LazyFrame]:
    """(_set, run_id) of every set: one query per table column for the sets a Counted made, one per set else."""
    groups: dict[tuple[int, str], list[int]] = {}
    parts = []
    for i, s in enumerate(sets):
        if s.origin is None:
            parts.append(s.rows.select(pl.lit(i, pl.Int32).alias("_set"), "run_id"))
        else:
            groups.setdefault((id(s.origin), s.column), []).append(i)
    for members in groups.values():
        first = sets[members[0]]
        assert first.origin is not None
        keys = first.origin.keys
        cells = pl.DataFrame([dict(zip(keys, sets[i].cell, strict=True)) for i in members],
                             schema=first.origin.rows.select(keys).collect_schema() if keys else None)
        cells = cells.with_columns(pl.Series("_set", members, pl.Int32)) if keys else pl.DataFrame(
            {"_set": pl.Series(members, dtype=pl.Int32)})
        parts.append(first.origin.cell_runs(first.column, cells).select(pl.col("_set").cast(pl.Int32), "run_id"))
    return parts


def _latest_of_sets(wanted: pl.LazyFrame, runs: pl.LazyFrame, max_rows: int):
    """For the (_set, run_id) rows of one table column: the ``max_rows`` latest distinct runs of each set,
    how many distinct runs each set has, and its rows without a run. The distinct (set, run) pairs, millions
    for a table of steps, are held as two integers each: the runs are numbered first, in run id order (so
    that the number breaks ties of start time as the run id does), and the rows are read twice, one after
    the other, never side by side."""
    ids = (wanted.select("run_id").filter(pl.col("run_id").is_not_null()).unique().sort("run_id")
           .collect().get_column("run_id"))
    numbers = ids.to_frame().with_row_index("_run").lazy()
    grouped = wanted.join(numbers, on="run_id", how="left").group_by("_set", "_run").len().collect()
    gaps = grouped.filter(pl.col("_run").is_null()).select("_set", "len")
    pairs = grouped.filter(pl.col("_run").is_not_null()).select("_set", "_run")
    starts = (runs.select("run_id", "started_at").join(numbers, on="run_id", how="inner")
              .select("_run", "started_at").collect())
    latest = (pairs.join(starts, on="_run", how="left")
              .sort(["_set", "started_at", "_run"], descending=[False, True, False], nulls_last=True)
              .group_by("_set", maintain_order=True).head(max_rows).select("_set", "_run"))
    listed = latest.with_columns(ids.gather(latest["_run"]).alias("run_id")).drop("_run")
    return listed, dict(pairs.group_by("_set").len().iter_rows()), dict(gaps.iter_rows())


def appendix_frames(sets: list[RunsBehind], runs: pl.LazyFrame,
                    max_rows: int = APPENDIX_ROWS) -> dict[str, tuple[pl.DataFrame, int, int]]:
    """anchor -> (the key facts of the ``max_rows`` latest runs behind that set, how many runs it has, its rows
    without a run), all sets in one query."""
    if not sets:
        return {}
    names = runs.collect_schema().names()
    facts = runs.select([c for c in FACTS if c in names])
    found, size, without = [], {}, {}
    # one query per table column: its sets' runs are held at once, never those of the whole review
    for wanted in _set_runs(sets):
        listed, counted, gaps = _latest_of_sets(wanted, runs, max_rows)
        found.append(listed)
        size.update(counted)
        without.update(gaps)
    chosen = pl.concat(found, how="vertical_relaxed")
    listed = (chosen.lazy().join(facts.filter(pl.col("run_id").is_in(chosen["run_id"].unique().implode())),
                                 on="run_id", how="left")
              .sort(["_set", "started_at", "run_id"], descending=[False, True, False], nulls_last=True).collect())
    parts = {key[0]: part.drop("_set") for key, part in listed.partition_by("_set", as_dict=True).items()}
    empty = listed.clear().drop("_set")
    return {s.anchor: (parts.get(i, empty), size.get(i, 0), without.get(i, 0)) for i, s in enumerate(sets)}


def appendix_html(sets: Iterable[RunsBehind], runs: pl.LazyFrame, max_rows: int = APPENDIX_ROWS) -> str:
    """One section per set (its id is the set's anchor): what the number counts, and its runs' key facts."""
    sets = unique_sets(sets)
    if not sets:
        return "<p><i>No number here counts any run.</i></p>"
    frames = appendix_frames(sets, runs, max_rows)
    parts = []
    for s in sets:
        frame, size, missing = frames[s.anchor]
        note = f" ({missing} without a run)" if missing else ""
        if size > frame.height:
            note += (f"; the {frame.height:,} latest are listed — the run inspector opens all of them "
                     "(in the notebook, the count's button)")
        parts.append(f"<section id='{esc(s.anchor)}'><h3>{esc(s.title)} = {s.count:,}</h3>"
                     f"<p>{size:,} run{'s' if size != 1 else ''}{esc(note)}</p>"
                     + table(frame, max_rows=max_rows, height=320) + "</section>")
    return no_math(f"{APPENDIX_CSS}<div class='agentops-appendix'>{''.join(parts)}</div>")
