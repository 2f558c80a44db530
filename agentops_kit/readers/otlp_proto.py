"""OpenTelemetry OTLP in its protobuf encoding: one request body (``decode_request``), and files as the
Collector's file exporter writes them with ``format: proto``.

A request is decoded by ``opentelemetry-proto`` and turned into the dict the OTLP/JSON reader reads
(``otlp.read_document``), shaped as the Collector's JSON encoder writes it: hex ids, 64-bit integers as
strings, span kind and status code as numbers, fields at their default value left out.

The file exporter writes each ExportTraceServiceRequest preceded by its size as a 4-byte big-endian
unsigned integer. With ``compression: zstd`` each message is a zstd frame of its own (the exporter's
default), or, with its native-compression feature gate, the whole file is one zstd stream of the framed
messages. Both are read here, and so are messages holding JSON (the exporter frames JSON the same way
when it compresses it) and whole files compressed with gzip or zstd (undone before this reader runs).
"""

from __future__ import annotations

import base64
import gzip
import zlib

import orjson

from ..conventions import Conventions
from ..errors import AgentOpsError
from ..files import GZIP_MAGIC, ZSTD_MAGIC, ZstdProblem, zstd_decompress
from ..model import RejectReason
from . import otlp
from .collector import Collector

PREFIX = 4  # bytes of the big-endian size before each message


class BadRequest(AgentOpsError):
    """A body that is not a serialized ExportTraceServiceRequest."""


def _request_type():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return ExportTraceServiceRequest


def _any_value(v) -> dict:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return {"stringValue": v.string_value}
    if kind == "bool_value":
        return {"boolValue": v.bool_value}
    if kind == "int_value":
        return {"intValue": str(v.int_value)}
    if kind == "double_value":
        return {"doubleValue": v.double_value}
    if kind == "array_value":
        return {"arrayValue": {"values": [_any_value(x) for x in v.array_value.values]}}
    if kind == "kvlist_value":
        return {"kvlistValue": {"values": _attributes(v.kvlist_value.values)}}
    if kind == "bytes_value":
        return {"bytesValue": base64.b64encode(v.bytes_value).decode()}
    return {}


def _attributes(items) -> list:
    return [{"key": kv.key, "value": _any_value(kv.value)} for kv in items]


def _with_attributes(out: dict, message) -> dict:
    if message.attributes:
        out["attributes"] = _attributes(message.attributes)
    if message.dropped_attributes_count:
        out["droppedAttributesCount"] = message.dropped_attributes_count
    return out


def _span(s) -> dict:
    out: dict = {"traceId": s.trace_id.hex(), "spanId": s.span_id.hex()}
    if s.trace_state:
        out["traceState"] = s.trace_state
    if s.parent_span_id:
        out["parentSpanId"] = s.parent_span_id.hex()
    if s.flags:
        out["flags"] = s.flags
    out["name"] = s.name
    if s.kind:
        out["kind"] = s.kind
    out["startTimeUnixNano"] = str(s.start_time_unix_nano)
    out["endTimeUnixNano"] = str(s.end_time_unix_nano)
    _with_attributes(out, s)
    if s.events:
        out["events"] = [_with_attributes({"timeUnixNano": str(e.time_unix_nano), "name": e.name}, e)
                         for e in s.events]
    if s.dropped_events_count:
        out["droppedEventsCount"] = s.dropped_events_count
    if s.links:
        out["links"] = [_with_attributes({"traceId": k.trace_id.hex(), "spanId": k.span_id.hex()}, k)
                        for k in s.links]
    if s.dropped_links_count:
        out["droppedLinksCount"] = s.dropped_links_count
    status: dict = {}
    if s.status.message:
        status["message"] = s.status.message
    if s.status.code:
        status["code"] = s.status.code
    out["status"] = status
    return out


def _scope_spans(ss) -> dict:
    out: dict = {"scope": {}}
    if ss.scope.name:
        out["scope"]["name"] = ss.scope.name
    if ss.scope.version:
        out["scope"]["version"] = ss.scope.version
    _with_attributes(out["scope"], ss.scope)
    out["spans"] = [_span(s) for s in ss.spans]
    if ss.schema_url:
        out["schemaUrl"] = ss.schema_url
    return out


def to_document(request) -> dict:
    """A decoded ExportTraceServiceRequest as the OTLP/JSON-shaped dict."""
    resource_spans = []
    for rs in request.resource_spans:
        item: dict = {"resource": _with_attributes({}, rs.resource),
                      "scopeSpans": [_scope_spans(ss) for ss in rs.scope_spans]}
        if rs.schema_url:
            item["schemaUrl"] = rs.schema_url
        resource_spans.append(item)
    return {"resourceSpans": resource_spans}


