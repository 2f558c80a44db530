"""A request body as OTLP/HTTP carries it: its media type, its content encoding, its decoding; and the answers
in the request's own encoding (``ExportTraceServiceResponse`` on success, ``google.rpc.Status`` on failure)."""

from __future__ import annotations

import zlib

import orjson

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
ENCODINGS = ("gzip", "x-gzip", "deflate", "identity", "")

# gRPC status codes carried in google.rpc.Status (the OTLP/HTTP error body)
INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAUTHENTICATED, UNAVAILABLE, NOT_FOUND, UNIMPLEMENTED = 3, 8, 16, 14, 5, 12


class BodyError(Exception):
    """A request answered with ``status`` (400, 413, 415) and this message."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its content encoding, refused (413) once it would grow past ``limit`` bytes: a small
    compressed body cannot be made to fill memory."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, zlib.decompressobj(wbits=31), limit, encoding)
    if encoding == "deflate":  # RFC 9110 means zlib-wrapped; some clients send raw deflate
        try:
            return _inflate(body, zlib.decompressobj(wbits=15), limit, encoding)
        except BodyError as exc:
            if exc.status == 413:
                raise
            return _inflate(body, zlib.decompressobj(wbits=-15), limit, encoding)
    raise BodyError(415, f"Content-Encoding {encoding!r} is not supported (use gzip, deflate or none)")


def _inflate(body: bytes, inflater, limit: int, encoding: str) -> bytes:
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, f"the body is not valid {encoding} data: {exc}") from None
    if len(data) > limit:
        raise BodyError(413, f"the body decompresses to more than {limit} bytes (the limit)")
    if not inflater.eof:
        raise BodyError(400, f"the {encoding} body is truncated")
    return data


def decode(body: bytes, media: str, max_values: int):
    """The request as the OTLP/JSON-shaped structure the screening reads (hex ids, 64-bit values as text).
    A protobuf request is counted before it is turned into Python objects (413 beyond ``max_values``)."""
    if media == JSON:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, f"the body is not valid JSON: {exc}") from None
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from ..readers.otlp_proto import to_document

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # any failure to parse an untrusted body is the body's fault (upb: DecodeError)
        raise BodyError(400, f"the body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    count_values(request, max_values)
    return to_document(request)


def count_values(request, limit: int) -> None:
    """BodyError 413 once the parsed ``request`` holds more than ``limit`` spans, attributes, events, links and
    nested values (counting stops there, so its cost is bounded too)."""
    seen = 0
    lists = []  # repeated KeyValue / AnyValue fields still to look into
    for rs in request.resource_spans:
        lists.append(rs.resource.attributes)
        for ss in rs.scope_spans:
            lists.append(ss.scope.attributes)
            seen += len(ss.spans)
            for span in ss.spans:
                lists.append(span.attributes)
                seen += len(span.events) + len(span.links)
                lists.extend(e.attributes for e in span.events)
                lists.extend(k.attributes for k in span.links)
                if seen > limit:
                    break
    while lists and seen <= limit:
        items = lists.pop()
        seen += len(items)
        if seen > limit:
            break
        for item in items:
            value = item.value if hasattr(item, "key") else item  # a KeyValue's value, or an array's AnyValue
            kind = value.WhichOneof("value")
            if kind == "array_value":
                lists.append(value.array_value.values)
            elif kind == "kvlist_value":
                lists.append(value.kvlist_value.values)
    if seen > limit:
        raise BodyError(413, f"the request holds more than {limit} spans, attributes, events, links and values "
                             "(the limit): send smaller batches")


def success(media: str, rejected: int = 0, message: str = "") -> bytes:
    """An ExportTraceServiceResponse; with a partial success when spans were rejected."""
    if media == JSON:
        if not rejected and not message:
            return b"{}"
        return orjson.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}})
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response.SerializeToString()


def status(media: str, code: int, message: str) -> bytes:
    """A google.rpc.Status (code and message) in the request's encoding; JSON for any other media type."""
    if media != PROTOBUF:
        return orjson.dumps({"code": code, "message": message})
    # two fields: 1 (varint) code, 2 (length-delimited) message; written here rather than pulling in
    # googleapis-common-protos for one message
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
