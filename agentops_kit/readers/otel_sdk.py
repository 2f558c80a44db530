"""The OpenTelemetry Python SDK's span JSON (``ReadableSpan.to_json()``, ConsoleSpanExporter), as
written by any-agent and similar tools: ``{"spans": [...]}``, a list of spans, or spans one after another."""

from __future__ import annotations

import json
from datetime import datetime

import orjson

from ..conventions import Conventions
from ..model import RejectReason
from .collector import Collector
from .otlp import EVENT_NAMES
from .spans import emit_span


def sdk_id(value, what: str, width: int) -> str:
    """SDK ids are ints (any-agent) or '0x…' hex strings (to_json)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what} is missing")
    if isinstance(value, int):
        return format(value, f"0{width}x")
    if isinstance(value, str) and value:
        text = value[2:] if value.lower().startswith("0x") else value
        int(text, 16)
        return text.lower().rjust(width, "0")
    raise ValueError(f"{what} {value!r} is neither an integer nor a hex string")


def sdk_time(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000
    raise TypeError(f"time {value!r} is neither nanoseconds nor an ISO string")


def documents(data: bytes, exact_ints: bool = False):
    """Every JSON value in the file: one document, or several written one after another.

    exact_ints: parse with the standard library, which keeps integers above 64 bits exact (the SDK
    writes 128-bit trace ids as plain integers; orjson would turn them into floats)."""
    loads = json.loads if exact_ints else orjson.loads
    try:
        yield 1, loads(data)
        return
    except (orjson.JSONDecodeError, json.JSONDecodeError, UnicodeDecodeError):
        pass

    text = data.decode("utf-8", errors="replace")
    decoder, pos = json.JSONDecoder(), 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield line, exc
            return
        yield line, value


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    for line, doc in documents(data, exact_ints=True):
        if isinstance(doc, Exception):
            col.reject(file, RejectReason.MALFORMED_JSON, f"not valid JSON: {doc}", line=doc.lineno)
            continue
        spans = doc.get("spans") if isinstance(doc, dict) and "spans" in doc else doc
        if isinstance(spans, dict):
            spans = [spans]
        if not isinstance(spans, list):
            col.reject(file, RejectReason.NOT_OTEL_SDK, "expected span objects", line=line)
            continue
        for index, span in enumerate(spans):
            read_span(col, conv, span, file, line if len(spans) == 1 else None, index)


def read_span(col, conv, span, file, line, index) -> None:
    try:
        if not isinstance(span, dict):
            raise TypeError(f"a span must be an object, got {type(span).__name__}")
        ctx = span.get("context") or {}
        trace_id = sdk_id(ctx.get("trace_id"), "context.trace_id", 32)
        span_id = sdk_id(ctx.get("span_id"), "context.span_id", 16)
        parent = span.get("parent") or span.get("parent_id")
        if isinstance(parent, dict):  # a root's parent is null, or an object whose span_id is null
            parent = parent.get("span_id")
        parent_id = sdk_id(parent, "parent span_id", 16) if parent is not None else None
        attrs = dict((span.get("resource") or {}).get("attributes") or {})
        attrs.update(span.get("attributes") or {})
        status = span.get("status") or {}
        code = str(status.get("status_code") or "unset").lower().replace("statuscode.", "")
        name = span.get("name") or ""
        start, end = sdk_time(span.get("start_time")), sdk_time(span.get("end_time"))
        events = [(e.get("name"), dict(e.get("attributes") or {})) for e in span.get("events") or ()
                  if isinstance(e, dict) and e.get("name") in EVENT_NAMES]
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"span {index}: {exc}", line=line, index=index)
        return
    emit_span(col, conv, run_id=trace_id, step_id=span_id, parent_id=parent_id, name=name,
              start_ns=start, end_ns=end, status=code if code in ("ok", "error") else "unset",
              status_message=status.get("description"), attrs=attrs, file=file, line=line, index=index,
              events=events)
