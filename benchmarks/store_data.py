"""Synthetic canonical tables for the store benchmark, one ISO week at a time, column-wise with polars.

A week of ``n`` runs gets 5-10 steps per run (7.5 on average: an agent root, then LLM calls and tool calls
in turn, now and then an approval or an action), costs and tokens on the LLM calls, outcomes, modes (mostly
active, some shadow, a few red-team exercises) and a ``customer_impact`` label on about 1 % of the runs. The
runs table is aggregated from the steps, so its counts agree with them. Ids are derived from the run's global
number by hashing: any week can be made alone, in any order, and always the same.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from agentops_kit.model import TABLE_SCHEMAS

AGENTS = ("SupportRefundAgent", "InvoiceCategorizer", "SocAlertTriage", "ContractReviewer", "LeadQualifier",
          "ItHelpdesk")
WORKFLOWS = {"SupportRefundAgent": "refunds", "InvoiceCategorizer": "invoices", "SocAlertTriage": "soc_triage",
             "ContractReviewer": "contracts", "LeadQualifier": "leads", "ItHelpdesk": "helpdesk"}
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet")
TOOLS = ("lookup_order", "search_kb", "classify", "fetch_alert", "issue_refund")
WEEK_SECONDS = 7 * 24 * 3600


def _pick(options, h: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(list(options))).gather(h % len(options))


def _digits(h: pl.Expr, digits: int) -> pl.Expr:
    return (h % 10**digits).cast(pl.String).str.zfill(digits)


def _step_hash(j: pl.Expr) -> pl.Expr:
    """The hash a step's id and facts come from: of its run's and its own number."""
    return (pl.col("_h") ^ j.cast(pl.UInt64).hash(4)).hash(5)


def week_tables(week_monday: dt.date, first_run: int, n: int) -> dict[str, pl.DataFrame]:
    """The canonical tables (runs, steps, sources, labels, rejected) of ``n`` runs starting in the week of
    ``week_monday``; run numbers ``first_run`` .. ``first_run + n - 1``."""
    start = dt.datetime.combine(week_monday, dt.time(), tzinfo=dt.timezone.utc)
    g = pl.int_range(first_run, first_run + n, dtype=pl.UInt64)
    base = pl.select(g.alias("g")).lazy().with_columns(
        pl.col("g").hash(1).alias("h1"), pl.col("g").hash(2).alias("h2"), pl.col("g").hash(3).alias("h3"))
    runs0 = base.select(
        (_digits(pl.col("h1"), 19) + _digits(pl.col("h2"), 13)).alias("run_id"),
        (pl.lit(start) + pl.duration(seconds=(pl.col("h3") % WEEK_SECONDS).cast(pl.Int64))).alias("_t0"),
        (5 + pl.col("h2") % 6).cast(pl.Int64).alias("_k"),
        _pick(AGENTS, pl.col("h1") // 7).alias("agent"),
        (pl.col("h3") // 11 % 100).alias("_mode_roll"),
        (pl.col("h1") // 13 % 100).alias("_outcome_roll"),
        pl.col("h2").alias("_h"), "g",
    )
    steps = (
        runs0.with_columns(pl.int_ranges(0, pl.col("_k")).alias("j")).explode("j")
        .with_columns(_step_hash(pl.col("j")).alias("sh"), _step_hash(pl.lit(0, pl.Int64)).alias("_root_sh"))
        .with_columns(
            pl.when(pl.col("j") == 0).then(pl.lit("agent"))
            .when((pl.col("j") == pl.col("_k") - 1) & (pl.col("sh") % 10 == 0)).then(pl.lit("approval"))
            .when((pl.col("j") == pl.col("_k") - 1) & (pl.col("sh") % 10 == 1)).then(pl.lit("action"))
            .when(pl.col("j") % 2 == 1).then(pl.lit("llm")).otherwise(pl.lit("tool")).alias("kind"),
            (pl.col("_t0") + pl.duration(milliseconds=(pl.col("j") * 900 + pl.col("sh") % 400).cast(pl.Int64)))
            .alias("started_at"),
        )
    )
    llm = pl.col("kind") == "llm"
    tool = pl.col("kind").is_in(["tool", "action"])
    in_tok = (200 + pl.col("sh") % 3000).cast(pl.Int64)
    out_tok = (20 + pl.col("sh") // 3 % 600).cast(pl.Int64)
    model = _pick(MODELS, pl.col("sh") // 5)
    steps = steps.select(
        "run_id",
        _digits(pl.col("sh"), 16).alias("step_id"),
        "_root_sh",
        "kind", "j", "_k", "agent", "_mode_roll", "_outcome_roll", "sh", "started_at", "g",
    ).select(
        "run_id", "step_id",
        pl.when(pl.col("j") > 0).then(_digits(pl.col("_root_sh"), 16)).alias("parent_id"),
        "kind",
        pl.when(pl.col("kind") == "agent").then(pl.col("agent")).when(llm).then(pl.lit("chat"))
        .otherwise(pl.lit("tool call")).alias("name"),
        pl.when(tool).then(_pick(TOOLS, pl.col("sh") // 17)).alias("tool_name"),
        "started_at",
        (pl.col("started_at") + pl.duration(milliseconds=(
            pl.when(pl.col("kind") == "agent").then(pl.col("_k") * 900 + 500).otherwise(200 + pl.col("sh") % 700)
        ).cast(pl.Int64))).alias("ended_at"),
        pl.when(pl.col("sh") % 50 == 0).then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
        pl.when(pl.col("sh") % 50 == 0).then(pl.lit("TimeoutError")).alias("error"),
        pl.when(llm).then(model).alias("model"),
        pl.when(llm).then(in_tok).alias("input_tokens"),
        pl.when(llm).then(out_tok).alias("output_tokens"),
        pl.when(llm).then(in_tok // 4).alias("cached_input_tokens"),
        pl.when(llm).then(in_tok * 2.5e-6 + out_tok * 1e-5).alias("cost_usd"),
        pl.when(llm).then(pl.lit("pricing")).otherwise(pl.lit("none")).alias("cost_source"),
        pl.lit(None, pl.String).alias("input"),
        pl.lit(None, pl.String).alias("output"),
        pl.when(pl.col("kind") == "approval").then(
            pl.when(pl.col("sh") % 7 == 0).then(pl.lit("rejected")).otherwise(pl.lit("approved")))
        .alias("approval_decision"),
        pl.when(pl.col("kind") == "approval").then(pl.lit("ops-oncall")).alias("approver"),
        pl.lit("{}").alias("attributes"),
        pl.lit(f"synthetic-{week_monday.isoformat()}.otlp.jsonl").alias("source_file"),
        (pl.col("j") + 1).cast(pl.Int64).alias("source_line"),
        # per-run facts, carried to make the runs table (dropped from the steps below)
        "agent", "_mode_roll", "_outcome_roll", "g",
    ).collect()
    runs = steps.lazy().group_by("g").agg(
        pl.col("run_id").first(), pl.col("agent").first(),
        pl.col("_mode_roll").first(), pl.col("_outcome_roll").first(),
        pl.col("started_at").min(), pl.col("ended_at").max(),
        pl.col("input_tokens").sum(), pl.col("output_tokens").sum(),
        (pl.col("kind") == "llm").sum().cast(pl.Int64).alias("llm_calls"),
        pl.col("kind").is_in(["tool", "action"]).sum().cast(pl.Int64).alias("tool_calls"),
        pl.col("cost_usd").sum(),
        pl.col("error").drop_nulls().first().alias("error_type"),
    ).select(
        "run_id", "agent", pl.lit("1.4.0").alias("agent_version"),
        pl.col("agent").replace_strict(WORKFLOWS).alias("workflow"),
        pl.when(pl.col("_mode_roll") < 2).then(pl.lit("red_team")).when(pl.col("_mode_roll") < 12)
        .then(pl.lit("shadow")).otherwise(pl.lit("active")).alias("mode"),
        "started_at", "ended_at",
        ((pl.col("ended_at") - pl.col("started_at")).dt.total_microseconds() / 1e6).alias("duration_s"),
        pl.when(pl.col("_outcome_roll") < 78)
        .then(pl.lit("success")).when(pl.col("_outcome_roll") < 88).then(pl.lit("escalated"))
        .when(pl.col("_outcome_roll") < 95).then(pl.lit("failure"))
        .otherwise(pl.lit("unknown")).alias("outcome"),
        "error_type",
        pl.when(pl.col("_outcome_roll") == 99).then(None).otherwise(pl.col("cost_usd")).alias("cost_usd"),
        pl.when(pl.col("_outcome_roll") == 99).then(pl.lit("unknown")).otherwise(pl.lit("pricing"))
        .alias("cost_source"),
        "input_tokens", "output_tokens", "llm_calls", "tool_calls",
        pl.lit(False).alias("root_missing"), pl.lit(0, pl.Int64).alias("orphan_steps"),
        pl.lit(f"synthetic-{week_monday.isoformat()}.otlp.jsonl").alias("source_file"),
        pl.lit("otlp").alias("format"),
    ).sort("started_at", "run_id").collect()
    labels = runs.lazy().filter(pl.col("run_id").hash(9) % 100 == 0).select(
        "run_id", pl.lit("customer_impact").alias("name"), pl.lit("true").alias("value"),
        pl.lit("incident-review.csv").alias("source")).collect()
    out = {"runs": runs, "steps": steps.drop("agent", "_mode_roll", "_outcome_roll", "g"), "labels": labels}
    return {t: _conform(out[t], s) if t in out else pl.DataFrame(schema=s) for t, s in TABLE_SCHEMAS.items()}


def _conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """The table in the canonical schema; a column the generator does not make (a newer convention's, such as
    session_id or reasoning tokens) is null, as a reader leaves it when the export has no such attribute."""
    return frame.select(pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in schema.items())
