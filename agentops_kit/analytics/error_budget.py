"""Error budgets: how many customer-impact errors an agent or workflow may cause over a rolling window.

For each budget in the YAML file, over the ``window_days`` before ``as_of`` (default: the last run):
allowed = max_customer_impact_rate × runs; consumed = errors / allowed; burn_rate = error rate / budget
rate (1.0 spends the budget exactly over the window); at the current daily error rate the budget runs
out ``(allowed − errors) / (errors / window_days)`` days after ``as_of``; breached = errors > allowed.

``error_budget`` returns the frame; ``ErrorBudgetResult.compute`` (same arguments) wraps it in the face of every
result (``results.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import narwhals as nw
import polars as pl
from pydantic import Field, model_validator

from ..charts import error_budget_consumed
from ..config import Strict, load_model
from ..rendering import table
from ..results import Result
from ..scope import require_named
from .definitions import conform_counts, engine_counts, impacted_runs, production, rates
from .engine import get_engine


class Budget(Strict):
    agent: str | None = None
    workflow: str | None = None
    max_customer_impact_rate: float = Field(gt=0, le=1)
    window_days: int = Field(28, gt=0, le=366)

    @model_validator(mode="after")
    def _target(self):
        if (self.agent is None) == (self.workflow is None):
            raise ValueError("a budget names exactly one of 'agent' or 'workflow'")
        return self


class ErrorBudgets(Strict):
    budgets: list[Budget] = Field(default_factory=list)


def load_budgets(source) -> ErrorBudgets:
    if isinstance(source, ErrorBudgets):
        return source
    if isinstance(source, dict):
        return ErrorBudgets.model_validate(source)
    return load_model(Path(source), ErrorBudgets)


def require_budget_names(ts, budgets) -> ErrorBudgets:
    """The budgets, once every agent and workflow they name has runs in the traces loaded (NothingToShow
    naming the entry and what the traces hold otherwise)."""
    what = f"error budget {budgets}" if isinstance(budgets, (str, Path)) else "error budget"
    budgets = load_budgets(budgets)
    entries = list(enumerate(budgets.budgets, start=1))
    require_named(ts, what, agents={b.agent: f"budgets entry {i}" for i, b in entries if b.agent},
                  workflows={b.workflow: f"budgets entry {i}" for i, b in entries if b.workflow})
    return budgets


def error_budget(ts, budgets, as_of: dt.datetime | None = None, engine=None) -> pl.DataFrame:
    """One row per budget: runs and errors in the window, allowed errors, consumed, burn rate, exhaustion date.
    A budget naming an agent or workflow with no run in the traces loaded raises NothingToShow. ``engine``:
    where the windows are counted (``engine.py``: polars by default, DuckDB, Spark).

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> budgets = ak.error_budget(ts, "templates/error_budget.yaml")
        >>> budgets.filter("breached")["target"].to_list()
        ['agent SupportRefundAgent']
    """
    budgets = require_budget_names(ts, budgets)
    eng = get_engine(engine)
    impact = eng.frame(impacted_runs(ts.labels).with_columns(pl.lit(True).alias("_impact")))
    runs = (eng.tables(ts).runs.filter(production(nw)).join(impact, on="run_id", how="left")
            .with_columns(nw.col("_impact").fill_null(False)))
    if as_of is None:
        as_of = eng.collect(runs.select(nw.col("started_at").max()))["started_at"][0] or dt.datetime.now(dt.timezone.utc)
    windows = []
    for i, b in enumerate(budgets.budgets):  # one query for every budget: one pass on a cluster
        start = as_of - dt.timedelta(days=b.window_days)
        scope = nw.col("agent") == b.agent if b.agent else nw.col("workflow") == b.workflow
        window = runs.filter(scope & (nw.col("started_at") > start) & (nw.col("started_at") <= as_of))
        windows.append(window.select(nw.lit(i).cast(nw.Int64).alias("_budget"),
                                     *engine_counts("runs", "customer_impact_errors")))
    counted = conform_counts(eng.collect(nw.concat(windows)), "runs", "customer_impact_errors") if windows else None
    measured = {} if counted is None else {
        r["_budget"]: r for r in counted.with_columns(rates("customer_impact_rate")).iter_rows(named=True)}
    rows = []
    for i, b in enumerate(budgets.budgets):
        start = as_of - dt.timedelta(days=b.window_days)
        m = measured[i]
        n, errors, rate = m["runs"], m["customer_impact_errors"], m["customer_impact_rate"]
        allowed = b.max_customer_impact_rate * n
        daily = errors / b.window_days
        days_left = (allowed - errors) / daily if daily > 0 and allowed > errors else None
        rows.append({
            "target": f"agent {b.agent}" if b.agent else f"workflow {b.workflow}", "window_days": b.window_days,
            "window_start": start, "as_of": as_of, "runs": n, "customer_impact_errors": errors,
            "error_rate": rate, "budget_rate": b.max_customer_impact_rate, "allowed_errors": allowed,
            "consumed": errors / allowed if allowed else None,
            "burn_rate": rate / b.max_customer_impact_rate if rate is not None else None,
            "exhausted_on": (as_of + dt.timedelta(days=days_left)).date() if days_left is not None
            else (as_of.date() if errors > allowed else None),
            "breached": errors > allowed,
        })
    return pl.DataFrame(rows, schema={
        "target": pl.String, "window_days": pl.Int64, "window_start": pl.Datetime("us", "UTC"),
        "as_of": pl.Datetime("us", "UTC"), "runs": pl.Int64, "customer_impact_errors": pl.Int64,
        "error_rate": pl.Float64, "budget_rate": pl.Float64, "allowed_errors": pl.Float64, "consumed": pl.Float64,
        "burn_rate": pl.Float64, "exhausted_on": pl.Date, "breached": pl.Boolean})


@dataclass
class ErrorBudgetResult(Result):
    """The rows of ``error_budget``, with the face of every result."""

    frame: pl.DataFrame
    title = "Error budgets"

    @classmethod
    def compute(cls, ts, budgets, as_of: dt.datetime | None = None, engine=None) -> ErrorBudgetResult:
        return cls(error_budget(ts, budgets, as_of=as_of, engine=engine))

    @property
    def breached(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("breached"))

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def html(self) -> str:
        lead = f"<p class='agentops-lead'>{self.frame.height} budgets, {self.breached.height} breached</p>"
        return lead + table(self.frame, max_rows=500)

    def figure(self):
        return error_budget_consumed(self.frame)
