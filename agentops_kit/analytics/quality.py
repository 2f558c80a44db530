"""Quality metrics from labels, each with a floor or a ceiling (``templates/quality.yaml``).

A metric reads one label of the runs of one agent or one workflow:

- ``mean``  — the mean of a numeric label (CSAT 1–5, a grader's score);
- ``rate``  — the share of labelled runs whose label is true (re-contact within 7 days, reopened);
- ``share`` — the share of labelled runs whose label is one of ``values`` (reconciliation ``match``).

Runs in scope without the label (or with a value that cannot be read as the kind asks: ``great`` for a
mean) are *unknown*: they are left out of the value and counted beside it, never read as 0 or false.
A run met the quality bar when its own label is on the right side: for a mean, its value ≥ floor
(≤ ceiling); for a rate or share, the label is true / one of ``values`` under a floor, and not under a
ceiling. ``cost_per_quality_success`` = all cost of the group / successful runs that met every quality
metric in their scope (the runs whose quality is unknown are counted in ``quality_unknown_successes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from ..config import Strict, load_model
from ..errors import UsageError
from ..labels import truth
from ..model import Outcome, Verdict
from ..rendering import table
from ..results import Result, records
from ..scope import require_named
from ..weeks import week_number, week_text
from .common import primary_model
from .definitions import DIMENSIONS, PRODUCTION, outcome_is, rates

STANDARD_COLUMNS = {
    "agent", "workflow", "mode", "week", "day", "model", "runs", "successes", "escalations", "failures", "unknown",
    "completion_rate", "escalation_rate", "cost_usd", "cost_unknown_runs", "cost_per_successful_run",
    "cost_known_per_successful_run", "customer_impact_errors", "customer_impact_rate", "p50_duration_s",
    "p95_duration_s", "tool_calls_per_run", "approvals", "time_saved_hours", "time_saved_formula",
    "quality_successes", "quality_unknown_successes", "cost_per_quality_success"}


class QualityMetric(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="column name in weekly_metrics")
    kind: Literal["mean", "rate", "share"]
    label: str = Field(min_length=1)
    agent: str | None = None
    workflow: str | None = None
    floor: float | None = None
    ceiling: float | None = None
    values: list[str] | None = Field(default=None, min_length=1, description="share: the label values that count")
    owner: str | None = None
    description: str | None = None

    @field_validator("floor", "ceiling")
    @classmethod
    def _finite(cls, value):
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _shape(self):
        if (self.agent is None) == (self.workflow is None):
            raise ValueError("a quality metric names exactly one of 'agent' or 'workflow'")
        if (self.floor is None) == (self.ceiling is None):
            raise ValueError("a quality metric sets exactly one of 'floor' or 'ceiling'")
        bound = self.floor if self.floor is not None else self.ceiling
        if self.kind in ("rate", "share") and not 0 <= bound <= 1:  # type: ignore[operator]  # one is set (above)
            raise ValueError(f"a {self.kind} is a share of runs: its floor or ceiling lies between 0 and 1")
        if (self.kind == "share") != (self.values is not None):
            raise ValueError("'values' is required for a share, and only for a share")
        if self.name in STANDARD_COLUMNS or self.name.endswith(("_wow", "_labelled", "_unknown")):
            raise ValueError(f"'{self.name}' would clash with a column of weekly_metrics: choose another name")
        return self

    @property
    def bound(self) -> str:
        """``>= 4`` for a mean; ``>= 95%`` for a rate or share, in the unit its value is shown in."""
        limit, sign = (self.floor, ">=") if self.floor is not None else (self.ceiling or 0.0, "<=")  # one is set
        return f"{sign} {limit * 100:g}%" if self.kind in ("rate", "share") else f"{sign} {limit:g}"

    @property
    def target(self) -> str:
        return f"agent {self.agent}" if self.agent else f"workflow {self.workflow}"


class QualityConfig(Strict):
    metrics: list[QualityMetric] = Field(min_length=1)

    @field_validator("metrics")
    @classmethod
    def _unique(cls, metrics):
        names = [m.name for m in metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique (one column each): {dupes} appear more than once")
        return metrics

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([{
            "metric": m.name, "kind": m.kind, "label": m.label, "agent": m.agent, "workflow": m.workflow,
            "floor": m.floor, "ceiling": m.ceiling, "bound": m.bound, "target": m.target,
            "values": [v.strip().lower() for v in m.values or []],
        } for m in self.metrics], schema={
            "metric": pl.String, "kind": pl.String, "label": pl.String, "agent": pl.String, "workflow": pl.String,
            "floor": pl.Float64, "ceiling": pl.Float64, "bound": pl.String, "target": pl.String,
            "values": pl.List(pl.String)})


def load_quality(source) -> QualityConfig:
    if isinstance(source, QualityConfig):
        return source
    if isinstance(source, dict):
        return QualityConfig.model_validate(source)
    return load_model(Path(source), QualityConfig)


def require_quality_names(ts, config) -> QualityConfig:
    """The quality metrics, once every agent and workflow they name has runs in the traces loaded: a name
    without runs is most often a typo, and its metric would read "every floor held" (NothingToShow)."""
    config = load_quality(config)
    require_named(ts, "quality metrics", agents={m.agent: f"metric {m.name}" for m in config.metrics if m.agent},
                  workflows={m.workflow: f"metric {m.name}" for m in config.metrics if m.workflow})
    return config


def _with_dimensions(runs: pl.LazyFrame, steps: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    runs = runs.with_columns(week_number().alias("week"), pl.col("started_at").dt.date().alias("day"))
    if "model" in by:
        runs = runs.join(primary_model(steps), on="run_id", how="left").with_columns(pl.col("model").fill_null("none"))
    return runs


def per_run(ts, config: QualityConfig) -> pl.LazyFrame:
    """One row per (run in scope, metric): the run's value (null = unknown), whether it had the label, and
    whether it met the metric's floor or ceiling (null = unknown)."""
    defs = config.frame().lazy()
    runs = ts.runs.filter(PRODUCTION).select("run_id", "agent", "workflow")
    scoped = pl.concat([
        runs.join(defs.filter(pl.col("agent").is_not_null()).drop("workflow"), on="agent"),
        runs.join(defs.filter(pl.col("workflow").is_not_null()).drop("agent"), on="workflow"),
    ], how="diagonal")
    wanted = config.frame().get_column("label").unique().to_list()
    labels = (ts.labels.filter(pl.col("name").is_in(wanted)).group_by("run_id", "name")
              .agg(pl.col("value").last().alias("_raw")))  # the last value wins, as for every label
    joined = scoped.join(labels, left_on=["run_id", "label"], right_on=["run_id", "name"], how="left")
    text = pl.col("_raw").str.strip_chars().str.to_lowercase()
    number = pl.col("_raw").str.strip_chars().cast(pl.Float64, strict=False)
    value = (pl.when(pl.col("kind") == "mean").then(pl.when(number.is_finite()).then(number))
             .when(pl.col("kind") == "rate").then(truth(pl.col("_raw")).cast(pl.Float64))
             .otherwise(pl.col("values").list.contains(text).cast(pl.Float64)))
    value = pl.when(pl.col("_raw").is_not_null()).then(value)
    good = pl.when(pl.col("kind") == "mean").then(
        pl.when(pl.col("floor").is_not_null()).then(pl.col("value") >= pl.col("floor"))
        .otherwise(pl.col("value") <= pl.col("ceiling")))
    good = good.otherwise(pl.when(pl.col("floor").is_not_null()).then(pl.col("value") == 1.0)  # type: ignore[assignment]
                          .otherwise(pl.col("value") == 0.0))
    return (joined.with_columns(value.alias("value"), pl.col("_raw").is_not_null().alias("has_label"))
            .with_columns(good.alias("met")).drop("_raw", "values"))


