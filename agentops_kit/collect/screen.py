"""Screening one decoded request: every span checked against the OTLP data model and the receiver's limits.

The input is untrusted (any JSON shape, any protobuf the decoder accepted). What comes out holds only the
fields the OTLP/JSON reader reads, each of the right type and within the limits, rebuilt rather than copied,
so the spool never holds anything a reader could choke on. A request whose structure is wrong (not an object,
lists that are not lists) is refused whole (400); a span that is wrong is rejected alone, with its reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..readers.spans import check_ns
from .body import BodyError
from .limits import Limits

_HEX32 = re.compile(r"[0-9a-fA-F]{32}\Z")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}\Z")
_DECIMAL = re.compile(r"-?[0-9]{1,20}\Z")
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_UINT32 = (0, 2**32 - 1)
SPAN_KINDS = ("SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
              "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER")
STATUS_CODES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
MAX_REASONS = 5  # distinct reasons quoted in a partial success's message


class BadRequest(ValueError):
    """The request as a whole is not an ExportTraceServiceRequest: answered 400 with this reason."""


class Rejected(ValueError):
    """One span (or the resource or scope holding it) breaks the data model or a limit."""


@dataclass
class Screened:
    request: dict  # the accepted spans, in OTLP/JSON form
    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def message(self) -> str:
        """The partial success's error message: the count, then the first few distinct reasons."""
        if not self.rejected:
            return ""
        more = "" if len(self.reasons) < MAX_REASONS else " (first reasons only)"
        return f"{self.rejected} span(s) rejected: " + "; ".join(self.reasons) + more


