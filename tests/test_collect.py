"""`agentops-kit collect`, a real receiver process: the OpenTelemetry SDK's exporter and hand-made requests in,
every OTLP/HTTP answer out, runs in the store within a commit interval, a drain on SIGTERM, and what a killed
receiver kept committed at its next start."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time
import urllib.error
import urllib.request

import orjson
import pytest
from click.testing import CliRunner

from agentops_kit.cli import main
from agentops_kit.collect import body as wire

from .collect_receiver import Receiver
from .conftest import otlp_line, otlp_span

TOKEN = "tok-" + "x" * 28


def post(url, body: bytes | None, content_type: str = wire.JSON, token: str | None = TOKEN, method: str = "POST",
         **headers):
    headers = {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def sdk_spans(runs: int, tag: str):
    """Finished spans from the real SDK: ``runs`` runs of an agent span with a model and a tool call."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{tag}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    for i in range(runs):
        with tracer.start_as_current_span(f"invoke_agent {tag}", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"agent-{tag}", "run": i}):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}):
                pass
            with tracer.start_as_current_span("execute_tool refund", attributes={
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "refund"}):
                pass
    provider.shutdown()
    return memory.get_finished_spans()


def as_otlp_json(spans, hex_ids: bool = True) -> bytes:
    """The SDK's own encoding of ``spans`` as OTLP/JSON (protobuf's JSON mapping, ids turned to hex)."""
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    doc = json_format.MessageToDict(encode_spans(spans))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span and hex_ids:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(doc).encode()


def stored(store):
    from agentops_kit.store import open_store

    ts = open_store(store)
    return ts.runs.collect(), ts.steps.collect()


