"""Collected step rows -> the canonical steps and runs tables (one run per trace)."""

from __future__ import annotations

import polars as pl

from .labels import run_scores
from .mapping import Mapping
from .model import TOOL_CALL_KINDS, Mode, Outcome, RejectReason, StepKind, conform
from .pricing import Pricing, apply_pricing
from .readers.collector import RUN_HINTS, STEP_ROW_SCHEMA, Collector
from .red_team_marks import marked_runs


def _ns_to_ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="ns").dt.cast_time_unit("us").dt.replace_time_zone("UTC")


def step_frame(collectors: list[Collector]) -> pl.DataFrame:
    for c in collectors:
        c.flush()
    parts = [pl.concat(c.frames).with_columns(pl.lit(c.format).alias("format")) for c in collectors if c.frames]
    if not parts:
        return pl.DataFrame(schema={**STEP_ROW_SCHEMA, "format": pl.String})
    return pl.concat(parts).with_columns(
        _ns_to_ts("started_ns").alias("started_at"), _ns_to_ts("ended_ns").alias("ended_at")
    )


# Agent and chain spans often repeat the usage and cost of the calls inside them (Langfuse agents,
# GenAI invoke_agent spans): a run counts tokens and cost only where they are incurred.
INCURRING = tuple(k.value for k in (StepKind.LLM, StepKind.TOOL, StepKind.ACTION, StepKind.RETRIEVAL))


def _span_key(span: str) -> pl.Expr:
    """A 64-bit hash of (run_id, the span id in column `span`): small and quick to compare; equal keys
    are always checked on the ids themselves."""
    return (pl.col("run_id").hash(1) ^ pl.col(span).hash(2)).alias("_key")


def drop_duplicates(steps: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple]]:
    """Keep the first copy of each (run, span) read, here or in another file; the others become rejected rows."""
    hashes = steps.select(_span_key("step_id")).to_series()
    if hashes.n_unique() == hashes.len():  # a set of the hashes: far less working memory than is_unique
        return steps, []
    marked = steps.select(pl.struct("run_id", "step_id").is_first_distinct().not_().alias("_dupe"))["_dupe"]
    if not marked.any():
        return steps, []
    first = steps.select(pl.col("source_file").first().over("run_id", "step_id").alias("_ff"),
                         pl.col("source_line").first().over("run_id", "step_id").alias("_fl")).filter(marked)
    rows = [(f, line, None, sid, RejectReason.DUPLICATE_SPAN.value,
             f"span {sid} of trace {rid} was already read from {ff}" + (f" line {fl}" if fl else ""))
            for (f, line, sid, rid), (ff, fl) in zip(
                steps.filter(marked).select("source_file", "source_line", "step_id", "run_id").iter_rows(),
                first.iter_rows(), strict=True)]
    return steps.filter(~marked), rows


def _sum_or_null(name: str) -> pl.Expr:
    """Sum over LLM calls; null when none reported the value (polars sums all-null to 0)."""
    col = pl.col(name).filter(pl.col("kind") == "llm")
    return pl.when(col.is_not_null().any()).then(col.sum()).alias(name)


# run facts taken from its steps: the root's value, else the earliest one seen (steps in start order)
FIRST_FACTS = {**{"hint_" + h: h for h in RUN_HINTS}, "error": "error_type", "source_file": "source_file"}


def _start_order(steps: pl.DataFrame) -> pl.Series:
    """The row numbers in start order (stable: steps without a start time last, in the order read)."""
    last = pl.col("started_ns").fill_null(2**63 - 1)
    return steps.select(pl.int_range(pl.len(), dtype=pl.UInt32).sort_by(last, maintain_order=True)).to_series()


def _exact_order_sum(values: pl.Expr) -> pl.Expr:
    """The sum of ``values`` added one by one, smallest first. Floats added in another order differ in the last
    bits, and both the order of a run's rows (one ingest or two, polars or a Spark task) and the way polars
    splits a plain ``sum`` over threads vary; a running sum is the one order polars keeps (0 for no values)."""
    return values.sort().cum_sum().last().fill_null(0.0)


def _min_where(condition: pl.Expr, column: str) -> pl.Expr:
    """The least ``column`` where ``condition`` holds, per group (null where it never does). A masked column,
    not a filter: a filter inside a grouping gathers each group's rows anew, and the 18 of them with the root's
    filter below more than doubled the grouping's working memory (77 MB against 30 MB at 232 k steps)."""
    return pl.when(condition).then(pl.col(column)).min()


def _pick_rows() -> list[pl.Expr]:
    """Aggregations naming, for each of FIRST_FACTS, the first root row with a value and the earliest
    start position with one: only integers go through the grouping, never the text."""
    has = {c: pl.col(c).is_not_null() for c in FIRST_FACTS}
    return [
        *[_min_where(pl.col("is_root") & has[c], "_row").alias("_root_row:" + c) for c in FIRST_FACTS],
        *[_min_where(has[c], "_position").alias("_first_position:" + c) for c in FIRST_FACTS],
    ]


def _picked_facts(steps: pl.DataFrame, agg: pl.DataFrame, in_start_order: pl.Series) -> pl.DataFrame:
    """The values at the rows _pick_rows named, in place of those row numbers."""
    values = []
    for column, name in FIRST_FACTS.items():
        earliest = in_start_order.gather(agg.get_column("_first_position:" + column))
        row = agg.get_column("_root_row:" + column).fill_null(earliest)
        values.append(steps.get_column(column).gather(row).alias(name))
    return agg.drop([f"_{w}:{c}" for c in FIRST_FACTS for w in ("root_row", "first_position")]).with_columns(values)