def decode_request(body: bytes) -> dict:
    """One serialized ExportTraceServiceRequest -> the OTLP/JSON-shaped dict ``otlp.read_document`` reads
    (hex ids). Raises ``BadRequest`` (an AgentOpsError) naming the problem when the body is not one."""
    from google.protobuf.message import DecodeError

    request = _request_type()()
    try:
        request.ParseFromString(bytes(body))
    except (DecodeError, RuntimeError, ValueError) as exc:  # upb raises DecodeError; older runtimes differ
        raise BadRequest(f"not a protobuf ExportTraceServiceRequest: {exc or 'cannot be parsed'}") from exc
    return to_document(request)


def _unpack(payload: bytes) -> bytes:
    """A message as the exporter compressed it on its own (zstd frame or gzip member), else as it is."""
    if payload[:4] == ZSTD_MAGIC:
        return zstd_decompress(payload)
    if payload[:2] == GZIP_MAGIC:
        return gzip.decompress(payload)
    return payload


def messages(data: bytes):
    """(1-based message number, payload, problem) for each size-prefixed message; a file cut inside a
    message ends with a problem and no payload."""
    pos, number, size = 0, 0, len(data)
    while pos < size:
        number += 1
        if size - pos < PREFIX:
            yield number, None, f"the file ends inside the size of message {number}"
            return
        length = int.from_bytes(data[pos:pos + PREFIX], "big")
        start = pos + PREFIX
        if start + length > size:
            yield number, None, (f"message {number} is {length} bytes but the file ends {size - start} bytes "
                                 "after its size: the file is truncated or not size-prefixed protobuf")
            return
        yield number, data[start:start + length], None
        pos = start + length


class _Sink:
    """Where decoded requests go: as JSON lines through the compiled decoder when it can read for these
    conventions (the rows are the ones the Python reader would give: ``otlp_fast``), else to the Python reader.
    A line's number is its message's number."""

    BATCH = 8 << 20  # bytes of JSON lines handed to the decoder at a time

    def __init__(self, col: Collector, conv: Conventions, file: str):
        from . import otlp_fast

        self.col, self.conv, self.file = col, conv, file
        self.reader = otlp_fast.Reader(col, conv, file) if otlp_fast.available(conv) else None
        self.lines: list[bytes] = []
        self.size, self.first = 0, 1

    def document(self, doc: dict, number: int) -> None:
        if self.reader is None:
            otlp.read_document(self.col, self.conv, doc, self.file, number)
            return
        if not self.lines:
            self.first = number
        line = orjson.dumps(doc)
        self.lines.append(line)
        self.size += len(line)
        if self.size >= self.BATCH:
            self.flush()

    def json_line(self, body: bytes, number: int) -> None:
        self.flush()
        otlp.read_line(self.col, self.conv, body, self.file, number)

    def reject(self, reason: RejectReason, text: str, number: int) -> None:
        self.flush()
        self.col.reject(self.file, reason, text, line=number)

    def flush(self) -> None:
        """Decode the waiting lines, so that whatever comes next is added after their rows."""
        if self.reader is not None:
            if self.lines:
                self.reader.line = self.first
                self.reader.decode(b"\n".join(self.lines) + b"\n")
                self.lines, self.size = [], 0
            self.reader.flush()


def read_message(sink: _Sink, payload: bytes, number: int) -> None:
    """One framed message: protobuf, or JSON (the exporter frames compressed JSON the same way)."""
    try:
        body = _unpack(payload)
    except (zlib.error, EOFError, OSError, ZstdProblem) as exc:
        sink.reject(RejectReason.NOT_OTLP, f"message {number}: its compressed data is corrupt ({exc})", number)
        return
    if body.lstrip()[:1] == b"{":
        sink.json_line(body, number)
        return
    try:
        doc = decode_request(body)
    except BadRequest as exc:
        sink.reject(RejectReason.NOT_OTLP, f"message {number}: {exc}", number)
        return
    sink.document(doc, number)


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    """A file of size-prefixed messages (``line`` of a step or a rejected record: the message number)."""
    sink = _Sink(col, conv, file)
    for number, payload, problem in messages(data):
        if problem is not None:
            sink.reject(RejectReason.TRUNCATED_FILE, problem, number)
            break
        read_message(sink, payload, number)
    sink.flush()
