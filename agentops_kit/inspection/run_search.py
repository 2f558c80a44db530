"""Finding runs: a query of filters over ``ts.runs`` (and the steps behind them), sorted and paged lazily,
so that a large store is scanned, never loaded, and a page holds only the rows it shows."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, replace

import polars as pl

from ..analytics.definitions import impacted_runs
from ..errors import UsageError
from .order_select import Order, ids_at

MIN_ID_PREFIX = 8
ENGINE = "streaming"  # over a store: sorted, counted and paged in bounded memory, never loaded whole
SORTABLE = {
    "started_at": "started", "duration_s": "duration", "cost_usd": "cost", "tokens": "tokens",
    "agent": "agent", "workflow": "workflow", "outcome": "outcome", "llm_calls": "LLM calls",
    "tool_calls": "tool calls", "run_id": "run id", "mode": "mode", "error_type": "error type",
}
PAGE_COLUMNS = ("run_id", "started_at", "agent", "workflow", "mode", "outcome", "error_type", "duration_s",
                "cost_usd", "cost_source", "tokens", "llm_calls", "tool_calls")


@dataclass(frozen=True)
class RunQuery:
    """Every field left None (or False) does not filter. Dates are UTC days, both ends included."""
    agent: str | None = None
    workflow: str | None = None
    outcome: str | None = None
    mode: str | None = None
    started_from: dt.date | None = None
    started_to: dt.date | None = None
    tool: str | None = None
    error_type: str | None = None
    cost_min: float | None = None
    cost_max: float | None = None
    duration_min: float | None = None
    duration_max: float | None = None
    text: str | None = None  # searched in step inputs, outputs and errors, and the run's error type
    id_prefix: str | None = None
    violations_only: bool = False
    impact_only: bool = False
    run_ids: frozenset[str] | None = None  # exactly these runs (the runs behind a number), named by run_ids_label
    run_ids_label: str | None = None
    sort_by: str = "started_at"
    descending: bool = True

    def changed(self, **fields) -> RunQuery:
        return replace(self, **fields)

    def active(self) -> list[str]:
        """The filters in force, in words (for "hidden by your filters" messages)."""
        words = []
        for name in ("agent", "workflow", "outcome", "mode", "tool", "error_type", "text", "id_prefix"):
            value = getattr(self, name)
            if value:
                words.append(f"{name.replace('_', ' ')} {value!r}")
        for low, high, what in ((self.started_from, self.started_to, "started"),
                                (self.cost_min, self.cost_max, "cost"),
                                (self.duration_min, self.duration_max, "duration")):
            if low is not None or high is not None:
                words.append(f"{what} {'' if low is None else low}..{'' if high is None else high}")
        if self.violations_only:
            words.append("policy violation")
        if self.impact_only:
            words.append("customer impact")
        if self.run_ids is not None:
            words.append(f"the {len(self.run_ids):,} runs behind {self.run_ids_label or 'a number'}")
        return words


@dataclass(frozen=True)
class RunPage:
    rows: pl.DataFrame
    matching: int  # runs that match the query
    total: int  # runs in the trace set
    page: int  # 1-based
    pages: int
    size: int
    unknown_cost_left_out: int = 0  # runs of unknown cost a cost range could not place (counted, not hidden)

    @property
    def first(self) -> int:
        return 0 if not self.matching else (self.page - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.page * self.size, self.matching)

    def summary(self) -> str:
        head = f"{self.matching:,} of {self.total:,} runs match"
        if self.matching:
            head += f" · showing {self.first:,}–{self.last:,} · page {self.page} of {self.pages}"
        if self.unknown_cost_left_out:
            head += (f" · {self.unknown_cost_left_out:,} run{'s' if self.unknown_cost_left_out != 1 else ''} of "
                     "unknown cost left out by the cost range")
        return head


@dataclass(frozen=True)
class FilterOptions:
    agents: list[str]
    workflows: list[str]
    outcomes: list[str]
    modes: list[str]
    tools: list[tuple[str, int]]  # (value, runs)
    error_types: list[tuple[str, int]]
    first_day: dt.date | None
    last_day: dt.date | None


def _number(text: str, what: str) -> float | None:
    text = (text or "").strip().lstrip("$").replace(",", "")
    if not text:
        return None
    try:
        value = float(text.removesuffix("s").strip())
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number") from None
    if math.isnan(value) or value < 0:
        raise UsageError(f"{what}: expected a number of 0 or more, got {text!r}")
    return value


def parse_range(low: str, high: str, what: str) -> tuple[float | None, float | None]:
    """(low, high) from two boxes of text; empty means open. UsageError names the box and the problem."""
    lo, hi = _number(low, f"{what} from"), _number(high, f"{what} to")
    if lo is not None and hi is not None and lo > hi:
        raise UsageError(f"{what}: 'from' ({lo:g}) is above 'to' ({hi:g})")
    return lo, hi


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


class RunSearch:
    """Searches one TraceSet. ``violations`` is a policy result's violations frame (run_id column), if any."""

    def __init__(self, ts, violations: pl.DataFrame | pl.LazyFrame | None = None):
        self.ts = ts
        self.violations = None if violations is None else violations.lazy().select("run_id").unique()
        self.impacted = impacted_runs(ts.labels)
        self.runs = ts.runs.with_columns(
            pl.when(pl.col("input_tokens").is_null() & pl.col("output_tokens").is_null()).then(None)
            .otherwise(pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)).alias("tokens"))
        self._total: int | None = None

    @property
    def total(self) -> int:
        if self._total is None:
            self._total = self.runs.select(pl.len()).collect(engine=ENGINE).item()
        return self._total

    def options(self) -> FilterOptions:
        """Values each dropdown can offer, with how many runs each tool and error type touches."""
        runs = self.ts.runs
        distinct = runs.select(pl.col("agent").unique().sort().implode(), pl.col("workflow").unique().sort().implode(),
                               pl.col("outcome").unique().sort().implode(), pl.col("mode").unique().sort().implode(),
                               pl.col("started_at").min().alias("first"), pl.col("started_at").max().alias("last")
                               ).collect(engine=ENGINE).row(0, named=True)
        tools = (self.ts.steps.filter(pl.col("tool_name").is_not_null()).group_by("tool_name")
                 .agg(pl.col("run_id").n_unique().alias("runs")).sort(["runs", "tool_name"], descending=[True, False])
                 .collect(engine=ENGINE))
        errors = (pl.concat([self.ts.steps.select("run_id", pl.col("error").alias("value")),
                             runs.select("run_id", pl.col("error_type").alias("value"))])
                  .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
                  .group_by("value").agg(pl.col("run_id").n_unique().alias("runs"))
                  .sort(["runs", "value"], descending=[True, False]).collect(engine=ENGINE))
        return FilterOptions(
            agents=[a for a in distinct["agent"] if a is not None],
            workflows=[w for w in distinct["workflow"] if w is not None],
            outcomes=[o for o in distinct["outcome"] if o is not None],
            modes=[m for m in distinct["mode"] if m is not None],
            tools=list(tools.iter_rows()), error_types=list(errors.iter_rows()),
            first_day=distinct["first"].date() if distinct["first"] else None,
            last_day=distinct["last"].date() if distinct["last"] else None,
        )

    def _step_hits(self, predicate: pl.Expr) -> pl.LazyFrame:
        return self.ts.steps.filter(predicate).select("run_id").unique()

    def matching(self, q: RunQuery, skip_cost: bool = False) -> pl.LazyFrame:
        """The runs matching ``q`` (lazily, unsorted)."""
        runs = self.runs
        if q.run_ids is not None:
            runs = runs.filter(pl.col("run_id").is_in(sorted(q.run_ids)))
        for column in ("agent", "workflow", "outcome", "mode"):
            value = getattr(q, column)
            if value is not None:
                runs = runs.filter(pl.col(column) == value)
        if q.started_from is not None:
            runs = runs.filter(pl.col("started_at") >= _day_start(q.started_from))
        if q.started_to is not None:
            runs = runs.filter(pl.col("started_at") < _day_start(q.started_to + dt.timedelta(days=1)))
        if not skip_cost:
            if q.cost_min is not None:
                runs = runs.filter(pl.col("cost_usd") >= q.cost_min)
            if q.cost_max is not None:
                runs = runs.filter(pl.col("cost_usd") <= q.cost_max)
        if q.duration_min is not None:
            runs = runs.filter(pl.col("duration_s") >= q.duration_min)
        if q.duration_max is not None:
            runs = runs.filter(pl.col("duration_s") <= q.duration_max)
        if q.id_prefix:
            runs = runs.filter(pl.col("run_id").str.to_lowercase().str.starts_with(q.id_prefix.strip().lower()))
        if q.tool is not None:
            runs = runs.join(self._step_hits(pl.col("tool_name") == q.tool), on="run_id", how="semi")
        if q.error_type is not None:
            hit = self._step_hits(pl.col("error") == q.error_type).with_columns(pl.lit(True).alias("_hit"))
            runs = (runs.join(hit, on="run_id", how="left")
                    .filter(pl.col("_hit").fill_null(False) | (pl.col("error_type") == q.error_type).fill_null(False))
                    .drop("_hit"))
        if q.text and q.text.strip():
            pattern = "(?i)" + re.escape(q.text.strip())
            in_steps = self._step_hits(pl.any_horizontal(pl.col(c).str.contains(pattern).fill_null(False)
                                                         for c in ("input", "output", "error")))
            hit = in_steps.with_columns(pl.lit(True).alias("_hit"))
            runs = (runs.join(hit, on="run_id", how="left")
                    .filter(pl.col("_hit").fill_null(False) | pl.col("error_type").str.contains(pattern).fill_null(False))
                    .drop("_hit"))
        if q.violations_only:
            runs = (runs.join(self.violations, on="run_id", how="semi") if self.violations is not None
                    else runs.filter(pl.lit(False)))
        if q.impact_only:
            runs = runs.join(self.impacted, on="run_id", how="semi")
        return runs

    def sorted(self, q: RunQuery) -> pl.LazyFrame:
        """Every match, in the query's order (lazily; for exporting a selection, not for paging)."""
        columns, descending = _order(q)
        return self.matching(q).sort(columns, descending=descending, nulls_last=True)

    def _ranked(self, q: RunQuery) -> pl.LazyFrame:
        """The matches' sort key and run id only: what a page or a position is decided on. Sorting these two
        columns, never whole rows, is what keeps a page of a store of millions of runs in bounded memory."""
        _order(q)  # an unknown sort column is refused before any scan
        return self.matching(q).select(_null_last(q.sort_by), *dict.fromkeys([q.sort_by, "run_id"]))

    def count(self, q: RunQuery) -> int:
        return self.matching(q).select(pl.len()).collect(engine=ENGINE).item()

    def page(self, q: RunQuery, page: int = 1, size: int = 25) -> RunPage:
        """One page of the sorted matches; a page past the end is the last page."""
        if size < 1:
            raise UsageError(f"page size {size}: expected 1 or more")
        matching = self.count(q)
        pages = max(1, -(-matching // size))
        page = min(max(1, page), pages)
        rows = self._page_rows(q, (page - 1) * size, size, matching)
        unknown = 0
        if q.cost_min is not None or q.cost_max is not None:
            unknown = (self.matching(q, skip_cost=True).filter(pl.col("cost_usd").is_null())
                       .select(pl.len()).collect(engine=ENGINE).item())
        return RunPage(rows, matching, self.total, page, pages, size, unknown)

    def contains(self, q: RunQuery, run_id: str) -> bool:
        """Whether ``q`` matches ``run_id`` (no sort needed)."""
        return bool(self.matching(q).filter(pl.col("run_id") == run_id).select(pl.len()).collect(engine=ENGINE).item())

    def position(self, q: RunQuery, run_id: str) -> int | None:
        """0-based place of ``run_id`` in the sorted matches, or None when the query does not match it: the
        matches that come before it, counted (nothing is sorted)."""
        mine = self._ranked(q).filter(pl.col("run_id") == run_id).collect(engine=ENGINE)
        if not mine.height:
            return None
        flag, key = mine.row(0)[:2]
        null_flag, by = pl.col(_NULL_FLAG), pl.col(q.sort_by)
        key_before = pl.lit(False) if key is None else (by > key) if q.descending else (by < key)
        before = (null_flag < flag) | ((null_flag == flag) & (
            key_before | (by.eq_missing(key) & (pl.col("run_id") < run_id))))
        return self._ranked(q).filter(before).select(pl.len()).collect(engine=ENGINE).item()

    def _page_rows(self, q: RunQuery, offset: int, size: int, matching: int) -> pl.DataFrame:
        """Rows ``offset .. offset + size`` of the sorted matches: their ids are found by narrowing the order
        (``order_select.py``: counts, never a sort of every match), then their rows are fetched by id."""
        size = max(0, min(size, matching - offset))
        if not size:
            return self.matching(q).select(PAGE_COLUMNS).head(0).collect(engine=ENGINE)
        columns, descending = _order(q)
        ids = ids_at(self._ranked(q), Order(_NULL_FLAG, q.sort_by, q.descending), offset, size, matching)
        rows = self.matching(q).filter(pl.col("run_id").is_in(pl.Series(ids, dtype=pl.String).implode()))
        return rows.sort(columns, descending=descending, nulls_last=True).select(PAGE_COLUMNS).collect(engine=ENGINE)

    def ids_starting(self, prefix: str, limit: int = 20) -> list[str]:
        """Run ids (of all runs, whatever the filters) that start with ``prefix``; UsageError if too short."""
        prefix = prefix.strip().lower()
        if len(prefix) < MIN_ID_PREFIX:
            raise UsageError(f"run id {prefix!r}: type at least {MIN_ID_PREFIX} characters of an id, then Enter")
        return (self.ts.runs.filter(pl.col("run_id").str.to_lowercase().str.starts_with(prefix))
                .select("run_id").sort("run_id").head(limit).collect(engine=ENGINE)["run_id"].to_list())


_NULL_FLAG = "_null_key"


def _null_last(column: str) -> pl.Expr:
    """1 where the sort key is unknown: such runs come last in either direction."""
    return pl.col(column).is_null().cast(pl.Int8).alias(_NULL_FLAG)


def _order(q: RunQuery) -> tuple[list[pl.Expr], list[bool]]:
    """The total order of a query's matches: known keys first, then the key (in the query's direction), then
    the run id, ascending: every run has one place."""
    if q.sort_by not in SORTABLE:
        raise UsageError(f"sort by {q.sort_by!r}: expected one of {', '.join(SORTABLE)}")
    return [_null_last(q.sort_by), pl.col(q.sort_by), pl.col("run_id")], [False, q.descending, False]
