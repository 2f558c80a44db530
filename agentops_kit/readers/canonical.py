"""The kit's own canonical format.

JSONL: one object per line with ``"record": "run" | "step" | "source" | "label"`` and the columns of that
table (see ``agentops_kit/schemas/canonical.schema.json``); times are ISO-8601. Steps are assembled into
runs like any other format; a ``run`` record sets run-level facts (agent, workflow, mode, outcome, ...).
Parquet / CSV: one file per table named ``runs.*``, ``steps.*``, ``sources.*``, ``labels.*`` (what
``agentops-kit ingest`` writes), read as they are.
"""

from __future__ import annotations

import orjson

from ..conventions import Conventions
from ..files import iter_lines
from ..model import RejectReason
from .collector import Collector, to_text
from .spans import emit_span
from .timeparse import iso_ns

RUN_FIELDS = {"agent": "gen_ai.agent.name", "agent_version": "gen_ai.agent.version",
              "workflow": "agentops.workflow", "mode": "agentops.mode", "outcome": "agentops.outcome",
              "session_id": "gen_ai.conversation.id"}
STEP_FIELDS = ("kind", "tool_name", "model", "provider", "input_tokens", "output_tokens", "cached_input_tokens",
               "cache_write_input_tokens", "reasoning_output_tokens", "cost_usd", "input", "output",
               "approval_decision", "approver", "error")


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    read_lines(col, conv, iter_lines(data), file)


def read_lines(col: Collector, conv: Conventions, lines, file: str) -> None:
    runs: dict[str, dict] = {}
    steps: list[tuple[int, dict]] = []
    for line, raw in lines:
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            col.reject(file, RejectReason.MALFORMED_JSON, f"not valid JSON (or not UTF-8): {exc}", line=line)
            continue
        kind = rec.get("record") if isinstance(rec, dict) else None
        if kind not in ("run", "step", "source", "label"):
            col.reject(file, RejectReason.UNKNOWN_RECORD, "expected \"record\": run, step, source or label", line=line)
            continue
        if not isinstance(rec.get("run_id"), str) or not rec["run_id"]:
            col.reject(file, RejectReason.MISSING_ID, f"{kind} record without a 'run_id'", line=line)
            continue
        if kind == "run":
            runs[rec["run_id"]] = rec
        elif kind == "step":
            steps.append((line, rec))
        elif kind == "source":
            score = rec.get("score")
            if not isinstance(rec.get("step_id"), (str, type(None))) or not (
                    score is None or isinstance(score, (int, float)) and not isinstance(score, bool)):
                col.reject(file, RejectReason.WRONG_TYPE, "source record: 'step_id' must be text and 'score' a number", line=line)
                continue
            col.source(rec["run_id"], rec.get("step_id"), rec.get("document_id"), rec.get("version"), score)
        else:
            if not rec.get("name"):
                col.reject(file, RejectReason.MISSING_ID, "label record without a 'name'", line=line)
                continue
            col.label(rec["run_id"], rec["name"], rec.get("value"), rec.get("source") or file)
    for line, rec in steps:
        read_step(col, conv, rec, runs.get(rec["run_id"]), file, line)


def read_step(col, conv, rec, run, file, line) -> None:
    step_id = rec.get("step_id")
    if not isinstance(step_id, str) or not step_id:
        col.reject(file, RejectReason.MISSING_ID, "step record without a 'step_id'", line=line)
        return
    try:
        attrs = rec.get("attributes") or {}
        if isinstance(attrs, str):
            attrs = orjson.loads(attrs)
        if not isinstance(attrs, dict):
            raise TypeError("attributes must be an object")
        is_root = not rec.get("parent_id")
        if is_root and run:
            attrs = {**attrs, **{RUN_FIELDS[k]: v for k, v in run.items() if k in RUN_FIELDS and v is not None}}
        start, end = iso_ns(rec.get("started_at")), iso_ns(rec.get("ended_at"))
        overrides = {k: rec.get(k) for k in STEP_FIELDS}
        for k in ("input", "output", "error"):
            overrides[k] = to_text(overrides[k])
        kind = rec.get("kind")
    except (TypeError, ValueError, OverflowError, orjson.JSONDecodeError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"step {step_id}: {exc}", line=line, record_id=step_id)
        return
    emit_span(col, conv, run_id=rec["run_id"], step_id=step_id, parent_id=rec.get("parent_id"),
              name=rec.get("name") or "", start_ns=start, end_ns=end, status=rec.get("status") or "unset",
              status_message=None, attrs=attrs, file=file, line=line, kind=kind, overrides=overrides)
