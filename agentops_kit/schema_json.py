"""JSON Schema of the canonical JSONL records, derived from the table schemas (so it cannot drift)."""

from __future__ import annotations

import json

import polars as pl

from .model import LABELS_SCHEMA, RUNS_SCHEMA, SOURCES_SCHEMA, STEPS_SCHEMA, Mode, Outcome, StepKind, StepStatus

REQUIRED = {"run": ["run_id"], "step": ["run_id", "step_id"], "source": ["run_id", "document_id"],
            "label": ["run_id", "name", "value"]}
ENUMS = {("run", "outcome"): Outcome, ("run", "mode"): Mode, ("step", "kind"): StepKind, ("step", "status"): StepStatus}
# Columns the loader derives itself; a run record may not set them.
DERIVED = {"run": {"started_at", "ended_at", "duration_s", "cost_usd", "cost_source", "input_tokens", "output_tokens",
                   "reasoning_output_tokens", "llm_calls", "tool_calls", "root_missing", "orphan_steps", "source_file", "format", "error_type"},
           "step": {"cost_source", "source_file", "source_line"}}


def _type(dtype) -> dict:
    if isinstance(dtype, pl.Datetime):
        return {"type": ["string", "null"], "format": "date-time"}
    if dtype == pl.Int64:
        return {"type": ["integer", "null"], "minimum": 0}
    if dtype == pl.Float64:
        return {"type": ["number", "null"]}
    if dtype == pl.Boolean:
        return {"type": ["boolean", "null"]}
    return {"type": ["string", "null"]}


def canonical_schema() -> dict:
    variants = []
    for record, schema in (("run", RUNS_SCHEMA), ("step", STEPS_SCHEMA), ("source", SOURCES_SCHEMA),
                           ("label", LABELS_SCHEMA)):
        props = {"record": {"const": record}}
        for col, dtype in schema.items():
            if col in DERIVED.get(record, ()):
                continue
            props[col] = _type(dtype)
            if (record, col) in ENUMS:
                props[col]["enum"] = [v.value for v in ENUMS[(record, col)]] + [None]
        if record == "step":
            props["attributes"] = {"type": ["object", "string", "null"]}
        for col in REQUIRED[record]:
            props[col] = {"type": "string", "minLength": 1}
        variants.append({"title": f"{record} record", "type": "object", "properties": props,
                         "required": ["record", *REQUIRED[record]], "additionalProperties": False})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "agentops-kit/canonical.schema.json",
            "title": "agentops-kit canonical JSONL record (one per line)", "oneOf": variants}


if __name__ == "__main__":
    print(json.dumps(canonical_schema(), indent=2))
