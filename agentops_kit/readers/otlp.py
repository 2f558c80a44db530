"""OpenTelemetry OTLP/JSON, as the Collector's file exporter writes it: one ExportTraceServiceRequest
per line (``{"resourceSpans": [...]}``), hex ids, 64-bit integers as strings, typed AnyValues."""

from __future__ import annotations

import orjson

from ..conventions import EVALUATION_EVENT, EXCEPTION_EVENT, Conventions
from ..model import RejectReason, StepStatus
from .collector import Collector
from .spans import emit_span

STATUS = {0: StepStatus.UNSET.value, 1: StepStatus.OK.value, 2: StepStatus.ERROR.value}  # OTLP status codes
_HEX = frozenset("0123456789abcdef")
EVENT_NAMES = (EXCEPTION_EVENT, EVALUATION_EVENT)  # the compiled decoder hands spans with these back to Python


def any_value(v: dict):
    """Decode an OTLP AnyValue (``{"stringValue": ...}`` etc.)."""
    for kind, x in v.items():
        if kind == "stringValue" or kind == "boolValue":
            return x
        if kind == "intValue":
            return int(x)
        if kind == "doubleValue":
            return float(x)
        if kind == "arrayValue":
            return [any_value(i) for i in x.get("values") or ()]
        if kind == "kvlistValue":
            return {kv["key"]: any_value(kv.get("value") or {}) for kv in x.get("values") or ()}
        if kind == "bytesValue":
            return x
    return None


def attributes(items) -> dict:
    out: dict = {}
    for kv in _items(items, "attributes"):
        key = kv["key"]
        if not isinstance(key, str):
            raise TypeError(f"attribute key must be a string, got {type(key).__name__}")
        out[key] = any_value(kv.get("value") or {})
    return out


def _items(value, what: str) -> list:
    """A list of the request's structure (absent or empty: none)."""
    if not value:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{what} must be a list, got {type(value).__name__}")
    return value


def _object(value, what: str) -> dict:
    """An object of the request's structure (absent or empty: an empty one)."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be an object, got {type(value).__name__}")
    return value


def hex_id(value, what: str, synthetic: str) -> str:
    """A lower-case hex id; an empty id (allowed by the proto, used in the spec's own example) is
    replaced by a synthetic one unique to its place in the file."""
    if value is None or value == "":
        return synthetic
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a hex string, got {type(value).__name__}")
    low = value.lower()
    if not set(low) <= _HEX:
        raise ValueError(f"{what} {value!r} is not hexadecimal")
    return low


def _ns(value) -> int | None:
    return None if value is None else int(value)


def read_line(col: Collector, conv: Conventions, data: bytes, file: str, line: int) -> None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        col.reject(file, RejectReason.MALFORMED_JSON, f"not valid JSON (or not UTF-8): {exc}", line=line)
        return
    read_document(col, conv, doc, file, line)


def read_document(col: Collector, conv: Conventions, doc, file: str, line: int) -> None:
    """One ExportTraceServiceRequest already parsed (from a JSON line, or decoded from protobuf)."""
    if not isinstance(doc, dict) or "resourceSpans" not in doc:
        col.reject(file, RejectReason.NOT_OTLP, "expected an object with 'resourceSpans'", line=line)
        return
    try:
        resource_spans = _items(doc["resourceSpans"], "resourceSpans")
    except TypeError as exc:
        col.reject(file, RejectReason.WRONG_TYPE, str(exc), line=line)
        return
    index = 0
    for rs in resource_spans:
        try:
            if not isinstance(rs, dict):
                raise TypeError(f"a resourceSpans entry must be an object, got {type(rs).__name__}")
            resource_attrs = attributes(_object(rs.get("resource"), "resource").get("attributes"))
            scope_spans = _items(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans"), "scopeSpans")
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            detail = f"an attribute without {exc}" if isinstance(exc, KeyError) else exc
            col.reject(file, RejectReason.WRONG_TYPE, f"resource spans: {detail}", line=line)
            continue
        for ss in scope_spans:
            try:
                if not isinstance(ss, dict):
                    raise TypeError(f"a scopeSpans entry must be an object, got {type(ss).__name__}")
                scope = _object(ss.get("scope") or ss.get("instrumentationLibrary"), "scope")
                spans = _items(ss.get("spans"), "spans")
            except TypeError as exc:
                col.reject(file, RejectReason.WRONG_TYPE, f"scope spans: {exc}", line=line)
                continue
            for span in spans:
                read_span(col, conv, span, resource_attrs, scope, file, line, index)
                index += 1


def read_span(col, conv, span, resource_attrs, scope, file, line, index) -> None:
    place = f"{line}.{index}"
    try:
        trace_id = hex_id(span.get("traceId"), "traceId", f"missing-trace:{file}:{line}")
        span_id = hex_id(span.get("spanId"), "spanId", f"missing-span:{place}")
        parent_id = hex_id(span.get("parentSpanId"), "parentSpanId", "")
        attrs = {**resource_attrs, **attributes(span.get("attributes"))}
        if scope.get("name"):
            attrs.setdefault("otel.scope.name", scope["name"])
        status = span.get("status") or {}
        code = status.get("code", 0)
        if isinstance(code, str):  # enum names are valid in proto3 JSON too
            code = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, code)
        if isinstance(code, (dict, list)):
            raise TypeError(f"status code must be a number or a STATUS_CODE_* name, got {type(code).__name__}")
        status_name = STATUS.get(code, "unset")
        message = status.get("message")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"status message must be a string, got {type(message).__name__}")
        start, end = _ns(span.get("startTimeUnixNano")), _ns(span.get("endTimeUnixNano"))
        name = span.get("name") or ""
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        events = _events(span.get("events"))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"span {index} of the line: {exc}", line=line, index=index,
                   record_id=span.get("spanId") if isinstance(span, dict) else None)
        return
    emit_span(col, conv, run_id=trace_id, step_id=span_id, parent_id=parent_id, name=name,
              start_ns=start, end_ns=end, status=status_name,
              status_message=message, attrs=attrs, file=file, line=line, index=index, events=events)


def _events(items) -> list[tuple[str, dict]]:
    """(name, attributes) of the span events the conventions read (exceptions, evaluation results)."""
    out = []
    for event in _items(items, "events"):
        if not isinstance(event, dict):
            raise TypeError(f"an event must be an object, got {type(event).__name__}")
        name = event.get("name")
        if name in EVENT_NAMES:
            out.append((name, attributes(event.get("attributes"))))
    return out


def read_lines(col: Collector, conv: Conventions, lines, file: str) -> None:
    """The streaming path: one ExportTraceServiceRequest per line."""
    for number, raw in lines:
        read_line(col, conv, raw, file, number)


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    stripped = data.lstrip()
    if stripped[:1] == b"{" and b"\n{" not in stripped.rstrip():
        # a single (possibly pretty-printed) request, like opentelemetry-proto's examples/trace.json
        read_line(col, conv, stripped, file, 1)
        return
    from ..files import iter_lines

    for number, raw in iter_lines(data):
        read_line(col, conv, raw, file, number)