def _quote(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _items(value, where: str) -> list:
    """A list of the request's structure: absent or null is empty; anything else is a bad request."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"not an ExportTraceServiceRequest: {where} is {type(value).__name__}, expected a list")
    return value


def _object(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"not an ExportTraceServiceRequest: {where} is {type(value).__name__}, expected an object")
    return value


class _Checker:
    """The span-level checks, with the limits at hand."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.values = 0

    def tally(self, count: int) -> None:
        """Count spans, attributes, events, links and values; the whole request is refused past the limit."""
        self.values += count
        if self.values > self.limits.max_values:
            raise BodyError(413, f"the request holds more than {self.limits.max_values} spans, attributes, events, "
                                 "links and values (the limit): send smaller batches")

    def text(self, value, what: str, default: str | None = "") -> str | None:
        if value is None:
            return default
        if not isinstance(value, str):
            raise Rejected(f"{what} must be a string, got {type(value).__name__}")
        if len(value) > self.limits.max_string_chars:
            raise Rejected(f"{what} is {len(value)} characters long (limit {self.limits.max_string_chars})")
        return value

    def integer(self, value, what: str, bounds: tuple[int, int]) -> int | None:
        """A 64- or 32-bit integer: a JSON number, or a decimal string as OTLP/JSON writes 64-bit values."""
        if value is None:
            return None
        if isinstance(value, str) and _DECIMAL.match(value):
            value = int(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise Rejected(f"{what} must be an integer, got {_quote(value)}")
        if not bounds[0] <= value <= bounds[1]:
            raise Rejected(f"{what} {value} is out of range")
        return value

    def hex_id(self, value, what: str, pattern: re.Pattern, required: bool) -> str | None:
        if value is None or value == "":
            if required:
                raise Rejected(f"{what} is missing")
            return None
        if not isinstance(value, str) or not pattern.match(value):
            digits = 32 if pattern is _HEX32 else 16
            raise Rejected(f"{what} {_quote(value)} is not {digits} hex digits (OTLP/JSON ids are hex, not base64)")
        if not value.strip("0"):
            raise Rejected(f"{what} is all zeros (an invalid id)")
        return value.lower()

    def enum(self, value, what: str, names: tuple[str, ...]) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and value in names:
            return names.index(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            return value
        raise Rejected(f"{what} {_quote(value)} is none of {', '.join(names)} (or 0..{len(names) - 1})")

    def attributes(self, value, what: str) -> list[dict]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise Rejected(f"{what} must be a list, got {type(value).__name__}")
        self.tally(len(value))
        if len(value) > self.limits.max_attributes:
            raise Rejected(f"{what} has {len(value)} entries (limit {self.limits.max_attributes})")
        return [self.key_value(kv, what, 1) for kv in value]

    def key_value(self, kv, what: str, depth: int) -> dict:
        if not isinstance(kv, dict):
            raise Rejected(f"{what}: an entry must be an object with 'key' and 'value', got {type(kv).__name__}")
        key = self.text(kv.get("key"), f"{what}: a key", default=None)
        if key is None:
            raise Rejected(f"{what}: an entry has no 'key'")
        return {"key": key, "value": self.any_value(kv.get("value"), f"{what} {_quote(key)}", depth)}

    def any_value(self, value, what: str, depth: int) -> dict:
        """An OTLP AnyValue with exactly one kind set, nested at most ``max_depth`` deep."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise Rejected(f"{what} must be an AnyValue object, got {type(value).__name__}")
        if len(value) > 1:
            raise Rejected(f"{what} sets {len(value)} kinds of value ({', '.join(sorted(map(str, value)))[:80]})")
        if not value:
            return {}
        ((kind, x),) = value.items()
        if kind == "stringValue":
            return {kind: self.text(x, what)}
        if kind == "boolValue":
            if not isinstance(x, bool):
                raise Rejected(f"{what} boolValue must be true or false, got {_quote(x)}")
            return {kind: x}
        if kind == "intValue":
            return {kind: str(self.integer(x, f"{what} intValue", _INT64))}
        if kind == "doubleValue":
            if isinstance(x, str) and x in ("NaN", "Infinity", "-Infinity"):
                return {kind: x}
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise Rejected(f"{what} doubleValue must be a number, got {_quote(x)}")
            if isinstance(x, float) and not math.isfinite(x):  # from protobuf: written as OTLP/JSON writes them
                return {kind: "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity"}
            return {kind: x}
        if kind == "bytesValue":
            return {kind: self.text(x, what)}
        if kind in ("arrayValue", "kvlistValue"):
            if depth >= self.limits.max_depth:
                raise Rejected(f"{what} nests values more than {self.limits.max_depth} deep")
            if not isinstance(x, dict) or not isinstance(x.get("values", []), list):
                raise Rejected(f"{what} {kind} must be an object with a 'values' list")
            values = x.get("values") or []
            self.tally(len(values))
            if len(values) > self.limits.max_attributes:
                raise Rejected(f"{what} {kind} has {len(values)} values (limit {self.limits.max_attributes})")
            if kind == "arrayValue":
                return {kind: {"values": [self.any_value(v, what, depth + 1) for v in values]}}
            return {kind: {"values": [self.key_value(kv, what, depth + 1) for kv in values]}}
        raise Rejected(f"{what} has an unknown kind of value {_quote(kind)}")

    def time(self, value, what: str) -> int | None:
        ns = self.integer(value, what, _UINT64)
        try:
            check_ns(ns, what)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        return ns

    def event(self, event, where: str) -> dict:
        if not isinstance(event, dict):
            raise Rejected(f"{where} must be an object, got {type(event).__name__}")
        return _drop_none({
            "timeUnixNano": _str(self.time(event.get("timeUnixNano"), f"{where} time")),
            "name": self.text(event.get("name"), f"{where} name"),
            "attributes": self.attributes(event.get("attributes"), f"{where} attributes"),
            "droppedAttributesCount": self.integer(event.get("droppedAttributesCount"), f"{where} "
                                                   "droppedAttributesCount", _UINT32),
        })

    def link(self, link, where: str) -> dict:
        if not isinstance(link, dict):
            raise Rejected(f"{where} must be an object, got {type(link).__name__}")
        return _drop_none({
            "traceId": self.hex_id(link.get("traceId"), f"{where} traceId", _HEX32, True),
            "spanId": self.hex_id(link.get("spanId"), f"{where} spanId", _HEX16, True),
            "traceState": self.text(link.get("traceState"), f"{where} traceState", None),
            "attributes": self.attributes(link.get("attributes"), f"{where} attributes"),
            "droppedAttributesCount": self.integer(link.get("droppedAttributesCount"), f"{where} "
                                                   "droppedAttributesCount", _UINT32),
            "flags": self.integer(link.get("flags"), f"{where} flags", _UINT32),
        })

    def span(self, span) -> dict:
        if not isinstance(span, dict):
            raise Rejected(f"a span must be an object, got {type(span).__name__}")
        events = _listed(span.get("events"), "events", self.limits.max_events)
        links = _listed(span.get("links"), "links", self.limits.max_links)
        self.tally(len(events) + len(links))
        status = span.get("status")
        if status is not None and not isinstance(status, dict):
            raise Rejected(f"status must be an object, got {type(status).__name__}")
        status = status or {}
        return _drop_none({
            "traceId": self.hex_id(span.get("traceId"), "traceId", _HEX32, True),
            "spanId": self.hex_id(span.get("spanId"), "spanId", _HEX16, True),
            "parentSpanId": self.hex_id(span.get("parentSpanId"), "parentSpanId", _HEX16, False),
            "traceState": self.text(span.get("traceState"), "traceState", None),
            "flags": self.integer(span.get("flags"), "flags", _UINT32),
            "name": self.text(span.get("name"), "name"),
            "kind": self.enum(span.get("kind"), "kind", SPAN_KINDS),
            "startTimeUnixNano": _str(self.time(span.get("startTimeUnixNano"), "startTimeUnixNano")),
            "endTimeUnixNano": _str(self.time(span.get("endTimeUnixNano"), "endTimeUnixNano")),
            "attributes": self.attributes(span.get("attributes"), "attributes"),
            "droppedAttributesCount": self.integer(span.get("droppedAttributesCount"), "droppedAttributesCount",
                                                   _UINT32),
            "events": [self.event(e, f"event {i}") for i, e in enumerate(events)],
            "droppedEventsCount": self.integer(span.get("droppedEventsCount"), "droppedEventsCount", _UINT32),
            "links": [self.link(ln, f"link {i}") for i, ln in enumerate(links)],
            "droppedLinksCount": self.integer(span.get("droppedLinksCount"), "droppedLinksCount", _UINT32),
            "status": _drop_none({"message": self.text(status.get("message"), "status message", None),
                                  "code": self.enum(status.get("code"), "status code", STATUS_CODES)}),
        })

    def scope(self, scope) -> dict:
        if scope is None:
            return {}
        if not isinstance(scope, dict):
            raise Rejected(f"the scope must be an object, got {type(scope).__name__}")
        return _drop_none({
            "name": self.text(scope.get("name"), "the scope's name", None),
            "version": self.text(scope.get("version"), "the scope's version", None),
            "attributes": self.attributes(scope.get("attributes"), "the scope's attributes"),
        })

    def resource(self, resource) -> dict:
        if resource is None:
            return {}
        if not isinstance(resource, dict):
            raise Rejected(f"the resource must be an object, got {type(resource).__name__}")
        return _drop_none({"attributes": self.attributes(resource.get("attributes"), "the resource's attributes")})


def _listed(value, what: str, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Rejected(f"{what} must be a list, got {type(value).__name__}")
    if len(value) > limit:
        raise Rejected(f"{len(value)} {what} (limit {limit})")
    return value


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _drop_none(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None and v != [] and v != {}}


def _span_label(span) -> str:
    span_id = span.get("spanId") if isinstance(span, dict) else None
    return f"span {span_id}" if isinstance(span_id, str) and _HEX16.match(span_id) else "a span"


def screen(request, limits: Limits) -> Screened:
    """The accepted part of ``request`` (a decoded ExportTraceServiceRequest), with counts and reasons."""
    if not isinstance(request, dict):
        raise BadRequest(f"not an ExportTraceServiceRequest: the body is {type(request).__name__}, expected an object")
    check = _Checker(limits)
    out = Screened({"resourceSpans": []})
    reasons: dict[str, None] = {}  # distinct, in order

    def reject(count: int, reason: str) -> None:
        out.rejected += count
        if len(reasons) < MAX_REASONS:
            reasons.setdefault(reason)

    for i, rs in enumerate(_items(request.get("resourceSpans"), "resourceSpans")):
        rs = _object(rs, f"resourceSpans[{i}]")
        scope_spans = _items(rs.get("scopeSpans"), f"resourceSpans[{i}].scopeSpans")
        kept_scopes = []
        resource_problem = ""
        try:
            resource = check.resource(rs.get("resource"))
            schema = check.text(rs.get("schemaUrl"), "the resource's schemaUrl", None)
        except Rejected as exc:
            resource = None
            resource_problem = str(exc)
        for j, ss in enumerate(scope_spans):
            ss = _object(ss, f"resourceSpans[{i}].scopeSpans[{j}]")
            spans = _items(ss.get("spans"), f"resourceSpans[{i}].scopeSpans[{j}].spans")
            check.tally(len(spans))
            if resource is None:
                reject(len(spans), resource_problem)
                continue
            try:
                scope = check.scope(ss.get("scope"))
                scope_schema = check.text(ss.get("schemaUrl"), "the scope's schemaUrl", None)
            except Rejected as exc:
                reject(len(spans), str(exc))
                continue
            kept = []
            for span in spans:
                try:
                    kept.append(check.span(span))
                except Rejected as exc:
                    reject(1, f"{_span_label(span)}: {exc}")
            if kept:
                out.accepted += len(kept)
                kept_scopes.append(_drop_none({"scope": scope, "schemaUrl": scope_schema, "spans": kept}))
        if kept_scopes:
            out.request["resourceSpans"].append(
                _drop_none({"resource": resource, "schemaUrl": schema, "scopeSpans": kept_scopes}))
    out.reasons = list(reasons)
    return out