def run_quality(ts, config: QualityConfig) -> pl.LazyFrame:
    """Per run in scope of any metric: ``quality_met`` true (met every metric of its scope), false (missed
    one), or null (none missed, but at least one is unknown)."""
    return per_run(ts, config).group_by("run_id").agg(
        pl.when((~pl.col("met")).any()).then(pl.lit(False))
        .when(pl.col("met").is_null().any()).then(pl.lit(None, pl.Boolean))
        .otherwise(pl.lit(True)).alias("quality_met"))


def _aggregate(frame: pl.LazyFrame, by: list[str]) -> pl.LazyFrame:
    out = frame.group_by([*by, "metric"]).agg(
        pl.col("kind", "label", "target", "bound", "floor", "ceiling").first(),
        pl.len().alias("runs"),
        pl.col("value").mean().alias("value"),
        pl.col("value").is_not_null().sum().alias("labelled"),
        pl.col("value").is_null().sum().alias("unknown"),
        (pl.col("has_label") & pl.col("value").is_null()).sum().alias("unreadable"),
    )
    breached = (pl.when(pl.col("floor").is_not_null()).then(pl.col("value") < pl.col("floor"))
                .otherwise(pl.col("value") > pl.col("ceiling")))
    return out.with_columns(breached.alias("breached"),
                            *[pl.col(c).cast(pl.Int64) for c in ("runs", "labelled", "unknown", "unreadable")])


@dataclass
class QualityResult(Result):
    """Quality metrics per group: value, labelled and unknown runs, floor or ceiling, breached."""

    frame: pl.DataFrame
    by: list[str]
    title = "Quality metrics"

    def breaches(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("breached"))

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def to_dict(self) -> dict:
        return {"title": self.title, "by": self.by, "metrics": records(self.frame)}

    def html(self) -> str:
        return table(self.frame.drop("floor", "ceiling"), max_rows=200)