def wait_for_runs(store, expected: set[str], timeout: float = 30):
    """The store's runs once it holds ``expected`` (trace ids), waiting for the receiver's commits."""
    deadline = time.monotonic() + timeout
    while True:
        if (store / "store.json").exists():
            runs, steps = stored(store)
            if expected <= set(runs["run_id"]):
                return runs, steps
        if time.monotonic() > deadline:
            raise AssertionError(f"the store did not get runs {sorted(expected)[:3]}... within {timeout} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def exposed(tmp_path_factory):
    """One receiver for the module: on every interface, so with a bearer token; small request limit."""
    folder = tmp_path_factory.mktemp("collect")
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    receiver = Receiver(folder / "store", "--host", "0.0.0.0", "--token-file", str(token_file),
                        "--commit-every", "0.3", "--max-request-mb", "0.25")
    with receiver:
        yield receiver


def test_the_sdk_exporter_protobuf_plain_and_gzip_lands_as_runs_in_the_store(exposed):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    expected = set()
    for compression, tag in ((Compression.NoCompression, "plain"), (Compression.Gzip, "gzip")):
        spans = sdk_spans(3, tag)
        expected |= {f"{s.context.trace_id:032x}" for s in spans}
        exporter = OTLPSpanExporter(endpoint=exposed.url, compression=compression,
                                    headers={"Authorization": f"Bearer {TOKEN}"})
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    runs, steps = wait_for_runs(exposed.store, expected)
    mine = steps.filter(steps["run_id"].is_in(list(expected)))
    assert mine.height == 18
    assert sorted(set(mine["kind"])) == ["agent", "llm", "tool"]
    assert set(mine.filter(mine["kind"] == "tool")["tool_name"]) == {"refund"}
    assert set(runs.filter(runs["run_id"].is_in(list(expected)))["agent"]) == {"agent-plain", "agent-gzip"}
    assert "exposed beyond this machine" in exposed.output()


def test_json_bodies_plain_and_gzip_are_received_and_answered_in_json(exposed):
    spans = sdk_spans(2, "json")
    status, headers, answer = post(exposed.url, as_otlp_json(spans))
    assert (status, headers["Content-Type"], answer) == (200, wire.JSON, b"{}")
    hand = otlp_line(otlp_span(trace_id="d" * 32, span_id="e" * 16, name="hand-made"))
    status, _, answer = post(exposed.url, gzip.compress(hand.encode()), Content_Encoding="gzip")
    assert (status, answer) == (200, b"{}")
    wait_for_runs(exposed.store, {f"{s.context.trace_id:032x}" for s in spans} | {"d" * 32})


def test_rejected_spans_are_a_partial_success_in_the_request_encoding(exposed):
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    request = encode_spans(sdk_spans(1, "partial"))
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02\x03"  # 3 bytes, not 8
    status, headers, answer = post(exposed.url, request.SerializeToString(), wire.PROTOBUF)
    assert (status, headers["Content-Type"]) == (200, wire.PROTOBUF)
    partial = ExportTraceServiceResponse.FromString(answer).partial_success
    assert partial.rejected_spans == 1
    assert "spanId '010203' is not 16 hex digits" in partial.error_message

    # JSON from a client that kept protobuf's base64 ids: every span rejected, and told why
    status, _, answer = post(exposed.url, as_otlp_json(sdk_spans(1, "b64"), hex_ids=False))
    assert status == 200
    partial = orjson.loads(answer)["partialSuccess"]
    assert partial["rejectedSpans"] == "3" and "ids are hex, not base64" in partial["errorMessage"]


def error(answer: bytes, media: str):
    if media == wire.PROTOBUF:
        from google.rpc.status_pb2 import Status

        status = Status.FromString(answer)
        return status.code, status.message
    doc = orjson.loads(answer)
    return doc["code"], doc["message"]


@pytest.mark.parametrize(("body", "media", "headers", "status", "reason"), [
    (b"\xff\xff\xff", wire.PROTOBUF, {}, 400, "not a protobuf ExportTraceServiceRequest"),
    (b'{"resourceSpans": [', wire.JSON, {}, 400, "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, wire.JSON, {}, 400, "not valid JSON"),  # nesting past the parser's limit
    (b'{"resourceSpans": {"a": 1}}', wire.JSON, {}, 400, "resourceSpans is dict, expected a list"),
    (b"not gzip", wire.JSON, {"Content-Encoding": "gzip"}, 400, "not valid gzip data"),
    (b"x" * 300_000, wire.JSON, {}, 413, "the limit is 262144"),
    (gzip.compress(b" " * 5_000_000), wire.JSON, {"Content-Encoding": "gzip"}, 413, "decompresses to more than"),
    (b"{}", "text/plain", {}, 415, "Content-Type 'text/plain' is not supported"),
    (b"{}", "application/grpc", {}, 415, "is not supported"),
    (b"{}", wire.JSON, {"Content-Encoding": "br"}, 415, "Content-Encoding 'br' is not supported"),
])
def test_bad_requests_get_the_otlp_status_and_a_reason(exposed, body, media, headers, status, reason):
    got, answer_headers, answer = post(exposed.url, body, media, **{k.replace("-", "_"): v for k, v in headers.items()})
    assert got == status
    code, message = error(answer, media)
    assert reason in message and code in (3, 8)


def test_paths_methods_and_tokens(exposed):
    assert post(exposed.url.replace("/v1/traces", "/v1/metrics"), b"{}")[0] == 404
    status, headers, answer = post(exposed.url, None, method="GET")
    assert (status, headers["Allow"]) == (405, "POST")
    assert "the receiver takes OTLP traces at POST /v1/traces" in error(answer, wire.JSON)[1]
    for token in (None, "wrong-" + "x" * 26, TOKEN + "x"):
        status, headers, answer = post(exposed.url, b"{}", token=token)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert error(answer, wire.JSON) == (16, "a bearer token is required (Authorization: Bearer <token>)")
    assert post(exposed.url, b"{}")[0] == 200


def test_off_loopback_without_a_token_or_with_a_weak_one_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["collect", "--into", str(tmp_path / "s"), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert result.output.startswith("error: --host 0.0.0.0 reaches beyond this machine: give --token-file")
    (tmp_path / "weak").write_text("short")
    result = CliRunner().invoke(main, ["collect", "--into", str(tmp_path / "s"), "--token-file",
                                       str(tmp_path / "weak")])
    assert result.exit_code == 2 and "expected one token of at least 16 characters" in result.output
    assert not (tmp_path / "s").exists()


def test_a_full_receiver_answers_429_and_503_with_retry_after(tmp_path):
    """One request at work at a time, and a spool that holds one request: the next ones are told to retry."""
    line = otlp_line(otlp_span(trace_id="1" * 32, span_id="2" * 16)).encode()
    with Receiver(tmp_path / "store", "--commit-every", "60", limits={"max_in_flight": 1,
                                                                       "max_pending_bytes": 1}) as receiver:
        held = socket.create_connection(("127.0.0.1", receiver.port))
        held.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(line) + line[:10])
        deadline = time.monotonic() + 10
        while True:  # the held request is at work once its headers are read (an empty request spools nothing)
            status, headers, answer = post(receiver.url, b"{}", token=None)
            if status == 429 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (status, headers["Retry-After"]) == (429, "1")
        assert "requests are at work" in error(answer, wire.JSON)[1]
        held.sendall(line[10:])
        assert held.recv(4096).startswith(b"HTTP/1.1 200 OK")
        held.close()
        status, headers, answer = post(receiver.url, line, token=None)
        assert (status, headers["Retry-After"]) == (503, "1")
        assert "wait for the store to take them" in error(answer, wire.JSON)[1]
        assert receiver.stop() == 0
    runs, _ = stored(tmp_path / "store")
    assert list(runs["run_id"]) == ["1" * 32]


def test_sigterm_drains_and_commits_and_a_killed_receiver_commits_its_spool_at_restart(tmp_path):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    store = tmp_path / "store"
    first, second = sdk_spans(2, "killed"), sdk_spans(2, "drained")
    with Receiver(store, "--commit-every", "60") as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.url)
        exporter.export(first)
        receiver.kill()
    assert not (store / "store.json").exists()
    [segment] = (tmp_path / "store.spool").glob("*.otlp.jsonl")
    assert segment.read_bytes().count(b"\n") == 1

    with Receiver(store, "--commit-every", "60") as receiver:
        assert "committing 1 segment(s) left in" in receiver.output()
        runs, _ = wait_for_runs(store, {f"{s.context.trace_id:032x}" for s in first})
        exporter = OTLPSpanExporter(endpoint=receiver.url)
        exporter.export(second)
        assert receiver.stop() == 0
        assert "stopped: 1 request(s), 6 span(s) received, 0 rejected; requests refused: none; all committed" in (
            receiver.output())
    runs, steps = stored(store)
    assert set(runs["run_id"]) == {f"{s.context.trace_id:032x}" for s in [*first, *second]}
    assert steps.height == 12
    assert list((tmp_path / "store.spool").glob("*.otlp.jsonl")) == []


def test_a_store_that_fails_its_commits_loses_nothing_the_spool_keeps_it(tmp_path):
    store = tmp_path / "store"
    first = otlp_line(otlp_span(trace_id="3" * 32, span_id="4" * 16)).encode()
    second = otlp_line(otlp_span(trace_id="5" * 32, span_id="6" * 16)).encode()
    with Receiver(store, "--commit-every", "0.2") as receiver:
        assert post(receiver.url, first, token=None)[0] == 200
        wait_for_runs(store, {"3" * 32})
        good = (store / "store.json").read_bytes()
        (store / "store.json").write_text("{ damaged")
        assert post(receiver.url, second, token=None)[0] == 200
        deadline = time.monotonic() + 20
        while "commit failed, kept in the spool" not in receiver.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "store.json: is not valid JSON" in receiver.output()
        assert receiver.stop() == 1
        assert "final commit failed; 1 segment(s) stay in" in receiver.output()
    (store / "store.json").write_bytes(good)
    with Receiver(store, "--commit-every", "60") as receiver:
        assert "committing 1 segment(s) left in" in receiver.output()
        assert receiver.stop() == 0
    runs, _ = stored(store)
    assert sorted(runs["run_id"]) == ["3" * 32, "5" * 32]


def test_a_bad_mapping_is_refused_before_listening(tmp_path):
    (tmp_path / "mapping.yaml").write_text("outcome:\n  nonsense_key: 1\n")
    result = CliRunner().invoke(main, ["collect", "--into", str(tmp_path / "s"), "--mapping",
                                       str(tmp_path / "mapping.yaml")])
    assert result.exit_code == 2 and result.output.startswith(f"error: {tmp_path / 'mapping.yaml'}")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s.spool").exists()


def test_a_spool_inside_the_store_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["collect", "--into", str(tmp_path / "s"), "--spool", str(tmp_path / "s/q")])
    assert result.exit_code == 2 and "is inside the store" in result.output
    assert not (tmp_path / "s").exists()


