"""`ak.tracing`: the real OpenTelemetry SDK, set up so that the kit reads the traces with no mapping — to an
OTLP/JSON file the readers load, or over OTLP/HTTP to a receiver."""

from __future__ import annotations

import datetime as dt
import http.server
import threading

import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.errors import UsageError
from agentops_kit.tracing_defaults import TracingError


def test_a_run_traced_with_the_defaults_loads_with_nothing_unknown(tmp_path):
    path = tmp_path / "agent.otlp.jsonl"
    with ak.tracing(agent="RefundBot", workflow="support_refunds", mode="shadow", file=path, version="2.1") as t:
        with t.run() as run:
            with t.tool("order_lookup", {"order": "O-1"}) as call:
                call.output({"paid": 12.5})
            now = dt.datetime.now(dt.timezone.utc)
            run.approval("refund_request_submit", "approved", "alice@example.com",
                         requested_at=now - dt.timedelta(seconds=3), decided_at=now - dt.timedelta(seconds=1))
            with t.action("refund_request_submit", {"order": "O-1", "amount": 12.5}):
                pass
            run.outcome("success")
            run_id = run.run_id
        with t.run() as other:
            other.escalate("the customer asked for a person")
        with pytest.raises(RuntimeError), t.run():
            raise RuntimeError("the order system is down")
    ts = ak.load_traces(path)  # no mapping: the default one reads every attribute written
    assert ts.rejected.collect().height == 0
    runs = ts.runs.sort("started_at").collect()
    assert runs.select("agent", "agent_version", "workflow", "mode").unique().rows() == [
        ("RefundBot", "2.1", "support_refunds", "shadow")]
    assert runs["outcome"].to_list() == ["success", "escalated", "failure"]
    assert runs["run_id"][0] == run_id  # the id to pass to @ak.require_approval is the kit's run id
    steps = ts.steps.filter(pl.col("run_id") == run_id).collect()
    assert sorted(steps["kind"]) == ["action", "agent", "approval", "tool"]
    approval = steps.filter(pl.col("kind") == "approval").row(0, named=True)
    assert (approval["approval_decision"], approval["approver"]) == ("approved", "alice@example.com")
    assert steps.filter(pl.col("kind") == "tool")["output"].item() == '{"paid": 12.5}'
    # the approval precedes the action and names it: a policy gating the action finds nothing
    policy = {"agent": {"name": "RefundBot", "actions_require_approval": ["refund_request_submit"]}}
    assert ak.check_policy(ts.filter_runs(pl.col("run_id") == run_id), [policy]).violations.height == 0


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]] = []

    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.bodies.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_spans_go_over_otlp_http_to_a_receiver_with_the_resource_naming_the_agent():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = ak.tracing(agent="RefundBot", workflow="support_refunds", endpoint=f"http://127.0.0.1:{server.server_port}")
        with t.run() as run:
            run.outcome("failure")
        t.shutdown()  # flushes the batch
    finally:
        server.shutdown()
    [(path, content_type, body)] = Receiver.bodies
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    [rs] = request.resource_spans
    resource = {a.key: a.value.string_value for a in rs.resource.attributes}
    assert {k: resource[k] for k in ("service.name", "gen_ai.agent.name", "agentops.workflow", "agentops.mode")} == {
        "service.name": "RefundBot", "gen_ai.agent.name": "RefundBot", "agentops.workflow": "support_refunds",
        "agentops.mode": "active"}
    [span] = rs.scope_spans[0].spans
    assert {a.key: a.value.string_value for a in span.attributes}["agentops.outcome"] == "failure"


def test_what_cannot_be_traced_is_one_clear_error(tmp_path):
    with pytest.raises(UsageError, match="exactly one of endpoint="):
        ak.tracing(agent="A", workflow="w", file=tmp_path / "a.jsonl", endpoint="http://127.0.0.1:4318")
    with pytest.raises(UsageError, match="mode 'prod': expected one of active, shadow, red_team"):
        ak.tracing(agent="A", workflow="w", mode="prod", file=tmp_path / "a.jsonl")
    with pytest.raises(TracingError, match="expected a file in an existing folder"):
        ak.tracing(agent="A", workflow="w", file=tmp_path / "missing" / "a.jsonl")
    with pytest.raises(UsageError, match="expected an http:// or https:// URL"):
        ak.tracing(agent="A", workflow="w", endpoint="127.0.0.1:4318")
    with ak.tracing(agent="A", workflow="w", file=tmp_path / "a.jsonl") as t, t.run() as run:
        with pytest.raises(UsageError, match="outcome 'done-ish'"):
            run.outcome("done-ish")
