"""The approvals queue on SQLite and PostgreSQL: one decision per request, separation of duties, expiry,
idempotency, the decorator end to end, faults. (What an auditor relies on — the log as the truth, the keyed
chain, checkpoints, the stored approvers policy, identities, binding to the call — is in test_approvals_audit.py.)"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import polars as pl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.approvals import (
    AlreadyDecided,
    ApprovalExpired,
    ApprovalQueue,
    ApprovalRejected,
    ApprovalTimeout,
    Expired,
    InvalidRequest,
    NotAllowed,
    RequestNotFound,
    SelfApproval,
    StoreError,
    UnknownAction,
    require_approval,
)
from agentops_kit.cli import main

from .conftest import ROOT

APPROVERS = {"groups": {"finance": ["alice", "bob"]},
             "actions": {"refund_request_submit": ["group:finance"], "customer_email_send": ["*"]}}


@pytest.fixture(autouse=True)
def no_audit_key_from_the_environment(monkeypatch):
    monkeypatch.delenv("AGENTOPS_AUDIT_KEY", raising=False)
    monkeypatch.delenv("AGENTOPS_AUDIT_KEY_FILE", raising=False)


def refund(q, run_id="run-1", amount=120.0, **kw):
    return q.submit(agent="SupportRefundAgent", run_id=run_id, action="refund_request_submit",
                    params={"order": "O-1", "amount": amount}, before={"order": "O-1", "amount": 0.0},
                    after={"amount": amount, "order_status": "refunded", "notes": ["customer called"]},
                    sources=[{"document_id": "kb/refund-policy", "version": "v7"}],
                    uncertainty="photo of the damage is blurry", requested_by="svc-refund-agent", **kw)


def worker(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tests.approval_worker", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_submit_get_diff_and_decide(store_url):
    q = ApprovalQueue(store_url, approvers=APPROVERS)
    req = refund(q)
    assert req.status == "pending" and req.is_open
    got = q.get(req.id)
    # what will run, from the parameters against the before state (the unchanged order id is not a change)
    assert got.diff == [{"path": "amount", "change": "changed", "before": 0.0, "after": 120.0}]
    # the agent's own description, kept apart
    assert got.claimed_diff == [
        {"path": "amount", "change": "changed", "before": 0.0, "after": 120.0},
        {"path": "notes", "change": "added", "before": None, "after": ["customer called"]},
        {"path": "order", "change": "removed", "before": "O-1", "after": None},
        {"path": "order_status", "change": "added", "before": None, "after": "refunded"},
    ]
    assert got.claim_conflicts == [] and got.audit_checked and got.audit_problem is None
    assert got.sources == [{"document_id": "kb/refund-policy", "version": "v7"}]
    assert [r.id for r in q.pending()] == [req.id] and q.pending(action="customer_email_send") == []
    done = q.approve(req.id, "alice", note="within policy")
    assert (done.status, done.decided_by, done.decision_note) == ("approved", "alice", "within policy")
    assert q.pending() == []
    with pytest.raises(AlreadyDecided, match=r"already approved by alice at 20"):
        q.reject(req.id, "bob", reason="too late")
    assert q.wait(req.id).approved
    assert q.verify().ok
    assert q.audit_log()["event"].to_list() == ["policy", "submitted", "approved"]  # the approvers, stored once


def test_who_may_decide(store_url):
    q = ApprovalQueue(store_url, approvers=APPROVERS)
    req = refund(q)
    with pytest.raises(SelfApproval, match="separation of duties"):
        q.approve(req.id, "svc-refund-agent")
    with pytest.raises(NotAllowed, match="mallory may not decide 'refund_request_submit'"):
        q.approve(req.id, "mallory")
    with pytest.raises(InvalidRequest, match="needs a reason"):
        q.reject(req.id, "bob", reason="  ")
    with pytest.raises(UnknownAction, match="'wire_transfer' is not in the approvers policy"):
        q.submit(agent="A", action="wire_transfer", params={}, requested_by="svc")
    with pytest.raises(RequestNotFound):
        q.approve("no-such-id", "alice")
    assert q.get(req.id).status == "pending"
    assert q.reject(req.id, "bob", reason="amount above the limit").status == "rejected"
    assert q.audit_log()["event"].to_list() == ["policy", "submitted", "rejected"]  # refusals change nothing


def test_idempotency_and_bad_params(store_url):
    q = ApprovalQueue(store_url)
    a, b = refund(q), refund(q)
    assert a.id == b.id
    c = refund(q, run_id="run-2")  # a retried run is a new request, never an earlier decision
    assert c.id != a.id
    d = q.submit(agent="A", action="x", params={"k": 1}, requested_by="s", idempotency_key="my-key")
    assert q.submit(agent="A", action="x", params={"k": 2}, requested_by="s", idempotency_key="my-key").id == d.id
    with pytest.raises(InvalidRequest, match="params must be JSON-serialisable"):
        q.submit(agent="A", action="x", params={"when": object()}, requested_by="s")
    with pytest.raises(InvalidRequest, match="JSON-serialisable"):
        q.submit(agent="A", action="x", params={"v": float("nan")}, requested_by="s")
    assert q.audit_log().height == 3  # nothing written for the refused submits


def test_expiry_is_its_own_state(store_url):
    q = ApprovalQueue(store_url)
    req = refund(q, expires_in=dt.timedelta(milliseconds=300))
    time.sleep(0.5)
    assert q.pending() == []  # never offered for approval once expired
    with pytest.raises(Expired, match="expired at"):
        q.approve(req.id, "alice")
    assert q.get(req.id).status == "expired"
    assert q.wait(req.id).state == "expired" and not q.wait(req.id).approved
    log = q.audit_log()
    assert log["event"].to_list() == ["submitted", "expired"] and log["actor"][1] == "system"
    assert q.verify().ok


def test_wait_timeout_is_not_a_decision(store_url):
    q = ApprovalQueue(store_url)
    req = refund(q)
    outcome = q.wait(req.id, timeout=0.3, poll=0.05)
    assert outcome.state == "pending" and not outcome.approved and "do not act" in outcome.message
    assert q.get(req.id).status == "pending"  # a human can still approve it
    assert q.approve(req.id, "alice").status == "approved"


def test_race_exactly_one_decision_per_request(store_url):
    q = ApprovalQueue(store_url)
    ids = [refund(q, run_id=f"run-{i}").id for i in range(60)]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.approval_worker", "race", store_url, who, *ids],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("alice", "bob", "carol-rejecter", "dave")]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    wins = [i for r in results for i in r["won"]]
    assert sorted(wins) == sorted(ids)  # every request decided exactly once
    assert all(len(r["won"]) + len(r["lost"]) == len(ids) for r in results)
    decided = q.requests()
    assert decided["status"].is_in(["approved", "rejected"]).all()
    log = q.audit_log()
    assert log.filter(pl.col("event").is_in(["approved", "rejected"])).height == len(ids)
    assert q.verify().ok


def test_decorator_end_to_end_with_a_second_process(store_url):
    q = ApprovalQueue(store_url)
    calls = []

    @require_approval(q, action="refund_request_submit", agent="SupportRefundAgent", requested_by="svc-refund-agent",
                      timeout=60, poll=0.05)
    def refund_request_submit(order: str, amount: float) -> str:
        calls.append((order, amount))
        return f"refunded {amount}"

    human = subprocess.Popen([sys.executable, "-m", "tests.approval_worker", "approve_when_pending", store_url,
                              "alice", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = refund_request_submit("O-9", 42.0, run_id="run-77",
                                   approval_context={"before": {"refund": None}, "after": {"refund": 42.0}})
    out, err = human.communicate(timeout=60)
    assert human.returncode == 0, err
    assert result == "refunded 42.0" and calls == [("O-9", 42.0)]
    req = q.get(out.strip())
    assert req.params == {"order": "O-9", "amount": 42.0} and req.executed_at is not None
    # the same call again in the same run: the approval was used once and is not reused
    with pytest.raises(ak.approvals.ApprovalConsumed):
        refund_request_submit("O-9", 42.0, run_id="run-77")
    assert calls == [("O-9", 42.0)]
    # a rejection and a timeout both raise, and the function never runs
    pending = refund_request_submit.__wrapped__
    quick = require_approval(q, action="refund_request_submit", agent="A", requested_by="svc", timeout=0.2, poll=0.05)(pending)
    with pytest.raises(ApprovalTimeout, match="not approved yet — do not act"):
        quick("O-1", 5.0, run_id="run-78")
    waiting = q.pending()[0]
    q.reject(waiting.id, "bob", reason="duplicate refund")
    with pytest.raises(ApprovalRejected, match="duplicate refund"):
        quick("O-1", 5.0, run_id="run-78")
    short = require_approval(q, action="refund_request_submit", agent="A", requested_by="svc", timeout=5,
                             poll=0.05, expires_in=dt.timedelta(milliseconds=200))(pending)
    with pytest.raises(ApprovalExpired):
        short("O-2", 6.0, run_id="run-79")
    assert calls == [("O-9", 42.0)]
    assert q.verify().ok


def test_killed_mid_decision_leaves_no_half_decision(store_url):
    q = ApprovalQueue(store_url)
    req = refund(q)
    proc = worker("die", store_url, req.id)
    assert proc.returncode == 9, proc.stderr
    assert q.get(req.id).status == "pending"
    assert q.verify().ok and q.audit_log().height == 1
    assert q.approve(req.id, "alice").status == "approved"


def test_metrics_and_decisions(store_url):
    q = ApprovalQueue(store_url)
    a, b, c = refund(q, run_id="r1"), refund(q, run_id="r2"), refund(q, run_id="r3")
    q.approve(a.id, "alice")
    q.reject(b.id, "bob", reason="no")
    refund(q, run_id="r4", expires_in=dt.timedelta(milliseconds=100))
    time.sleep(0.3)
    m = q.metrics().row(0, named=True)
    assert (m["requests"], m["pending"], m["approved"], m["rejected"], m["expired"]) == (4, 1, 1, 1, 1)
    assert m["approved_rate"] == 0.25 and m["p50_time_to_decision_s"] >= 0
    by_person = q.metrics(by="approver")
    assert by_person["approver"].to_list() == ["alice", "bob"]
    decisions = q.decisions()
    assert sorted(decisions["decision"].to_list()) == ["approved", "rejected"]
    assert c.id in [r.id for r in q.pending()]


def test_export_and_cli(store_url, tmp_path):
    q = ApprovalQueue(store_url)
    req = refund(q)
    runner = CliRunner()
    listed = runner.invoke(main, ["approvals", "list", "--db", store_url])
    assert listed.exit_code == 0 and req.id in listed.output
    shown = runner.invoke(main, ["approvals", "show", req.id, "--db", store_url, "--as", "alice"])
    assert shown.exit_code == 0 and "changed  amount: 0.0 -> 120.0" in shown.output
    assert 'added  order_status: null -> "refunded"' in shown.output.split("the agent's claim")[1]
    assert "kb/refund-policy@v7" in shown.output and "photo of the damage is blurry" in shown.output
    self_ok = runner.invoke(main, ["approvals", "approve", req.id, "--db", store_url, "--as", "svc-refund-agent"])
    assert self_ok.exit_code == 2 and "separation of duties" in self_ok.output
    ok = runner.invoke(main, ["approvals", "approve", req.id, "--db", store_url, "--as", "alice", "--note", "fine"])
    assert ok.exit_code == 0
    again = runner.invoke(main, ["approvals", "reject", req.id, "--db", store_url, "--as", "bob", "--reason", "x"])
    assert again.exit_code == 2 and "already approved by alice" in again.output
    out = tmp_path / "audit.jsonl"
    assert runner.invoke(main, ["approvals", "export", str(out), "--db", store_url]).exit_code == 0
    events = [json.loads(line)["event"] for line in out.read_text().splitlines()]
    assert events == ["submitted", "viewed", "approved"]
    q.export_audit(tmp_path / "audit.csv")
    assert pl.read_csv(tmp_path / "audit.csv").height == 3
    checked = runner.invoke(main, ["approvals", "verify-export", str(tmp_path / "audit.csv")])
    assert checked.exit_code == 0 and "exported audit log audit.csv intact: 3 rows" in checked.output


def test_trace_values_are_stored_as_data(store_url):
    q = ApprovalQueue(store_url)
    nasty = "x'); DROP TABLE approval_requests; --"
    req = q.submit(agent=nasty, action=nasty, params={"q": nasty}, requested_by=nasty, run_id=nasty)
    assert q.get(req.id).agent == nasty and q.get(req.id).params == {"q": nasty}
    html = q.get(req.id)._repr_html_()
    assert "<script" not in refund(q, run_id="<script>alert(1)</script>")._repr_html_()
    assert nasty.replace("'", "&#x27;") in html


def test_close_hands_the_connections_back(store_url):
    with ApprovalQueue(store_url) as q:
        refund(q)
        assert q.engine.pool.checkedin() >= 1  # pooled between calls
        backend = q._read(lambda conn: conn.exec_driver_sql(
            "SELECT pg_backend_pid()" if store_url.startswith("postgresql") else "SELECT 1").scalar())
    assert q.engine.pool.checkedin() == 0
    if store_url.startswith("postgresql"):  # and the server no longer has the session
        admin = sa.create_engine(store_url)
        with admin.connect() as conn:
            for _ in range(50):  # the server ends the session just after the client closes it
                alive = conn.exec_driver_sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {int(backend)}").scalar()
                if not alive:
                    break
                time.sleep(0.1)
        admin.dispose()
        assert alive == 0
    assert len(q.pending()) == 1  # a later call opens a new connection


def test_unreachable_store_is_named(tmp_path):
    with pytest.raises(StoreError, match=r"approvals store postgresql\+psycopg://postgres@127.0.0.1:1/none"):
        ApprovalQueue("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="unable to open database file"):
        ApprovalQueue(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")


def test_read_only_store_refuses_writes_clearly(tmp_path):
    path = tmp_path / "ro.db"
    q = ApprovalQueue(f"sqlite:///{path}")
    req = refund(q)
    q.engine.dispose()
    with pytest.raises(StoreError, match="readonly|read-only"):
        ApprovalQueue(f"sqlite:///file:{path}?mode=ro&uri=true", create=False).approve(req.id, "alice")
    assert ApprovalQueue(f"sqlite:///{path}").get(req.id).status == "pending"


def test_link_to_traces(sample_ts):
    q = ApprovalQueue("sqlite://")
    run_id = sample_ts.runs.filter(pl.col("agent") == "SupportRefundAgent").select("run_id").collect().item(0, 0)
    req = refund(q, run_id=run_id)
    steps = q.run_steps(req.id, sample_ts)
    assert steps.height > 0 and set(steps["run_id"]) == {run_id}
    assert steps["kind"][0] == "agent"


def test_a_read_only_copy_can_be_verified(tmp_path):
    path = tmp_path / "ro.db"
    q = ApprovalQueue(f"sqlite:///{path}")
    q.approve(refund(q).id, "alice")
    q.close()
    path.chmod(0o444)
    try:
        copy = ApprovalQueue(f"sqlite:///file:{path}?mode=ro&uri=true", create=False)
        assert copy.verify().ok and copy.decisions().height == 1
        assert CliRunner().invoke(main, ["approvals", "verify", "--db", f"sqlite:///file:{path}?mode=ro&uri=true"]).exit_code == 0
    finally:
        path.chmod(0o644)
