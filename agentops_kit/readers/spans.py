"""Turning one span (already decoded from its format) into a canonical step row."""

from __future__ import annotations

import orjson

from ..conventions import EVALUATION_EVENT, Conventions, as_int
from ..model import RejectReason
from .collector import TOKEN_FIELDS, Collector, to_text

# Nanoseconds since the epoch fall in this range for 2001..2100; anything else is a unit mistake.
MIN_NS, MAX_NS = 978_307_200 * 10**9, 4_102_444_800 * 10**9


def check_ns(value: int | None, what: str) -> None:
    if value is None or value == 0:
        return
    if MIN_NS <= value < MAX_NS:
        return
    unit = ("seconds" if value < 10**11 else "milliseconds" if value < 10**14
            else "microseconds" if value < 10**17 else "an unknown unit")
    raise ValueError(f"{what} {value} is not nanoseconds since the epoch (it looks like {unit})")


def _id(value, what: str) -> str:
    """An id as text: a non-empty string, or an integer; anything else is a wrongly typed record."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise TypeError(f"the {what} {value!r} is not a non-empty string")
    return value


def emit_span(
    col: Collector, conv: Conventions, *, run_id: str, step_id: str, parent_id: str | None, name: str,
    start_ns: int | None, end_ns: int | None, status: str, status_message: str | None, attrs: dict,
    file: str, line: int | None, index: int | None = None, kind: str | None = None,
    overrides: dict | None = None, events: list[tuple[str, dict]] | None = None,
) -> None:
    """Add one span; a wrongly typed span is rejected with the reason, never half-added. ``events``:
    (name, attributes) of the span's events (an ``exception`` one is the step's error when no attribute
    names one; ``gen_ai.evaluation.result`` ones become labels of the run)."""
    try:
        run_id, step_id = _id(run_id, "run (trace) id"), _id(step_id, "span id")
        parent_id = _id(parent_id, "parent span id") if parent_id not in (None, "") else None
        if not isinstance(name, str):
            raise TypeError(f"the span name {name!r} is not text")
        if not isinstance(start_ns, (int, type(None))) or not isinstance(end_ns, (int, type(None))):
            raise TypeError(f"times {start_ns!r}, {end_ns!r} are not integer nanoseconds")
        status_message = to_text(status_message)
        check_ns(start_ns, "start time")
        check_ns(end_ns, "end time")
        fields = conv.step(attrs, name, kind)
        if overrides:
            fields.update({k: v for k, v in overrides.items() if v is not None})
            for key in TOKEN_FIELDS:
                fields[key] = as_int(fields[key])
            if fields["cost_usd"] is not None:
                fields["cost_usd"] = float(fields["cost_usd"])
        if events and fields["error"] is None:
            fields["error"] = conv.exception_error(events)
        evaluations = conv.evaluations(events) if events else ()
        for key in ("input", "output", "error"):
            fields[key] = to_text(fields[key])
        for key in ("kind", "tool_name", "model", "provider", "approval_decision", "approver"):
            if fields[key] is not None and not isinstance(fields[key], str):
                raise TypeError(f"{key} {fields[key]!r} is not text")
        hints = conv.hints(attrs, name)
        docs = conv.retrieval_documents(attrs) if fields["kind"] == "retrieval" else ()
        skip = fields.pop("text_keys")
        if skip[0] or skip[1]:
            attrs = {k: v for k, v in attrs.items() if k != skip[0] and k != skip[1]}
        attributes = orjson.dumps(attrs, default=str).decode()
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"span {step_id}: {exc}", line=line, index=index, record_id=step_id)
        return
    error = fields["error"]
    if status == "error" and not error:
        error = status_message or "error"
    col.steps.append((
        run_id, step_id, parent_id or None, fields["kind"], name, fields["tool_name"], start_ns, end_ns,
        status, error, fields["model"], fields["input_tokens"], fields["output_tokens"],
        fields["cached_input_tokens"], fields["cost_usd"], fields["input"], fields["output"],
        fields["approval_decision"], fields["approver"], attributes, file, line, not parent_id,
        *hints, fields["provider"], fields["cache_write_input_tokens"], fields["reasoning_output_tokens"],
    ))
    for doc_id, version, score in docs:
        col.source(run_id, step_id, doc_id, version, score)
    for label, value in evaluations:
        col.label(run_id, label, value, f"{EVALUATION_EVENT} event of span {step_id}")
    if len(col.steps) >= col.chunk_rows:
        col.flush()
