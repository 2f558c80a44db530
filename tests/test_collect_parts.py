"""The receiver's parts on their own: span screening against hostile payloads, body decoding under limits, the
answers' encodings, and the spool's durability rules."""

from __future__ import annotations

import gzip
import json
import zlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentops_kit.collect import Limits
from agentops_kit.collect import body as wire
from agentops_kit.collect.screen import BadRequest, screen
from agentops_kit.collect.spool import Spool
from agentops_kit.errors import UsageError

from .conftest import otlp_span


def request(*spans, resource_attrs=None):
    return {"resourceSpans": [{
        "resource": {"attributes": resource_attrs or [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
    }]}


def nested(depth: int) -> dict:
    value: dict = {"stringValue": "bottom"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


GOOD = otlp_span(attrs={"gen_ai.operation.name": {"stringValue": "chat"}, "n": {"intValue": "3"}})
SMALL = Limits(max_attributes=4, max_string_chars=100, max_depth=5, max_events=2, max_links=2)


def test_a_valid_span_passes_as_the_otlp_json_reader_reads_it():
    out = screen(request(GOOD), Limits())
    assert (out.accepted, out.rejected, out.message()) == (1, 0, "")
    [span] = out.request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["traceId"] == "a" * 32 and span["spanId"] == "b" * 16
    assert span["startTimeUnixNano"] == "1700000000000000000"
    assert {"key": "n", "value": {"intValue": "3"}} in span["attributes"]
    assert out.request["resourceSpans"][0]["resource"]["attributes"][0]["key"] == "service.name"


@pytest.mark.parametrize(("change", "reason"), [
    ({"traceId": "zz"}, "traceId 'zz' is not 32 hex digits"),
    ({"traceId": "q80AAAAAAAAAAAAAAAAAAA=="}, "not 32 hex digits (OTLP/JSON ids are hex, not base64)"),
    ({"spanId": "0" * 16}, "spanId is all zeros"),
    ({"spanId": None}, "spanId is missing"),
    ({"parentSpanId": 12}, "parentSpanId 12 is not 16 hex digits"),
    ({"name": 5}, "name must be a string, got int"),
    ({"name": "x" * 101}, "name is 101 characters long (limit 100)"),
    ({"startTimeUnixNano": "1.7e18"}, "startTimeUnixNano must be an integer, got '1.7e18'"),
    ({"startTimeUnixNano": "1700000000"}, "is not nanoseconds since the epoch (it looks like seconds)"),
    ({"endTimeUnixNano": str(2**64)}, "endTimeUnixNano 18446744073709551616 is out of range"),
    ({"kind": 9}, "kind 9 is none of SPAN_KIND_UNSPECIFIED"),
    ({"status": {"code": "BROKEN"}}, "status code 'BROKEN' is none of"),
    ({"status": "error"}, "status must be an object, got str"),
    ({"attributes": "k=v"}, "attributes must be a list, got str"),
    ({"attributes": [{"key": f"k{i}", "value": {}} for i in range(5)]}, "attributes has 5 entries (limit 4)"),
    ({"attributes": [{"value": {"stringValue": "v"}}]}, "attributes: an entry has no 'key'"),
    ({"attributes": [{"key": "k", "value": {"stringValue": "v", "intValue": "1"}}]}, "sets 2 kinds of value"),
    ({"attributes": [{"key": "k", "value": {"intValue": "12abc"}}]}, "'k' intValue must be an integer"),
    ({"attributes": [{"key": "k", "value": {"intValue": str(2**63)}}]}, "out of range"),
    ({"attributes": [{"key": "k", "value": {"boolValue": "yes"}}]}, "boolValue must be true or false"),
    ({"attributes": [{"key": "k", "value": {"doubleValue": [1]}}]}, "doubleValue must be a number"),
    ({"attributes": [{"key": "k", "value": {"mapValue": {}}}]}, "unknown kind of value 'mapValue'"),
    ({"attributes": [{"key": "k", "value": nested(6)}]}, "nests values more than 5 deep"),
    ({"attributes": [{"key": "k", "value": {"stringValue": "v" * 101}}]}, "'k' is 101 characters long"),
    ({"events": [{}, {}, {}]}, "3 events (limit 2)"),
    ({"events": [{"name": "exception", "timeUnixNano": "12"}]}, "event 0 time 12 is not nanoseconds"),
    ({"links": [{"traceId": "a" * 32}]}, "link 0 spanId is missing"),
])
def test_a_hostile_or_broken_span_is_rejected_alone_with_its_reason(change, reason):
    bad = {**otlp_span(span_id="c" * 16), **change}
    out = screen(request(GOOD, bad), SMALL)
    assert (out.accepted, out.rejected) == (1, 1)
    assert reason in out.message(), out.message()
    assert out.message().startswith("1 span(s) rejected: ")
    assert [s["spanId"] for s in out.request["resourceSpans"][0]["scopeSpans"][0]["spans"]] == ["b" * 16]


def test_nesting_up_to_the_limit_and_special_doubles_pass():
    ok = otlp_span(attrs={"deep": nested(4), "nan": {"doubleValue": "NaN"}, "big": {"intValue": str(2**63 - 1)},
                          "inf": {"doubleValue": float("-inf")}})
    out = screen(request(ok), SMALL)
    assert out.rejected == 0, out.message()
    attrs = {kv["key"]: kv["value"] for kv in out.request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]}
    assert attrs["inf"] == {"doubleValue": "-Infinity"} and orjson.loads(orjson.dumps(attrs))["nan"] == {
        "doubleValue": "NaN"}


def test_a_bad_resource_rejects_its_spans_and_reasons_are_capped():
    resource = [{"key": "service.name", "value": {"stringValue": "x" * 101}}]
    out = screen(request(GOOD, otlp_span(span_id="c" * 16), resource_attrs=resource), SMALL)
    assert (out.accepted, out.rejected, out.request) == (0, 2, {"resourceSpans": []})
    assert "the resource's attributes 'service.name' is 101 characters long" in out.message()
    many = [otlp_span(span_id=f"{i + 1:016x}", name=i) for i in range(9)]
    out = screen(request(*many), SMALL)
    assert out.rejected == 9 and out.message().count("name must be a string") == 5
    assert out.message().endswith("(first reasons only)")


@pytest.mark.parametrize(("body", "reason"), [
    ([], "the body is list, expected an object"),
    ({"resourceSpans": {}}, "resourceSpans is dict, expected a list"),
    ({"resourceSpans": ["x"]}, "resourceSpans[0] is str, expected an object"),
    ({"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}, "resourceSpans[0].scopeSpans[0].spans is int"),
])
def test_a_request_of_the_wrong_shape_is_refused_whole(body, reason):
    with pytest.raises(BadRequest, match=reason.replace("[", r"\[").replace("]", r"\]")):
        screen(body, Limits())


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                               st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId",
                                                "attributes", "key", "value", "stringValue", "arrayValue",
                                                "values", "status", "code", "events", "name", "resource"]),
                               inner, max_size=5), max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_any_json_is_screened_or_refused_never_a_crash(value):
    try:
        out = screen(value, SMALL)
    except BadRequest:
        return
    # what is accepted is JSON again, and screens to itself
    again = screen(orjson.loads(orjson.dumps(out.request)), SMALL)
    assert (again.accepted, again.rejected) == (out.accepted, 0)


def test_bodies_inflate_within_the_limit_and_bombs_are_stopped():
    data = json.dumps(request(GOOD)).encode()
    assert wire.inflate(gzip.compress(data), "gzip", 10_000) == data
    assert wire.inflate(zlib.compress(data), "deflate", 10_000) == data
    raw = zlib.compressobj(wbits=-15)
    assert wire.inflate(raw.compress(data) + raw.flush(), "deflate", 10_000) == data
    bomb = gzip.compress(b"0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(wire.BodyError, match="decompresses to more than 1000000 bytes") as caught:
        wire.inflate(bomb, "gzip", 1_000_000)
    assert caught.value.status == 413
    for bad, encoding, status in ((b"not gzip", "gzip", 400), (gzip.compress(data)[:-12], "gzip", 400),
                                  (data, "br", 415)):
        with pytest.raises(wire.BodyError) as caught:
            wire.inflate(bad, encoding, 10_000)
        assert caught.value.status == status


def test_answers_decode_as_the_otlp_messages():
    from google.rpc.status_pb2 import Status
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    assert wire.success(wire.PROTOBUF) == b"" and wire.success(wire.JSON) == b"{}"
    response = ExportTraceServiceResponse.FromString(wire.success(wire.PROTOBUF, 3, "3 span(s) rejected: x"))
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (
        3, "3 span(s) rejected: x")
    assert orjson.loads(wire.success(wire.JSON, 3, "m")) == {"partialSuccess": {"rejectedSpans": "3",
                                                                                 "errorMessage": "m"}}
    long = "é" * 300  # a message longer than one varint byte, not ASCII
    status = Status.FromString(wire.status(wire.PROTOBUF, wire.UNAVAILABLE, long))
    assert (status.code, status.message) == (14, long)
    assert orjson.loads(wire.status("text/plain", 3, "m")) == {"code": 3, "message": "m"}


def test_the_spool_syncs_before_answering_cuts_a_torn_tail_and_has_one_owner(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.start()
    futures = [spool.submit(b'{"n": %d}\n' % i) for i in range(50)]
    for future in futures:
        future.result(timeout=10)
    [segment] = spool.seal()
    assert segment.read_bytes().count(b"\n") == 50 and spool.pending_bytes == segment.stat().st_size
    spool.submit(b'{"n": 50}\n').result(timeout=10)
    with pytest.raises(UsageError, match="the spool is in use by another receiver"):
        Spool(tmp_path / "spool")
    spool.release()

    second = sorted((tmp_path / "spool").glob("*.otlp.jsonl"))[1]
    with second.open("ab") as handle:  # a kill in the middle of a write
        handle.write(b'{"n": 51, "torn')
    again = Spool(tmp_path / "spool")
    segments = again.segments()
    assert segments == [segment, second]
    assert second.read_bytes() == b'{"n": 50}\n'
    again.remove([segment])
    assert again.segments() == [second] and again.pending_bytes == len(b'{"n": 50}\n')
    again.release()


def test_limits_must_be_positive_integers():
    with pytest.raises(UsageError, match="limit max_depth must be a positive integer, got 0"):
        Limits(max_depth=0)


def test_a_request_of_too_many_values_is_refused_before_it_costs_memory():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    limits = Limits(max_values=1000)
    # two bytes per empty attribute in protobuf: 1,000,000 of them in 2 MB, refused before any is decoded
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x02" * 8
    for _ in range(1000):
        span.attributes.add()
    with pytest.raises(wire.BodyError, match="more than 1000 spans, attributes") as caught:
        wire.decode(message.SerializeToString(), wire.PROTOBUF, 1000)
    assert caught.value.status == 413
    nested_values = {"arrayValue": {"values": [{"intValue": "1"}] * 600}}
    for body in ({"resourceSpans": [{"scopeSpans": [{"spans": [1] * 1001}]}]},
                 request(otlp_span(attrs={"a": nested_values, "b": nested_values}))):
        with pytest.raises(wire.BodyError, match="more than 1000"):
            screen(body, limits)
    assert screen(request(otlp_span(attrs={"a": nested_values})), limits).accepted == 1
