"""The example agent (templates/example_agent/agent.py) end to end, in another process: it queues its refund,
a person approves (or rejects) it here, and its traces — written by the tracing defaults to an OTLP/JSON
file — load with outcome, workflow, mode and the approval known, with no mapping. A stopped agent does nothing."""

from __future__ import annotations

import subprocess
import sys
import time

import polars as pl

import agentops_kit as ak

from .conftest import TEMPLATES

AGENT_PY = TEMPLATES / "example_agent" / "agent.py"
AGENT = "ExampleRefundAgent"


def start(db, traces, order, amount="42.5"):
    return subprocess.Popen([sys.executable, str(AGENT_PY), "--db", db, "--traces", str(traces), "--order", order,
                             "--amount", amount, "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def decide(queue, proc, decision):
    deadline = time.monotonic() + 60
    while not queue.pending(agent=AGENT):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the agent queued no request"
        time.sleep(0.1)
    [request] = queue.pending(agent=AGENT)
    if decision == "approve":
        queue.approve(request.id, approver="alice@example.com")
    else:
        queue.reject(request.id, approver="alice@example.com", reason="the order was not damaged")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return request, out.strip()


def test_the_example_agent_runs_end_to_end_and_its_traces_need_no_mapping(tmp_path):
    db, traces = f"sqlite:///{tmp_path / 'approvals.db'}", tmp_path / "agent.otlp.jsonl"
    queue = ak.ApprovalQueue(db)
    approved, printed = decide(queue, start(db, traces, "O-1"), "approve")
    assert printed == "refunded"
    rejected, printed = decide(queue, start(db, traces, "O-2"), "reject")
    assert printed == "rejected"

    ts = ak.load_traces(traces)  # no mapping
    assert ts.rejected.collect().height == 0
    runs = ts.runs.sort("started_at").collect()
    assert runs.select("agent", "workflow", "mode").unique().rows() == [(AGENT, "support_refunds", "active")]
    assert runs["outcome"].to_list() == ["success", "escalated"]  # nothing unknown
    assert runs["run_id"].to_list() == [approved.run_id, rejected.run_id]  # decisions and traces join on the run
    approvals = ts.steps.filter(pl.col("kind") == "approval").sort("started_at").collect()
    assert approvals.select("run_id", "approval_decision", "approver").rows() == [
        (approved.run_id, "approved", "alice@example.com"), (rejected.run_id, "rejected", "alice@example.com")]
    actions = ts.steps.filter(pl.col("kind") == "action").collect()
    assert actions["run_id"].to_list() == [approved.run_id]  # the rejected refund never ran
    assert queue.get(approved.id).executed_at is not None
    # the approval precedes the refund and names it: a policy gating the refund finds nothing
    policy = {"agent": {"name": AGENT, "actions_require_approval": ["refund_request_submit"]}}
    assert ak.check_policy(ts, [policy]).violations.height == 0


def test_a_stopped_example_agent_does_nothing_and_its_run_is_traced_as_failed(tmp_path):
    db, traces = f"sqlite:///{tmp_path / 'approvals.db'}", tmp_path / "agent.otlp.jsonl"
    queue = ak.ApprovalQueue(db)
    queue.stop_agent(AGENT, reason="refunds sent twice", actor="oncall@example.com")
    proc = start(db, traces, "O-3")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    assert err.startswith(f"not acting: agent {AGENT} is stopped (by oncall@example.com at ") and err.count("\n") == 1
    assert queue.requests().height == 0  # nothing queued, nothing done
    runs = ak.load_traces(traces).runs.collect()
    assert runs.select("agent", "workflow", "mode", "outcome").rows() == [(AGENT, "support_refunds", "active", "failure")]
