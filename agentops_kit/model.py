"""The canonical trace model: column names and types of the tables every reader produces, and the closed
vocabularies their columns (and the kit's results) take values from.

A vocabulary is a string enum: a member equals its value (``Outcome.SUCCESS == "success"``), so it can be
compared with a column's text and handed to polars as it is; ``tuple(Outcome)`` lists the values in order.
"""

from __future__ import annotations

import sys

import polars as pl

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10
    from enum import Enum

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return self.value

UTC_TS = pl.Datetime("us", "UTC")


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ESCALATED = "escalated"
    UNKNOWN = "unknown"


class StepKind(StrEnum):
    AGENT = "agent"
    LLM = "llm"
    TOOL = "tool"
    RETRIEVAL = "retrieval"
    ACTION = "action"
    APPROVAL = "approval"
    MEMORY = "memory"  # a memory store searched or changed (GenAI search_memory, create_memory, ...)
    OTHER = "other"


# the kinds of step counted as tool calls (an action is a tool call that changes something)
TOOL_CALL_KINDS = (StepKind.TOOL.value, StepKind.ACTION.value)


class Mode(StrEnum):
    ACTIVE = "active"
    SHADOW = "shadow"  # the agent recommends, a human decides
    RED_TEAM = "red_team"  # an exercise with malicious or ambiguous input: kept out of production numbers


class CostSource(StrEnum):
    EXPORT = "export"  # the export reported the cost
    PRICING = "pricing"  # tokens (or calls) x the price list
    MIXED = "mixed"  # runs only: some steps from the export, some priced
    NONE = "none"  # nothing to cost (no model call, no priced tool)
    UNKNOWN = "unknown"  # a cost was incurred that cannot be known


class StepStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    UNSET = "unset"


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class RejectReason(StrEnum):
    """Why a record of an input file was set aside (the ``reason_code`` of the rejected table)."""

    MALFORMED_JSON = "malformed_json"
    WRONG_TYPE = "wrong_type"
    MISSING_ID = "missing_id"
    UNKNOWN_RECORD = "unknown_record"
    NOT_OTLP = "not_otlp"
    NOT_OTEL_SDK = "not_otel_sdk"
    NOT_TAU_BENCH = "not_tau_bench"
    UNKNOWN_FORMAT = "unknown_format"
    TRUNCATED_FILE = "truncated_file"
    DUPLICATE_SPAN = "duplicate_span"


class Severity(StrEnum):
    """Of a policy violation or a lint finding; members from the most severe down."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Verdict(StrEnum):
    """Of a readiness check: a value that cannot be measured is unknown, never a go."""

    GO = "go"
    NO_GO = "no-go"
    UNKNOWN = "unknown"


RUNS_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "agent": pl.String,
        "agent_version": pl.String,
        "workflow": pl.String,
        "session_id": pl.String,  # the conversation (session, thread) the run belongs to
        "mode": pl.String,  # Mode
        "started_at": UTC_TS,
        "ended_at": UTC_TS,
        "duration_s": pl.Float64,
        "outcome": pl.String,  # Outcome
        "error_type": pl.String,
        "cost_usd": pl.Float64,  # null when any part of the run's cost cannot be known
        "cost_source": pl.String,  # CostSource
        "input_tokens": pl.Int64,
        "output_tokens": pl.Int64,  # reasoning tokens included
        "reasoning_output_tokens": pl.Int64,
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
        "kind": pl.String,  # StepKind
        "name": pl.String,
        "tool_name": pl.String,
        "started_at": UTC_TS,
        "ended_at": UTC_TS,
        "status": pl.String,  # StepStatus
        "error": pl.String,
        "model": pl.String,
        "provider": pl.String,  # gen_ai.provider.name: openai, anthropic, aws.bedrock, ...
        "input_tokens": pl.Int64,  # cache reads and writes included
        "output_tokens": pl.Int64,  # reasoning tokens included
        "cached_input_tokens": pl.Int64,  # cache reads
        "cache_write_input_tokens": pl.Int64,  # written to the provider's cache (priced at its cache-write rate)
        "reasoning_output_tokens": pl.Int64,
        "cost_usd": pl.Float64,
        "cost_source": pl.String,  # CostSource, never mixed
        "input": pl.String,
        "output": pl.String,
        "approval_decision": pl.String,  # approval steps: ApprovalDecision
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
        "reason_code": pl.String,  # RejectReason
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
