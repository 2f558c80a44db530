"""OTLP protobuf: request bodies decoded by opentelemetry-proto, and files as the Collector's file exporter writes
them with ``format: proto`` (size-prefixed messages; plain, per-message zstd, whole-file zstd or gzip). Each
protobuf file is made in the test from a real OTLP/JSON file and must load to the same runs and steps."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import orjson
import polars as pl
import pytest
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import agentops_kit as ak
from agentops_kit.files import iter_lines, read_bytes, read_head
from agentops_kit.readers import otlp_proto
from agentops_kit.readers.detect import detect

from .conftest import SAMPLE, THIRD_PARTY, otlp_line, otlp_span

REAL_JSON = [
    SAMPLE / "traces.otlp.jsonl.gz",
    THIRD_PARTY / "otel" / "spec_file-exporter_example_traces.jsonl",
    THIRD_PARTY / "otel" / "opentelemetry-proto_examples_trace.json",
]


def _b64_ids(doc: dict) -> dict:
    """OTLP/JSON (hex ids) -> protobuf's JSON mapping (base64 bytes), for json_format."""
    for rs in doc.get("resourceSpans") or []:
        for ss in rs.get("scopeSpans") or []:
            for span in ss.get("spans") or []:
                for item in [span, *(span.get("links") or [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if item.get(key):
                            item[key] = base64.b64encode(bytes.fromhex(item[key])).decode()
    return doc


def to_request(json_line: bytes) -> ExportTraceServiceRequest:
    return json_format.ParseDict(_b64_ids(orjson.loads(json_line)), ExportTraceServiceRequest())


def json_documents(path: Path) -> list[bytes]:
    data = read_bytes(path)[0]
    if data.lstrip()[:1] == b"{" and b"\n{" not in data.strip():
        return [data]  # one pretty-printed request
    return [line for _, line in iter_lines(data)]


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def write_proto(path: Path, docs: list[bytes], compression: str = "none") -> Path:
    """As the file exporter writes: per-message zstd is its default with ``compression: zstd``; ``stream``
    is its native-compression gate (one zstd stream over the framed messages)."""
    bodies = [to_request(d).SerializeToString() for d in docs]
    if compression == "zstd":
        bodies = [zstandard.ZstdCompressor().compress(b) for b in bodies]
    data = b"".join(frame(b) for b in bodies)
    if compression == "stream":
        data = zstandard.ZstdCompressor().compress(data)
    elif compression == "gzip":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def canonical(ts, file: str) -> dict[str, pl.DataFrame]:
    """Tables without what names the file (the synthetic ids of empty spec ids carry its path)."""
    out = {}
    for name in ("runs", "steps", "sources", "labels"):
        frame = getattr(ts, name).collect()
        frame = frame.drop([c for c in ("source_file",) if c in frame.columns])
        frame = frame.with_columns(pl.col(pl.String).str.replace_all(file, "FILE", literal=True))
        out[name] = frame.sort(frame.columns[:2], nulls_last=True)
    return out


@pytest.mark.parametrize("source", REAL_JSON, ids=lambda p: p.name)
@pytest.mark.parametrize("compression", ["none", "zstd", "stream", "gzip"])
def test_protobuf_files_load_to_the_runs_and_steps_of_their_json_twins(tmp_path, source, compression):
    if compression != "none" and source != REAL_JSON[0]:
        pytest.skip("compressions are checked on the sample; each real file plain")
    proto = write_proto(tmp_path / "traces.binpb", json_documents(source), compression)
    assert detect(read_head(proto)[:65536], proto.name) == "otlp_proto"
    by_json, by_proto = ak.load_traces(source), ak.load_traces(proto)
    assert by_proto.rejected.collect().height == by_json.rejected.collect().height == 0
    a, b = canonical(by_json, str(source)), canonical(by_proto, str(proto))
    assert a["runs"].height > 0 and a["steps"].height > 0
    for name in a:
        if name == "runs":  # the format column names the reader
            assert set(b[name]["format"]) == {"otlp_proto"}
            a[name], b[name] = a[name].drop("format"), b[name].drop("format")
        assert a[name].equals(b[name]), name


def test_decode_request_gives_the_json_shape_with_hex_ids():
    line = otlp_line(otlp_span(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331",
                               parent="00f067aa0ba902b7", attrs={"n": {"intValue": "7"}, "x": {"doubleValue": 0.5},
                                                                 "l": {"arrayValue": {"values": [{"boolValue": True}]}}},
                               status={"code": 2, "message": "boom"}))
    doc = otlp_proto.decode_request(to_request(line.encode()).SerializeToString())
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "0af7651916cd43dd8448eb211c80319c" and span["spanId"] == "b7ad6b7169203331"
    assert span["parentSpanId"] == "00f067aa0ba902b7" and span["startTimeUnixNano"] == "1700000000000000000"
    assert span["status"] == {"code": 2, "message": "boom"}
    attrs = {kv["key"]: kv["value"] for kv in span["attributes"]}
    assert attrs == {"n": {"intValue": "7"}, "x": {"doubleValue": 0.5}, "l": {"arrayValue": {"values": [{"boolValue": True}]}}}
    assert doc["resourceSpans"][0]["resource"]["attributes"][0] == {"key": "service.name", "value": {"stringValue": "svc"}}
    # the reverse mapping of the protobuf JSON (base64 ids) gives back the same request
    again = to_request(orjson.dumps(doc))
    assert again == to_request(line.encode())


def test_bodies_that_are_not_a_request_are_refused_with_a_reason():
    assert otlp_proto.decode_request(b"") == {"resourceSpans": []}  # an empty request is a valid one
    for body in (b"\x0a\xff\xff\xff\xff\x0f", b"not protobuf at all", b"\x12"):
        with pytest.raises(otlp_proto.BadRequest, match="not a protobuf ExportTraceServiceRequest"):
            otlp_proto.decode_request(body)


def test_a_cut_or_corrupt_protobuf_file_keeps_what_it_holds_and_says_where(tmp_path):
    docs = json_documents(REAL_JSON[1])
    whole = write_proto(tmp_path / "whole.binpb", docs).read_bytes()
    cut = tmp_path / "cut.binpb"
    cut.write_bytes(whole[:-10])
    ts = ak.load_traces(cut, format="otlp_proto")
    rejected = ts.rejected.collect()
    assert rejected["reason_code"].to_list() == ["truncated_file"]
    assert f"message {len(docs)} is" in rejected["reason"][0] and "truncated" in rejected["reason"][0]
    assert ts.steps.collect().height == 2 * (len(docs) - 1)  # two spans per request in this file
    bad = tmp_path / "bad.binpb"
    bad.write_bytes(frame(b"\x0a\xff\xff\xff\xff\x0f") + whole)
    rejected = ak.load_traces(bad).rejected.collect()
    assert rejected["reason_code"].to_list() == ["not_otlp"] and rejected["line"].to_list() == [1]
    assert rejected["reason"][0].startswith("message 1: not a protobuf ExportTraceServiceRequest")


def test_zstd_json_files_are_read_too(tmp_path):
    """Whole-file zstd (the exporter's native compression, or zstd on the command line) for OTLP/JSON too."""
    source = REAL_JSON[1]
    zst = tmp_path / "traces.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(source.read_bytes()))
    a, b = canonical(ak.load_traces(source), str(source)), canonical(ak.load_traces(zst), str(zst))
    assert all(a[n].equals(b[n]) for n in a)
    cut = tmp_path / "cut.jsonl.zst"  # the sample: several zstd blocks, the cut one is lost, the others read
    cut.write_bytes(zstandard.ZstdCompressor().compress(read_bytes(SAMPLE / "traces.otlp.jsonl.gz")[0])[:-8])
    ts = ak.load_traces(cut)
    rejected = ts.rejected.collect()
    assert "zstd stream is truncated" in " ".join(rejected["reason"].to_list())
    assert 0 < ts.steps.collect().height < ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz").steps.collect().height


def test_without_the_compiled_decoder_protobuf_files_read_the_same(tmp_path, monkeypatch):
    """Decoded requests go through the compiled decoder as JSON lines when it is built, else the Python reader."""
    from agentops_kit.readers import otlp_fast

    proto = write_proto(tmp_path / "traces.binpb", json_documents(REAL_JSON[0]))
    bad = tmp_path / "bad.binpb"  # a message that is not a request between good ones: rows stay in order
    first = write_proto(tmp_path / "first.binpb", json_documents(REAL_JSON[0])[:5]).read_bytes()
    bad.write_bytes(first + frame(b"\x0a\xff\xff\xff\xff\x0f") + proto.read_bytes())
    for path in (proto, bad):
        compiled = ak.load_traces(path)
        with monkeypatch.context() as m:
            m.setattr(otlp_fast, "native", None)
            python = ak.load_traces(path)
        for name in ("runs", "steps", "sources", "labels", "rejected"):
            assert getattr(compiled, name).collect().equals(getattr(python, name).collect()), (path.name, name)
