"""Weekly metrics: the five questions of the weekly review, per agent / workflow / mode / week / day / model.

Definitions (all over the runs of the group; the counts and rates are those of ``definitions.py``):

- ``completion_rate`` = successes / runs; ``escalation_rate`` = escalations / runs (runs of unknown
  outcome stay in the denominator and are counted in ``unknown``).
- ``cost_usd`` = sum of the costs that are known; ``cost_unknown_runs`` = runs whose cost is unknown.
- ``cost_per_successful_run`` = *all* cost (failed and escalated runs included) / successes; null when
  there is no success (undefined, not 0 or ∞) or when any run's cost is unknown.
  ``cost_known_per_successful_run`` is the same over the known costs only (a lower bound).
- ``customer_impact_errors`` = runs labelled ``customer_impact`` = true; ``customer_impact_rate`` = / runs.
- ``p50_duration_s`` / ``p95_duration_s``: linear-interpolated quantiles of run duration.
- ``tool_calls_per_run`` = mean tool (and action) calls per run.
- ``time_saved_hours`` (active runs only; shadow runs save nothing) =
  (successes × human_minutes_per_run − approvals × review_minutes_per_approval
   − escalations × minutes_per_escalation) / 60, with the baseline per workflow (see ``baseline.py``);
  null for a workflow without a baseline.
- weeks are ISO weeks in UTC (``2026-W47``); with ``week`` in ``by``, weeks without runs are present with
  0 runs, and ``<metric>_wow`` columns hold the change from the previous week of the same group.

``weekly_metrics`` returns the frame (what the CLI, the report and most code want); ``MetricsResult.compute``
takes the same arguments and wraps the frame in the face every result shows (``results.py``): ``to_polars``,
``to_dict``, rendering in Jupyter, ``figure`` and ``write_html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import narwhals as nw
import polars as pl

from ..charts import metrics_bars, metrics_trend
from ..errors import UsageError
from ..model import Outcome
from ..rendering import esc, table
from ..results import Result, records
from ..weeks import week_range
from .baseline import Baselines, load_baselines
from .common import engine_primary_model
from .definitions import DIMENSIONS, active, conform_counts, engine_counts, impacted_runs, outcome_is, production, rates
from .engine import get_engine
from .time_keys import day_key, key_date, key_week, week_key

BASELINE_CHOICES = 16  # up to this many workflows, a run's baseline is a choice among them; beyond, a join
COUNTS = ("runs", "successes", "escalations", "failures", "unknown", "cost_unknown_runs", "customer_impact_errors",
          "approvals")
WOW = ("runs", "completion_rate", "escalation_rate", "cost_per_successful_run", "customer_impact_rate",
       "time_saved_hours", "p95_duration_s")


def _keyed_runs(eng, ts, by: Sequence[str]):
    """The production runs on the engine, with their week and day keys (and primary model, grouped by it)."""
    t = eng.tables(ts)
    runs = t.runs.filter(production(nw)).with_columns(week_key(engine=eng.name).alias("week"),
                                                     day_key(engine=eng.name).alias("day"))
    if "model" in by:
        runs = runs.join(engine_primary_model(t.steps), on="run_id", how="left").with_columns(
            nw.col("model").fill_null("none"))
    return runs


def _runs_with_facts(eng, ts, by: Sequence[str]):
    """The keyed runs with their customer-impact flag and approvals."""
    t = eng.tables(ts)
    approvals = t.steps.filter(nw.col("kind") == "approval").group_by("run_id").agg(nw.len().alias("_approvals"))
    runs = _keyed_runs(eng, ts, by).join(approvals, on="run_id", how="left")
    if eng.name == "polars":  # a lookup in the few impacted ids costs less than a join of every run
        impacted = impacted_runs(ts.labels).collect().get_column("run_id").to_list()
        runs = runs.with_columns(nw.col("run_id").is_in(impacted).alias("_impact"))
    else:
        impact = eng.frame(impacted_runs(ts.labels).with_columns(pl.lit(True).alias("_impact")))
        runs = runs.join(impact, on="run_id", how="left")
    return runs.with_columns(nw.col("_impact").fill_null(False), nw.col("_approvals").fill_null(0))


def weekly_metrics(ts, by: Sequence[str] = ("agent", "week"), baselines: Baselines | str | None = None,
                   quality=None, engine=None) -> pl.DataFrame:
    """The weekly review's numbers, one row per group of ``by`` (see the module docstring); red-team runs are
    left out. ``quality``: a quality YAML file (or QualityConfig) adding its metrics (see ``quality.py``).
    ``engine``: where the aggregation runs — ``"polars"`` (default), ``"duckdb"``, ``"spark"``, a DuckDB
    connection or a SparkSession (see ``engine.py``); the frame returned is polars on every engine.

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> m = ak.weekly_metrics(ts, by=("agent", "week"), baselines="templates/baselines.yaml")
        >>> m.filter(m["week"] == "2026-W47").select("agent", "runs").sort("agent").rows()
        [('InvoiceCategorizer', 32), ('SocAlertTriage', 24), ('SupportRefundAgent', 36)]
    """
    by = [by] if isinstance(by, str) else list(by)
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise UsageError(f"cannot group by {unknown}: choose from {', '.join(DIMENSIONS)}")
    eng = get_engine(engine)
    base = load_baselines(baselines)
    base.require_runs(ts)
    # by week on polars, a store is aggregated one week partition at a time: each run is in the partition of its
    # week, so the groups are the same, and memory is that of one week, not of the whole store
    parts = ts.week_parts() if eng.name == "polars" and "week" in by else [ts]
    agg = pl.concat([_aggregate(eng, part, by, base) for part in parts], how="vertical_relaxed")
    agg = conform_counts(agg, "cost_usd", *COUNTS, *FORMULA_COUNTS).with_columns(  # signed: week-over-week can go down
        pl.col("p50_duration_s", "p95_duration_s", "tool_calls_per_run", "_saved", "_human_min", "_review_min",
               "_escalation_min").cast(pl.Float64),
        (pl.col("_no_baseline") > 0).alias("_no_baseline"))
    agg = agg.with_columns(pl.when(pl.col("_no_baseline")).then(None).otherwise(pl.col("_saved") / 60)
                           .alias("time_saved_hours")).drop("_saved")
    agg = agg.with_columns(_formula().alias("time_saved_formula")).drop(FORMULA_PARTS)
    if "week" in by:
        agg = agg.with_columns(key_week(pl.col("week")).alias("week"))
    if "day" in by:
        agg = agg.with_columns(key_date(pl.col("day")).alias("day"))
    if "week" in by:
        agg = _fill_weeks(agg, by)
    out = agg.with_columns(  # a week without runs has no rate
        *rates("completion_rate", "escalation_rate", "customer_impact_rate", "cost_per_successful_run",
               "cost_known_per_successful_run"),
    ).sort(by)
    quality_wow: list[str] = []
    if quality is not None:
        from .quality import with_quality

        out, quality_wow = with_quality(out, ts, quality, by)
    if "week" in by:
        others = [d for d in by if d != "week"]
        out = out.with_columns(
            (pl.col(m) - pl.col(m).shift(1).over(others or pl.lit(1), order_by="week")).alias(f"{m}_wow")
            for m in (*WOW, *quality_wow))
    first = [*by, "runs", "successes", "escalations", "failures", "unknown", "completion_rate", "escalation_rate",
             "cost_usd", "cost_unknown_runs", "cost_per_successful_run", "cost_known_per_successful_run",
             "customer_impact_errors", "customer_impact_rate", "p50_duration_s", "p95_duration_s",
             "tool_calls_per_run", "approvals", "time_saved_hours", "time_saved_formula"]
    return out.select(first + [c for c in out.columns if c not in first])


def _aggregate(eng, ts, by: list[str], base: Baselines) -> pl.DataFrame:
    """The counts, sums and quantiles of each group of ``by`` over the runs of ``ts``, collected from the engine.
    On polars the quantiles are taken apart, over the runs alone: they need no per-run fact, and the streaming
    engine aggregates the counts over the joined runs without holding them when no quantile is asked of it."""
    runs = _runs_with_facts(eng, ts, by)
    if len(base.workflows) <= BASELINE_CHOICES:
        runs = runs.with_columns(*base.columns())
    else:  # an inventory's hundreds of workflows: one join, not a choice among them per run
        runs = runs.join(eng.frame(base.frame()), on="workflow", how="left")
    act = active(nw)
    success, escalated = act & outcome_is(Outcome.SUCCESS, nw), act & outcome_is(Outcome.ESCALATED, nw)
    saved_minutes = (
        nw.when(success).then(nw.col("human_minutes_per_run")).otherwise(0.0)
        - nw.when(act).then(nw.col("_approvals") * nw.col("review_minutes_per_approval")).otherwise(0.0)
        - nw.when(escalated).then(nw.col("minutes_per_escalation")).otherwise(0.0)
    )
    runs = runs.with_columns(saved_minutes.alias("_saved"), success.alias("_success"), escalated.alias("_escalated"),
                             nw.when(act).then(nw.col("_approvals")).otherwise(0).alias("_active_approvals"),
                             nw.col("human_minutes_per_run").is_null().alias("_unbased"))
    quantiles = [nw.col("duration_s").quantile(0.5, interpolation="linear").alias("p50_duration_s"),
                 nw.col("duration_s").quantile(0.95, interpolation="linear").alias("p95_duration_s")]
    apart = eng.name == "polars"  # DuckDB and Spark take them in the same scan
    sums = eng.collect(runs.group_by(by).agg(
        *engine_counts("runs", "successes", "escalations", "failures", "unknown", "cost_usd", "cost_unknown_runs",
                       "customer_impact_errors"),
        nw.col("tool_calls").mean().alias("tool_calls_per_run"),
        nw.col("_saved").sum().alias("_saved"),
        nw.col("_active_approvals").sum().alias("approvals"),
        *_formula_parts(),
        *([] if apart else quantiles),
    ))
    if not apart:
        return sums
    return sums.join(eng.collect(_keyed_runs(eng, ts, by).group_by(by).agg(*quantiles)), on=by, how="left",
                     nulls_equal=True)


@dataclass
class MetricsResult(Result):
    """The weekly metrics of ``weekly_metrics``, with the face of every result."""

    frame: pl.DataFrame
    by: tuple[str, ...]
    title = "Weekly metrics"

    @classmethod
    def compute(cls, ts, by: Sequence[str] = ("agent", "week"), baselines: Baselines | str | None = None,
                quality=None, engine=None) -> MetricsResult:
        by = (by,) if isinstance(by, str) else tuple(by)
        return cls(weekly_metrics(ts, by=by, baselines=baselines, quality=quality, engine=engine), by)

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def to_dict(self) -> dict:
        return {"title": self.title, "by": list(self.by), "rows": records(self.frame)}

    def html(self) -> str:
        runs = int(self.frame["runs"].sum())
        lead = f"<p class='agentops-lead'>{runs} runs in {self.frame.height} groups of {esc(', '.join(self.by))}</p>"
        return lead + table(self.frame, max_rows=500)

    def figure(self):
        return metrics_trend(self.frame, list(self.by)) if "week" in self.by else metrics_bars(self.frame, list(self.by))


FORMULA_PARTS = ("_no_baseline", "_workflows", "_active_successes", "_human_min", "_review_min",
                 "_active_escalations", "_escalation_min")
FORMULA_COUNTS = ("approvals", "_workflows", "_active_successes", "_active_escalations")


def _formula_parts() -> list[nw.Expr]:
    """The numbers of the time-saved formula, aggregated with the rest (the text is made per group after).
    The baseline minutes are shown only for a group of one workflow, where they are one value: max is it."""
    return [
        nw.col("_unbased").cast(nw.Int64).max().alias("_no_baseline"),
        nw.col("workflow").n_unique().alias("_workflows"),
        nw.col("_success").cast(nw.Int64).sum().alias("_active_successes"),
        nw.col("human_minutes_per_run").max().alias("_human_min"),
        nw.col("review_minutes_per_approval").max().alias("_review_min"),
        nw.col("_escalated").cast(nw.Int64).sum().alias("_active_escalations"),
        nw.col("minutes_per_escalation").max().alias("_escalation_min"),
    ]


def _formula() -> pl.Expr:
    """The time-saved arithmetic of a group, with its numbers when the group is one workflow."""
    numbers = pl.format(
        "({} successes × {} min − {} approvals × {} min − {} escalations × {} min) / 60",
        "_active_successes", "_human_min", "approvals", "_review_min", "_active_escalations", "_escalation_min")
    return (pl.when(pl.col("_no_baseline")).then(pl.lit("no human baseline for this workflow"))
            .when(pl.col("_workflows") == 1).then(numbers)
            .otherwise(pl.lit("Σ per workflow (successes × human min − approvals × review min − escalations × "
                              "escalation min) / 60, active runs")))


def _fill_weeks(agg: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Add rows with 0 runs for weeks inside the range that a group has no run in."""
    weeks = pl.DataFrame({"week": week_range(agg["week"].drop_nulls().unique().to_list())})
    others = [d for d in by if d != "week"]
    grid = agg.select(others).unique().join(weeks, how="cross") if others else weeks
    filled = grid.join(agg, on=[*others, "week"], how="left")
    return filled.with_columns(pl.col(c).fill_null(0) for c in COUNTS).with_columns(
        pl.when(pl.col("runs") == 0).then(0.0).otherwise(pl.col("cost_usd")).alias("cost_usd"),
        pl.when(pl.col("runs") == 0).then(0.0).otherwise(pl.col("time_saved_hours")).alias("time_saved_hours"))
