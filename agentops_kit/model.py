"""The canonical trace model: column names and types of the tables every reader produces."""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

OUTCOMES = ("success", "failure", "escalated", "unknown")
STEP_KINDS = ("agent", "llm", "tool", "retrieval", "action", "approval", "other")
MODES = ("active", "shadow", "red_team")

RUNS_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "agent": pl.String,
        "agent_version": pl.String,
        "workflow": pl.String,
        "mode": pl.String,
        "started_at": UTC_TS,
        "ended_at": UTC_TS,
        "duration_s": pl.Float64,
        "outcome": pl.String,
        "error_type": pl.String,
        "cost_usd": pl.Float64,  # null when any part of the run's cost cannot be known
        "cost_source": pl.String,  # export | pricing | mixed | none | unknown
        "input_tokens": pl.Int64,
        "output_tokens": pl.Int64,
        "llm_calls": pl.Int64,
        "tool_calls": pl.Int64,
        "root_missing": pl.Boolean,  # the trace's root span/run never arrived
        "orphan_steps": pl.Int64,  # spans whose parent never arrived (kept, unattached)
        "source_file": pl.String,
        "format": pl.String,
    }
)

STEPS_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "step_id": pl.String,
        "parent_id": pl.String,
        "kind": pl.String,
        "name": pl.String,
        "tool_name": pl.String,
        "started_at": UTC_TS,
        "ended_at": UTC_TS,
        "status": pl.String,  # ok | error | unset
        "error": pl.String,
        "model": pl.String,
        "input_tokens": pl.Int64,
        "output_tokens": pl.Int64,
        "cached_input_tokens": pl.Int64,
        "cost_usd": pl.Float64,
        "cost_source": pl.String,  # export | pricing | none | unknown
        "input": pl.String,
        "output": pl.String,
        "approval_decision": pl.String,  # approval steps: approved | rejected
        "approver": pl.String,
        "attributes": pl.String,  # every attribute of the span, as a JSON object
        "source_file": pl.String,
        "source_line": pl.Int64,
    }
)

SOURCES_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "step_id": pl.String,
        "document_id": pl.String,
        "version": pl.String,
        "score": pl.Float64,
    }
)

LABELS_SCHEMA = pl.Schema(
    {"run_id": pl.String, "name": pl.String, "value": pl.String, "source": pl.String}
)

REJECTED_SCHEMA = pl.Schema(
    {
        "file": pl.String,
        "line": pl.Int64,  # 1-based line (JSONL) or null
        "index": pl.Int64,  # 0-based record index inside a JSON document, or null
        "record_id": pl.String,
        "reason_code": pl.String,
        "reason": pl.String,
    }
)

TABLE_SCHEMAS = {
    "runs": RUNS_SCHEMA,
    "steps": STEPS_SCHEMA,
    "sources": SOURCES_SCHEMA,
    "labels": LABELS_SCHEMA,
    "rejected": REJECTED_SCHEMA,
}


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLE_SCHEMAS[table])


def conform(frame: pl.DataFrame | pl.LazyFrame, table: str):
    """Select exactly the table's columns, in order, cast to their canonical types (missing → null)."""
    schema = TABLE_SCHEMAS[table]
    names = set(frame.collect_schema().names())
    columns = [(pl.col(c) if c in names else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()]
    if isinstance(frame, pl.DataFrame):  # lazily: an eager select rechunks, copying every column once more
        return frame.lazy().select(columns).collect()
    return frame.select(columns)