def test_a_folder_that_is_no_store_is_refused_before_listening(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["collect", "--into", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {tmp_path}: is not a store: it has no store.json and holds notes.txt")
    assert not (tmp_path.parent / f"{tmp_path.name}.spool").exists()


def test_the_sdk_exporter_waits_out_a_full_spool_and_gets_through(tmp_path):
    """A spool that holds one request, and the first commit 3 s after the start: the exporter's second request
    is answered 503 with Retry-After; the exporter waits, sends it again, and it goes through once the store
    has taken the first."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    first, second = sdk_spans(1, "first"), sdk_spans(1, "second")
    with Receiver(tmp_path / "store", "--commit-every", "3", limits={"max_pending_bytes": 1}) as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.url, timeout=20)
        assert exporter.export(first) is SpanExportResult.SUCCESS
        assert exporter.export(second) is SpanExportResult.SUCCESS
        assert receiver.stop() == 0
    assert "stopped: 2 request(s), 6 span(s) received, 0 rejected; requests refused: 503x" in receiver.output()
    runs, _ = stored(tmp_path / "store")
    assert set(runs["run_id"]) == {f"{s.context.trace_id:032x}" for s in [*first, *second]}


def test_hostile_protobuf_nesting_is_refused_or_rejected_with_a_reason(exposed):
    """Values nested past protobuf's own limit: the body is refused (400). Nested past the receiver's limit
    but within protobuf's: that span alone is rejected, the other accepted."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    def nest(value, depth):
        for _ in range(depth):
            inner = type(value)()
            inner.array_value.values.add().CopyFrom(value)
            value = inner
        return value

    for depth, expected in ((150, 400), (20, 200)):
        request = encode_spans(sdk_spans(1, f"nested-{depth}"))
        attribute = request.resource_spans[0].scope_spans[0].spans[0].attributes.add()
        attribute.key = "deep"
        attribute.value.CopyFrom(nest(attribute.value.__class__(string_value="x"), depth))
        status, _, answer = post(exposed.url, request.SerializeToString(), wire.PROTOBUF)
        assert status == expected
        if expected == 400:
            assert "not a protobuf ExportTraceServiceRequest" in error(answer, wire.PROTOBUF)[1]
        else:
            partial = ExportTraceServiceResponse.FromString(answer).partial_success
            assert partial.rejected_spans == 1 and "nests values more than 16 deep" in partial.error_message
