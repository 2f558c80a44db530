"""One definition of each metric the kit reports, as polars expressions over the runs table.

A metric is a count, aggregated over the runs of a group, or a rate of counts. Every analytic that reports
one (weekly metrics, readiness, error budgets, the inventory's measured facts, shadow agreement) takes it
from here. Where an analytic measures over fewer runs it filters the runs first, in sight, and then applies
the same definition: readiness's ``completion_rate`` is the completion rate of the *active* runs
(``runs.filter(ACTIVE)``), because a shadow run's outcome is the agent's recommendation, not work done;
the inventory's measured rates are those of active runs too.

Rates are null where there is nothing to divide (a week without runs, an agent without successes):
undefined, never 0 and never NaN.

The counts are written once over a namespace: ``pl`` gives the polars expressions every polars caller uses,
``nw`` the narwhals expressions the engines (polars, DuckDB, Spark; see ``engine.py``) run. A count of a
condition casts it to an integer before summing (Spark cannot sum a boolean). Rates are taken in polars over
the collected counts.
"""

from __future__ import annotations

import narwhals as nw
import polars as pl

from ..model import Mode, Outcome
from .common import truthy_label

DIMENSIONS = ("agent", "workflow", "mode", "week", "day", "model")  # what the metrics can be grouped by
CUSTOMER_IMPACT = "customer_impact"  # the label naming a run that hurt a customer (from incident reviews)
ACTIVE = pl.col("mode") == Mode.ACTIVE  # the runs whose outcome is work done (shadow runs only recommend)
# the runs the production numbers count: every run but the red-team exercises (scored apart, in redteam.py)
PRODUCTION = pl.col("mode").ne_missing(Mode.RED_TEAM)


def outcome_is(outcome: Outcome, ns=pl):
    return ns.col("outcome") == outcome.value


def active(ns=pl):
    """The runs whose outcome is work done, in namespace ``ns`` (``ACTIVE`` is the polars one)."""
    return ns.col("mode") == Mode.ACTIVE.value


def production(ns=pl):
    """Every run but the red-team exercises, in namespace ``ns`` (``PRODUCTION`` is the polars one)."""
    return ns.col("mode").is_null() | (ns.col("mode") != Mode.RED_TEAM.value)


def _counts(ns) -> dict:
    """Counts over the runs of a group. customer_impact_errors reads the per-run flag ``_impact`` (see
    impacted_runs)."""
    def number(condition):  # of the runs meeting a condition
        return condition.cast(ns.Int64).sum()

    return {
        "runs": ns.len(),
        "successes": number(outcome_is(Outcome.SUCCESS, ns)),
        "escalations": number(outcome_is(Outcome.ESCALATED, ns)),
        "failures": number(outcome_is(Outcome.FAILURE, ns)),
        "unknown": number(outcome_is(Outcome.UNKNOWN, ns)),
        "cost_usd": ns.col("cost_usd").sum(),  # the costs that are known (0 when none is: see engine_counts)
        "cost_unknown_runs": number(ns.col("cost_usd").is_null()),
        "customer_impact_errors": number(ns.col("_impact")),
    }


COUNTS: dict[str, pl.Expr] = _counts(pl)
ENGINE_COUNTS: dict[str, nw.Expr] = _counts(nw)


# The runs each count above counts, as a predicate over the same runs (None: all of them); the runs behind a
# count in the report and the notebooks are these (runs_behind.py). COUNTS[n] equals RUNS_COUNTED[n].sum()
# (pl.len() for None) over any group: tests/test_runs_behind.py holds them to it.
RUNS_COUNTED: dict[str, pl.Expr | None] = {
    "runs": None,
    "successes": outcome_is(Outcome.SUCCESS),
    "escalations": outcome_is(Outcome.ESCALATED),
    "failures": outcome_is(Outcome.FAILURE),
    "unknown": outcome_is(Outcome.UNKNOWN),
    "cost_unknown_runs": pl.col("cost_usd").is_null(),
    "customer_impact_errors": pl.col("_impact"),
}


def share(part: str, whole: str = "runs") -> pl.Expr:
    """part / whole, null when whole is 0."""
    return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))


# Rates over the counts above.
RATES: dict[str, pl.Expr] = {
    "completion_rate": share("successes"),
    "escalation_rate": share("escalations"),
    "customer_impact_rate": share("customer_impact_errors"),
    # *all* cost (failed and escalated runs included) / successes; unknown when any run's cost is unknown
    "cost_per_successful_run": pl.when((pl.col("successes") > 0) & (pl.col("cost_unknown_runs") == 0))
    .then(pl.col("cost_usd") / pl.col("successes")),
    # the same over the known costs only: a lower bound
    "cost_known_per_successful_run": pl.when((pl.col("successes") > 0) & (pl.col("cost_unknown_runs") < pl.col("runs")))
    .then(pl.col("cost_usd") / pl.col("successes")),
    # all cost / the successful runs that met every quality floor of their scope (``quality_successes``,
    # counted by quality.py from the quality labels); unknown when any run's cost is unknown
    "cost_per_quality_success": pl.when((pl.col("quality_successes") > 0) & (pl.col("cost_unknown_runs") == 0))
    .then(pl.col("cost_usd") / pl.col("quality_successes")),
}


def counts(*names: str) -> list[pl.Expr]:
    """Aggregations of the named counts (inside a ``group_by(...).agg`` or a ``select``)."""
    return [COUNTS[n].alias(n) for n in names]


def engine_counts(*names: str) -> list[nw.Expr]:
    """The named counts as narwhals aggregations, for any engine; ``conform_counts`` fixes their types after."""
    return [ENGINE_COUNTS[n].alias(n) for n in names]


def conform_counts(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """Counts collected from any engine in polars' types: integers as Int64 (DuckDB gives decimals, Spark
    longs), and a sum over no known value as 0, as polars sums (SQL engines give null)."""
    present = [n for n in dict.fromkeys(names) if n in frame.columns]
    return frame.with_columns(
        pl.col(n).fill_null(0.0).cast(pl.Float64) if n == "cost_usd" else pl.col(n).fill_null(0).cast(pl.Int64)
        for n in present)


def rates(*names: str) -> list[pl.Expr]:
    """The named rates, over columns holding the counts they divide."""
    return [RATES[n].alias(n) for n in names]


def measure(runs: pl.DataFrame | pl.LazyFrame, *names: str) -> dict:
    """The named counts and rates over all of ``runs`` (one group), as Python values."""
    needed = {n for n in names if n in COUNTS} | {c for n in names if n in RATES for c in _inputs(n)}
    row = (runs.lazy().select(counts(*[n for n in COUNTS if n in needed]))
           .with_columns(rates(*[n for n in names if n in RATES])).collect().row(0, named=True))
    return {n: row[n] for n in names}


def _inputs(rate: str) -> set[str]:
    return set(RATES[rate].meta.root_names()) & set(COUNTS)


def impacted_runs(labels: pl.LazyFrame) -> pl.LazyFrame:
    """run_id of every run labelled customer_impact = true by the true/false rule of ``labels.py`` (a run labelled
    both ways counts as true, and is listed in ``ts.label_problems``)."""
    return truthy_label(labels, CUSTOMER_IMPACT)


def agreement() -> pl.Expr:
    """Shadow agreement: the share of compared shadow runs where the agent's recommendation equals the human
    decision (over a column ``agree``; null when nothing was compared)."""
    return pl.col("agree").mean()
