"""The kill switch: a stop recorded in the approvals store as an audited event; the guard and every
@require_approval refuse for a stopped agent (also in another process), and refuse when the store cannot tell;
the two-person rule for resuming; verify sees a forged stop or resume."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.approvals import (
    AgentStopped,
    ApprovalQueue,
    ApprovalTimeout,
    AuditMismatch,
    NotAllowed,
    NotStopped,
    StopStatusUnknown,
    audit,
    generate_key,
    guard,
    require_approval,
)
from agentops_kit.cli import main

from .conftest import ROOT

AGENT = "PayAgent"


@pytest.fixture(autouse=True)
def no_audit_key_from_the_environment(monkeypatch):
    for name in ("AGENTOPS_AUDIT_KEY", "AGENTOPS_AUDIT_KEY_FILE", "AGENTOPS_APPROVALS_DB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "keys" / "audit.key"
    path.parent.mkdir()
    generate_key(path)
    return path


@pytest.fixture(params=["keyed", "unkeyed"])
def keying(request, key_file):
    return key_file if request.param == "keyed" else None


def pay(q, run_id, agent=AGENT):
    return q.submit(agent=agent, action="pay", params={"invoice": run_id, "amount": 10}, requested_by="svc-a",
                    run_id=run_id)


def in_another_process(url, agents, key_file=None) -> dict:
    """What the guard and the decorator did for each agent in a fresh Python process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOPS_")}
    if key_file:
        env["AGENTOPS_AUDIT_KEY_FILE"] = str(key_file)
    done = subprocess.run([sys.executable, "-m", "tests.approval_worker", "guarded", url, *agents], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def log_rows(q) -> list[dict]:
    with q.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM approval_audit ORDER BY seq"))]


def sql(q, statement: str, **params):
    with q.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_a_stop_refuses_the_guard_and_the_decorator_in_another_process(store_url, key_file):
    q = ApprovalQueue(store_url, key_file=key_file)
    stop = q.stop_agent(AGENT, reason="paid invoices twice", actor="alice")
    assert (stop.agent, stop.stopped_by, stop.reason, stop.active) == (AGENT, "alice", "paid invoices twice", True)
    # the agent however it is spelled; another agent is not stopped and queues its payment
    done = in_another_process(store_url, [AGENT, "payagent", "MailAgent"], key_file=key_file)
    for agent in (AGENT, "payagent"):
        for how in ("guard", "decorator"):
            assert done[agent][how].startswith("AgentStopped: agent PayAgent is stopped (by alice at "), done
            assert "paid invoices twice" in done[agent][how]
    assert done["MailAgent"] == {"guard": "acted", "decorator": "ApprovalTimeout"}
    assert [r.agent for r in q.pending()] == ["MailAgent"]
    # the stop is one audit row naming who, when, why, MACed with the key
    [row] = [r for r in log_rows(q) if r["event"] == "stopped"]
    assert row["actor"] == "alice" and row["request_id"] == "" and row["key_id"]
    assert json.loads(row["details"]) == {"agent": AGENT, "reason": "paid invoices twice", "rule": None, "runs": []}
    assert q.verify().ok
    # stopping again records nothing and returns the stop in force
    again = q.stop_agent(AGENT, reason="again", actor="bob")
    assert again.seq == stop.seq and not again.recorded_now and stop.recorded_now
    assert len([r for r in log_rows(q) if r["event"] == "stopped"]) == 1


def test_two_person_rule_for_resuming(store_url):
    q = ApprovalQueue(store_url)
    with pytest.raises(NotStopped):
        q.resume_agent(AGENT, actor="bob")
    q.stop_agent(AGENT, reason="incident 12", actor="alice")
    for same in ("alice", " ALICE ", "ａｌｉｃｅ", AGENT.lower()):
        with pytest.raises(NotAllowed, match="two-person rule"):
            q.resume_agent(AGENT, actor=same)
    with pytest.raises(AgentStopped):
        guard(q, agent=AGENT).check()
    resumed = q.resume_agent(AGENT, actor="bob", note="fix deployed")
    assert (resumed.resumed_by, resumed.resume_note, resumed.active) == ("bob", "fix deployed", False)
    with guard(q, agent=AGENT):
        pass
    assert q.agent_status(AGENT) is None
    stops = q.agent_stops()
    assert stops.select("agent", "status", "stopped_by", "reason", "resumed_by").rows() == [
        (AGENT, "resumed", "alice", "incident 12", "bob")]
    assert q.agent_stops(active_only=True).is_empty()
    # stopped again later: a new stop, and who stopped it the first time may now resume it (bob stopped it)
    q.stop_agent(AGENT, reason="incident 13", actor="bob")
    assert q.resume_agent(AGENT, actor="alice").resumed_by == "alice"
    assert q.agent_stops()["status"].to_list() == ["resumed", "resumed"]
    assert q.verify().ok


def test_a_stopped_agents_requests_cannot_be_approved_or_run(store_url):
    q = ApprovalQueue(store_url)
    ran = []

    @require_approval(q, "pay", agent=AGENT, requested_by="svc-a", timeout=0, poll=0.01)
    def pay_invoice(invoice: str) -> str:
        ran.append(invoice)
        return "paid"

    with pytest.raises(ApprovalTimeout):
        pay_invoice("I-1", run_id="run-1")
    with pytest.raises(ApprovalTimeout):
        pay_invoice("I-2", run_id="run-2")
    first, second = q.pending()
    q.approve(first.id, "bob")  # approved before the stop
    q.stop_agent(AGENT, reason="suspicious payments", actor="alice")
    with pytest.raises(AgentStopped, match="suspicious payments"):
        q.approve(second.id, "bob")
    assert q.get(second.id).status == "pending"
    with pytest.raises(AgentStopped):  # an approval granted before the stop is not used during it
        pay_invoice("I-1", run_id="run-1")
    with pytest.raises(AgentStopped):
        q.mark_executed(first.id, actor="svc-a", params={"invoice": "I-1"})
    with pytest.raises(AgentStopped):  # nor are new requests queued
        pay(q, "run-3")
    assert ran == [] and len(q.pending()) == 1
    assert q.reject(second.id, "bob", reason="agent stopped").status == "rejected"  # saying no stays possible
    q.resume_agent(AGENT, actor="carol")
    assert pay_invoice("I-1", run_id="run-1") == "paid" and ran == ["I-1"]
    assert q.verify().ok


def test_an_unreachable_store_refuses(tmp_path):
    nowhere = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    with pytest.raises(StopStatusUnknown, match="cannot tell whether agent PayAgent is stopped .*fails closed"):
        with guard(nowhere, agent=AGENT):
            pytest.fail("acted although the store could not be reached")
    with pytest.raises(StopStatusUnknown, match="no approvals store"):  # a guard never creates the store
        guard(f"sqlite:///{tmp_path / 'missing.db'}", agent=AGENT).check()
    assert not (tmp_path / "missing.db").exists()
    # a store that goes away under a running agent: its tables are gone
    url = f"sqlite:///{tmp_path / 'approvals.db'}"
    q = ApprovalQueue(url)
    ran = []

    @require_approval(q, "pay", agent=AGENT, requested_by="svc-a", timeout=0)
    def pay_invoice(invoice: str) -> str:
        ran.append(invoice)
        return "paid"

    @guard(q, agent=AGENT)
    def step() -> str:
        return "acted"

    assert step() == "acted"
    q.close()
    (tmp_path / "approvals.db").unlink()
    with pytest.raises(StopStatusUnknown, match="cannot tell"):
        step()
    with pytest.raises(StopStatusUnknown):
        pay_invoice("I-1", run_id="run-1")
    assert ran == []


def test_an_edited_stop_row_is_seen_by_verify_and_the_guard_fails_closed(store_url, keying):
    q = ApprovalQueue(store_url, key_file=keying)
    pay(q, "run-1")
    q.stop_agent(AGENT, reason="incident 7", actor="alice")
    pay(q, "run-9", agent="MailAgent")
    [stop_row] = [r for r in log_rows(q) if r["event"] == "stopped"]
    # turned into a stop of another agent, so PayAgent may act again
    sql(q, "UPDATE approval_audit SET details = :d WHERE seq = :seq", seq=stop_row["seq"],
        d=stop_row["details"].replace(AGENT, "OtherAgent"))
    result = q.verify()
    assert not result.ok and result.first_bad_seq == stop_row["seq"] and "does not match its" in result.problem
    with pytest.raises(StopStatusUnknown, match="agent stops: row .* does not match its"):
        guard(q, agent=AGENT).check()


def test_a_removed_stop_row_is_seen(store_url, keying):
    q = ApprovalQueue(store_url, key_file=keying)
    q.stop_agent(AGENT, reason="incident 7", actor="alice")
    pay(q, "run-9", agent="MailAgent")
    sql(q, "DELETE FROM approval_audit WHERE event = 'stopped'")
    assert not q.verify().ok
    with pytest.raises(StopStatusUnknown, match="rows removed or inserted"):
        guard(q, agent=AGENT).check()


def test_a_forged_resume_is_refused(store_url, key_file):
    """Someone who can write to the database but has no key appends a 'resumed' row."""
    q = ApprovalQueue(store_url, key_file=key_file)
    stop = q.stop_agent(AGENT, reason="incident 7", actor="alice")
    last = log_rows(q)[-1]
    with q.engine.begin() as conn:
        audit.append(conn, audit.Head(last["seq"], last["hash"], last["at"]), None, "", "resumed", "bob",
                     {"agent": AGENT, "stop_seq": stop.seq, "note": None}, dt.datetime.now(dt.timezone.utc))
    assert "carries no MAC although the rows before it do" in q.verify().problem
    with pytest.raises(StopStatusUnknown, match="carries no MAC from the audit key"):
        guard(q, agent=AGENT).check()


def test_a_resume_by_the_stopper_written_into_the_log_is_named(store_url):
    """Without a key the chain can be extended by anyone; the replay still holds the two-person rule."""
    q = ApprovalQueue(store_url)
    stop = q.stop_agent(AGENT, reason="incident 7", actor="alice")
    last = log_rows(q)[-1]
    with q.engine.begin() as conn:
        audit.append(conn, audit.Head(last["seq"], last["hash"], last["at"]), None, "", "resumed", "Alice",
                     {"agent": AGENT, "stop_seq": stop.seq, "note": None}, dt.datetime.now(dt.timezone.utc))
    assert "the two-person rule needs someone else" in q.verify().problem
    with pytest.raises(StopStatusUnknown, match="two-person rule"):
        guard(q, agent=AGENT).check()


def test_an_approval_written_into_the_log_during_a_stop_is_named(store_url):
    q = ApprovalQueue(store_url)
    req = pay(q, "run-1")
    q.stop_agent(AGENT, reason="incident 7", actor="alice")
    last = log_rows(q)[-1]
    now = dt.datetime.now(dt.timezone.utc)
    with q.engine.begin() as conn:
        audit.append(conn, audit.Head(last["seq"], last["hash"], last["at"]), None, req.id, "approved", "bob",
                     {"note": None, "params_hash": req.params_hash, "content_hash": req.content_hash}, now)
        conn.execute(sa.text("UPDATE approval_requests SET status = 'approved', decided_by = 'bob', decided_at = :at"),
                     {"at": now.replace(tzinfo=None)})
    assert "which the log has stopped" in q.verify().problem


def cli(*args):
    return CliRunner().invoke(main, ["agents", *map(str, args)])


def test_cli_stop_status_resume(store_url, key_file):
    ApprovalQueue(store_url, key_file=key_file).close()
    kf = ["--db", store_url, "--key-file", key_file]
    result = cli("status", *kf)
    assert result.exit_code == 0 and "no agent is stopped" in result.output
    result = cli("stop", AGENT, "--reason", "paid twice", "--as", "alice", *kf)
    assert result.exit_code == 0, result.output
    assert "stopped PayAgent" in result.output
    result = cli("status", *kf)
    assert result.exit_code == 0 and "PayAgent" in result.output and "alice" in result.output
    assert "paid twice" in result.output
    result = cli("resume", AGENT, "--as", "alice", *kf)
    assert result.exit_code == 2 and "two-person rule" in result.stderr
    result = cli("resume", AGENT, "--as", "bob", "--note", "fixed", *kf)
    assert result.exit_code == 0 and "resumed PayAgent" in result.output
    result = cli("status", "--all", *kf)
    assert result.exit_code == 0 and "resumed by bob" in result.output
    result = cli("stop", AGENT, "--as", "alice", *kf)  # no reason
    assert result.exit_code == 2 and "--reason" in result.stderr


def test_front_door():
    assert ak.guard is guard and ak.AgentStopped is AgentStopped
    assert issubclass(StopStatusUnknown, AgentStopped) and issubclass(AgentStopped, ak.approvals.ApprovalNotGranted)
    assert not issubclass(AuditMismatch, AgentStopped)