def _orphan_flags(steps: pl.DataFrame) -> pl.Series:
    """Per step, whether its parent span is missing from its run (exporters often drop framework-internal
    spans: their children stay). Candidate parents are paired by _span_key, then checked on the ids."""
    rows = pl.int_range(pl.len(), dtype=pl.UInt32)
    children = steps.lazy().select(rows.alias("_child"), _span_key("parent_id"), "parent_id").drop_nulls("parent_id")
    spans = steps.lazy().select(rows.alias("_span"), _span_key("step_id"))
    pairs = children.join(spans, on="_key").select("_child", "_span").collect()
    child, span = pairs.get_column("_child"), pairs.get_column("_span")
    same = ((steps.get_column("run_id").gather(child) == steps.get_column("run_id").gather(span))
            & (steps.get_column("parent_id").gather(child) == steps.get_column("step_id").gather(span)))
    found = child.filter(same).implode()
    return steps.select(
        pl.col("parent_id").is_not_null() & ~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(found)
    ).to_series()


def assemble(steps: pl.DataFrame, labels: pl.DataFrame, mapping: Mapping, pricing: Pricing):
    """(steps, runs): steps priced and conformed, runs aggregated with outcome and cost rules applied."""
    steps = apply_pricing(steps, pricing)
    o = mapping.outcome
    escalation_tools = list(o.escalation_tools)
    in_start_order = _start_order(steps)
    # one grouping, lazily (an eager group_by carries every column of the wide table through it)
    numbered = steps.lazy().with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        in_start_order.arg_sort().alias("_position"),  # the inverse permutation: each row's start position
        _orphan_flags(steps).alias("_orphan"),
    )
    agg = numbered.group_by("run_id").agg(
        pl.col("started_at").min().alias("started_at"),
        pl.col("ended_at").max().alias("ended_at"),
        (pl.col("is_root") & (pl.col("status") == "error")).any().alias("_root_error"),  # masked: see _min_where
        pl.col("is_root").any().not_().alias("root_missing"),
        _sum_or_null("input_tokens"),
        _sum_or_null("output_tokens"),
        _sum_or_null("reasoning_output_tokens"),
        (pl.col("kind") == "llm").sum().cast(pl.Int64).alias("llm_calls"),
        pl.col("kind").is_in(TOOL_CALL_KINDS).sum().cast(pl.Int64).alias("tool_calls"),
        pl.col("tool_name").is_in(escalation_tools).any().alias("_escalated"),
        _exact_order_sum(pl.col("cost_usd").filter(pl.col("cost_source").is_in(["export", "pricing"])
                                                   & pl.col("kind").is_in(INCURRING))).alias("_cost"),
        (pl.col("cost_source") == "unknown").any().alias("_cost_unknown"),
        ((pl.col("cost_source") == "export") & pl.col("kind").is_in(INCURRING)).any().alias("_cost_export"),
        ((pl.col("cost_source") == "pricing") & pl.col("kind").is_in(INCURRING)).any().alias("_cost_pricing"),
        pl.col("format").first().alias("format"),
        pl.col("_orphan").sum().cast(pl.Int64).alias("orphan_steps"),
        *_pick_rows(),
    ).collect()
    agg = _picked_facts(steps, agg, in_start_order).lazy()
    if o.label:
        agg = agg.join(run_scores(labels.lazy(), o.label), on="run_id", how="left")
    else:
        agg = agg.with_columns(pl.lit(None, pl.Float64).alias("_score"))
    outcome = (
        pl.when(pl.col("outcome").is_not_null() & (pl.col("outcome") != Outcome.UNKNOWN)).then(pl.col("outcome"))
        .when(pl.col("_escalated")).then(pl.lit(Outcome.ESCALATED.value))
        .when(pl.col("_score").is_not_null())
        .then(pl.when(pl.col("_score") >= o.label_success_min)
              .then(pl.lit(Outcome.SUCCESS.value)).otherwise(pl.lit(Outcome.FAILURE.value)))
        .when(pl.lit(o.error_status_is_failure) & pl.col("_root_error")).then(pl.lit(Outcome.FAILURE.value))
        .otherwise(pl.lit(Outcome.UNKNOWN.value))
    )
    cost_source = (
        pl.when(pl.col("_cost_unknown")).then(pl.lit("unknown"))
        .when(pl.col("_cost_export") & pl.col("_cost_pricing")).then(pl.lit("mixed"))
        .when(pl.col("_cost_export")).then(pl.lit("export"))
        .when(pl.col("_cost_pricing")).then(pl.lit("pricing"))
        .otherwise(pl.lit("none"))
    )
    runs = agg.with_columns(
        outcome.alias("outcome"),
        pl.coalesce("agent", "agent_fallback", pl.lit("unknown")).alias("agent"),
        pl.col("workflow").fill_null("unknown"),
        pl.col("mode").fill_null("active"),
        ((pl.col("ended_at") - pl.col("started_at")).dt.total_microseconds() / 1e6).alias("duration_s"),
        pl.when(pl.col("_cost_unknown")).then(None).otherwise(pl.col("_cost")).alias("cost_usd"),
        cost_source.alias("cost_source"),
    )
    marked = marked_runs(steps.lazy(), labels.lazy(), mapping.red_team).with_columns(pl.lit(True).alias("_red_team"))
    runs = runs.join(marked, on="run_id", how="left").with_columns(
        pl.when(pl.col("_red_team")).then(pl.lit(Mode.RED_TEAM.value)).otherwise(pl.col("mode")).alias("mode"))
    runs = runs.sort("started_at", "run_id", nulls_last=True).collect()
    return conform(steps, "steps"), conform(runs, "runs")


__all__ = ["assemble", "step_frame"]