def quality_metrics(ts, config, by=("agent", "week"), check_names: bool = True) -> QualityResult:
    """Each quality metric of ``config`` (a quality YAML file, a dict or a QualityConfig) per group of
    ``by`` (agent, workflow, mode, week, day, model), over the production runs in its scope. A metric naming
    an agent or workflow without runs raises NothingToShow (``check_names=False``: the caller checked)."""
    config = require_quality_names(ts, config) if check_names else load_quality(config)
    by = [by] if isinstance(by, str) else list(by)
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise UsageError(f"cannot group by {unknown}: choose from {', '.join(DIMENSIONS)}")
    facts = _with_dimensions(ts.runs, ts.steps, by).select("run_id", *[d for d in by if d not in ("agent", "workflow")])
    rows = per_run(ts, config).join(facts, on="run_id", how="left")
    frame = _aggregate(rows, by).collect()
    if "week" in by:
        frame = frame.with_columns(week_text(pl.col("week")).alias("week"))
        others = [d for d in by if d != "week"]
        frame = frame.sort([*others, "metric", "week"]).with_columns(
            (pl.col("value") - pl.col("value").shift(1).over([*others, "metric"])).alias("value_wow"))
    first = [*by, "metric", "kind", "label", "target", "value", *(["value_wow"] if "week" in by else []), "bound",
             "breached", "labelled", "unknown", "unreadable", "runs", "floor", "ceiling"]
    return QualityResult(frame.select(first).sort([*by, "metric"]), by)


def with_quality(out: pl.DataFrame, ts, config, by: list[str]) -> tuple[pl.DataFrame, list[str]]:
    """``weekly_metrics`` rows with, per quality metric, ``<name>``, ``<name>_labelled`` and ``<name>_unknown``,
    and the cost per successful run that met the quality bar; also the names to give a week-over-week change."""
    config = require_quality_names(ts, config)
    runs = _with_dimensions(ts.runs.filter(PRODUCTION), ts.steps, by)
    rows = per_run(ts, config).join(runs.select("run_id", *[d for d in by if d not in ("agent", "workflow")]),
                                    on="run_id", how="left")
    long = _aggregate(rows, by).select(*by, "metric", "value", "labelled", "unknown").collect()
    names = [m.name for m in config.metrics]
    wide = out.select(by).unique()
    for name in names:  # one small join per metric: a pivot would lose the metrics no group has
        part = long.filter(pl.col("metric") == name).select(
            *by, pl.col("value").alias(name), pl.col("labelled").alias(f"{name}_labelled"),
            pl.col("unknown").alias(f"{name}_unknown"))
        if "week" in by:
            part = part.with_columns(week_text(pl.col("week")).alias("week"))
        wide = wide.join(part, on=by, how="left")
    met = runs.join(run_quality(ts, config), on="run_id", how="inner").group_by(by).agg(
        (outcome_is(Outcome.SUCCESS) & pl.col("quality_met").fill_null(False)).sum().alias("quality_successes"),
        (outcome_is(Outcome.SUCCESS) & pl.col("quality_met").is_null()).sum().alias("quality_unknown_successes"),
    ).collect()
    if "week" in by:
        met = met.with_columns(week_text(pl.col("week")).alias("week"))
    wide = wide.join(met, on=by, how="left").with_columns(
        pl.col("quality_successes", "quality_unknown_successes", *[f"{n}_{s}" for n in names for s in ("labelled", "unknown")])
        .fill_null(0).cast(pl.Int64))
    joined = out.join(wide, on=by, how="left").with_columns(rates("cost_per_quality_success"))
    return joined, names


def readiness_lines(ts, window_runs: pl.DataFrame, config) -> list[dict]:
    """Readiness lines (area Quality) per agent and quality metric in its scope, over the window's runs:
    a floor or ceiling breached is no-go, no labelled run is unknown."""
    config = load_quality(config)
    ids = window_runs.select("run_id").lazy()
    sub = ts.only_runs(ids)
    result = quality_metrics(sub, config, by=("agent",), check_names=False).frame
    owners = {m.name: m.owner for m in config.metrics}
    rows = []
    for r in result.iter_rows(named=True):
        verdict = Verdict.UNKNOWN if r["value"] is None else Verdict.NO_GO if r["breached"] else Verdict.GO
        shown = "no labelled run" if r["value"] is None else (
            f"{r['value']:.3g}" if r["kind"] == "mean" else f"{r['value']:.1%}")
        evidence = (f"{r['metric']} ({r['kind']} of label '{r['label']}', {r['target']}): {shown} over "
                    f"{r['labelled']} labelled runs; {r['unknown']} of {r['runs']} runs unknown"
                    + (f" ({r['unreadable']} unreadable)" if r["unreadable"] else ""))
        rows.append({"agent": r["agent"], "area": "Quality", "check": f"quality:{r['metric']}", "verdict": verdict.value,
                     "measured": r["value"], "threshold": r["bound"], "evidence": evidence,
                     "owner": owners.get(r["metric"]) or "no owner in the quality file",
                     "definition": f"quality floor or ceiling of {r['metric']} (labels, see the quality file)"})
    return rows
