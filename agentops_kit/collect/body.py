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


def decode(body: bytes, media: str):
    """The request as the OTLP/JSON-shaped structure the screening reads (hex ids, 64-bit values as text)."""
    if media == JSON:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, f"the body is not valid JSON: {exc}") from None
    from ..readers.otlp_proto import decode_request

    try:
        return decode_request(body)
    except Exception as exc:  # noqa: BLE001  (any failure to decode an untrusted body is the body's fault)
        raise BodyError(400, f"the body is not a protobuf ExportTraceServiceRequest: {exc}") from None


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
