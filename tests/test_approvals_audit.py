"""Approvals an auditor can rely on, on SQLite and PostgreSQL, tried as someone with write access to the database
would: every tampering case detected and named, the agent side failing closed, the approvers policy stored and
enforced, identities compared normalised, approval bound to the exact call, checkpoints and offline export
verification, a version-1 store migrated, and every CLI command answering bad input with one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import polars as pl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.approvals import (
    ApprovalMismatch,
    ApprovalQueue,
    ApprovalTimeout,
    AuditMismatch,
    InvalidRequest,
    KeyNotAdopted,
    KeyRequired,
    NoStore,
    NotAllowed,
    PolicyConflict,
    SelfApproval,
    StoreError,
    UnknownAction,
    audit,
    generate_key,
    normalise,
    require_approval,
)
from agentops_kit.approvals.schema import genesis
from agentops_kit.cli import main

POLICY = {"groups": {"finance": ["alice", "Bob@Example.com"]},
          "actions": {"pay": ["group:finance"], "mail": ["*"]}}


@pytest.fixture(autouse=True)
def no_audit_key_from_the_environment(monkeypatch):
    monkeypatch.delenv("AGENTOPS_AUDIT_KEY", raising=False)
    monkeypatch.delenv("AGENTOPS_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("AGENTOPS_APPROVALS_DB", raising=False)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "keys" / "audit.key"
    path.parent.mkdir()
    generate_key(path)
    return path


@pytest.fixture(params=["keyed", "unkeyed"])
def keying(request, key_file):
    """The same store with the audit key, and without one."""
    return key_file if request.param == "keyed" else None


def pay(q, run_id, amount=10, requested_by="svc-a", **kw):
    return q.submit(agent="PayAgent", action="pay", params={"invoice": run_id, "amount": amount},
                    requested_by=requested_by, run_id=run_id, **kw)


def three_requests(url, key_file=None, policy=None):
    """r0 approved by alice, r1 rejected by bob, r2 pending."""
    q = ApprovalQueue(url, approvers=policy, key_file=key_file)
    r0, r1, r2 = (pay(q, f"run-{i}", amount=10 * (i + 1)) for i in range(3))
    q.approve(r0.id, "alice", note="ok")
    q.reject(r1.id, "bob", reason="duplicate")
    return q, r0.id, r1.id, r2.id


def sql(q, statement: str, **params):
    with q.engine.begin() as conn:
        return conn.execute(sa.text(statement), params)


def log_rows(q) -> list[dict]:
    with q.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM approval_audit ORDER BY seq"))]


def rechain_without_key(q, from_seq: int = 1, edit=None) -> None:
    """What someone who can write to the database but has no key can do: edit rows and recompute every MAC
    from ``from_seq`` on as plain SHA-256 (with the kit's own code), then the head."""
    rows = log_rows(q)
    prev = rows[from_seq - 2]["hash"] if from_seq > 1 else genesis(q.store_id)
    with q.engine.begin() as conn:
        for row in rows[from_seq - 1:]:
            row.update(prev_hash=prev, key_id="")
            if edit:
                edit(row)
            row["hash"] = audit.expected_mac(row, None)
            conn.execute(sa.text("UPDATE approval_audit SET prev_hash = :prev_hash, key_id = :key_id, hash = :hash, "
                                 "actor = :actor, details = :details WHERE seq = :seq"), row)
            prev = row["hash"]
        conn.execute(sa.text("UPDATE approval_audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                     {"seq": rows[-1]["seq"], "hash": prev})


def cut_tail(q, keep: int) -> None:
    """Delete the rows after ``keep`` and point the head at the new last row (a careful attacker)."""
    last = log_rows(q)[keep - 1]
    sql(q, "DELETE FROM approval_audit WHERE seq > :keep", keep=keep)
    sql(q, "UPDATE approval_audit_head SET seq = :seq, hash = :hash WHERE id = 1", seq=last["seq"], hash=last["hash"])


def cli(*args):
    return CliRunner().invoke(main, ["approvals", *map(str, args)])


# ---- the log is the truth ---------------------------------------------------------------------------
def test_edited_status_is_named_and_fails_closed(store_url, keying, tmp_path):
    q, r0, r1, r2 = three_requests(store_url, keying)
    assert q.verify().ok
    sql(q, "UPDATE approval_requests SET status = 'approved' WHERE status = 'rejected'")
    bad = q.verify()
    assert not bad.ok and (bad.request_id, bad.field) == (r1, "status")
    assert "status is 'approved' in the table but 'rejected' in the log" in bad.problem
    outcome = q.wait(r1)
    assert outcome.state == "audit_mismatch" and not outcome.approved
    assert "not approved: audit mismatch" in outcome.message
    assert q.get(r1).audit_problem and q.wait(r0).approved  # the untouched request still counts
    decisions = q.decisions()
    assert decisions.filter(pl.col("request_id") == r1)["decision"].to_list() == ["audit mismatch"]
    assert decisions.filter(pl.col("request_id") == r0)["decision"].to_list() == ["approved"]
    args = ["--db", store_url] + (["--key-file", keying] if keying else [])
    result = cli("verify", *args)
    assert result.exit_code == 1 and f"TAMPERED: request {r1}: status is 'approved'" in result.output
    shown = cli("show", r1, *args)
    assert shown.exit_code == 0 and "AUDIT MISMATCH — do not approve" in shown.output
    with pytest.raises(AuditMismatch):  # and nobody can act on it: not even an execution record
        q.mark_executed(r1, actor="svc-a")


def test_forged_approval_is_not_counted_by_the_policy_checker(store_url, tmp_path):
    q, r0, r1, _ = three_requests(store_url)
    start = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).isoformat()
    records = [{"record": "run", "run_id": run, "agent": "PayAgent", "outcome": "success"} for run in ("run-0", "run-1")]
    records += [{"record": "step", "run_id": run, "step_id": "s", "kind": "action", "tool_name": "pay",
                 "started_at": start} for run in ("run-0", "run-1")]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    ts = ak.load_traces(tmp_path / "t.jsonl")
    policy = {"agent": {"name": "PayAgent", "actions_require_approval": ["pay"]}}
    unapproved = lambda: ak.check_policy(ts, policy, approvals=q.decisions()).violations["run_id"].to_list()
    assert unapproved() == ["run-1"]  # run-0 was approved, run-1 rejected
    sql(q, "UPDATE approval_requests SET status = 'approved' WHERE id = :id", id=r1)
    assert unapproved() == ["run-1"]  # the forged approval is no evidence


def test_edited_params_are_named(store_url, keying):
    q, r0, *_ = three_requests(store_url, keying)
    sql(q, "UPDATE approval_requests SET params = :p WHERE id = :id", p='{"amount": 99999, "invoice": "run-0"}', id=r0)
    bad = q.verify()
    assert not bad.ok and (bad.request_id, bad.field) == (r0, "params")
    assert q.wait(r0).state == "audit_mismatch"
    # and when the hash column is "fixed" too, the log still holds the submitted hash
    from agentops_kit.approvals.hashes import params_hash_of_text

    sql(q, "UPDATE approval_requests SET params_hash = :h WHERE id = :id",
        h=params_hash_of_text('{"amount": 99999, "invoice": "run-0"}'), id=r0)
    assert q.verify().field == "params" and q.wait(r0).state == "audit_mismatch"


def test_an_edited_log_row_is_named(store_url, keying):
    q, r0, *_ = three_requests(store_url, keying)
    sql(q, "UPDATE approval_audit SET actor = 'mallory' WHERE seq = 4")
    bad = q.verify()
    assert not bad.ok and bad.first_bad_seq == 4 and "content does not match its" in bad.problem
    assert "TAMPERED at row 4" in str(bad)
    assert q.wait(r0).state == "audit_mismatch"  # row 4 is r0's approval


def test_reordered_rows_are_named(store_url, keying):
    q, *_ = three_requests(store_url, keying)
    sql(q, "UPDATE approval_audit SET seq = -1 WHERE seq = 2")
    sql(q, "UPDATE approval_audit SET seq = 2 WHERE seq = 3")
    sql(q, "UPDATE approval_audit SET seq = 3 WHERE seq = -1")
    bad = q.verify()
    assert not bad.ok and bad.first_bad_seq == 2 and "link to the row before it is broken" in bad.problem


def test_rows_cut_from_the_end(store_url, keying, tmp_path):
    q, r0, r1, r2 = three_requests(store_url, keying)
    checkpoints = tmp_path / "checkpoints.jsonl"
    q.checkpoint(checkpoints)
    # the head still remembers the lost rows
    sql(q, "DELETE FROM approval_audit WHERE seq > 4")
    assert "rows removed from the end" in q.verify().problem
    # the head "fixed" as well: r1's rejection (row 5) is gone from the log, but its row says rejected
    cut_tail(q, keep=4)
    bad = q.verify()
    assert not bad.ok and (bad.request_id, bad.field) == (r1, "status")
    # and the request row put back too: only the checkpoint can tell
    sql(q, "UPDATE approval_requests SET status = 'pending', decided_by = NULL, decided_at = NULL, "
           "decision_note = NULL WHERE id = :id", id=r1)
    assert q.verify().ok  # what no check inside the database can see ...
    bad = q.verify(checkpoint=checkpoints)  # ... a checkpoint kept elsewhere does
    assert not bad.ok and "rows cut from the end" in bad.problem and "now ends at row 4" in bad.problem
    args = ["--db", store_url, "--checkpoint", checkpoints] + (["--key-file", keying] if keying else [])
    assert cli("verify", *args).exit_code == 1


def test_rewritten_chain_without_the_key(store_url, key_file, tmp_path):
    q, r0, *_ = three_requests(store_url, key_file)
    checkpoints = tmp_path / "checkpoints.jsonl"
    q.checkpoint(checkpoints)
    # make mallory the approver of r0, in the table and in the log, and recompute the chain from there on
    sql(q, "UPDATE approval_requests SET decided_by = 'mallory' WHERE id = :id", id=r0)
    rechain_without_key(q, from_seq=4, edit=lambda row: row.update(actor="mallory") if row["seq"] == 4 else None)
    bad = q.verify()
    assert not bad.ok and bad.first_bad_seq == 4 and "carries no MAC although the rows before it do" in bad.problem
    assert q.wait(r0).state == "audit_mismatch"
    # the whole chain recomputed, so nothing is keyed any more
    rechain_without_key(q, from_seq=1)
    bad = q.verify()
    assert not bad.ok and "none of the 5 rows carries a MAC with the key" in bad.problem
    assert "the chain was rewritten: row 5's MAC differs" in q.verify(checkpoint=checkpoints).problem
    assert q.wait(r0).state == "audit_mismatch"  # an approval without the key's MAC is no approval
    # and the next keyed write does not seal the rewritten rows: the key is only ever adopted explicitly
    with pytest.raises(KeyNotAdopted):
        q.approve(pay(ApprovalQueue(store_url), "run-x").id, "alice")
    refused = cli("adopt-key", "--db", store_url, "--key-file", key_file, "--checkpoint", checkpoints)
    assert refused.exit_code == 1 and "the chain was rewritten" in refused.output


def test_adopting_a_key_for_an_unkeyed_store(store_url, key_file, tmp_path):
    q, r0, *_ = three_requests(store_url)
    checkpoints = tmp_path / "checkpoints.jsonl"
    q.checkpoint(checkpoints)
    keyed = ApprovalQueue(store_url, key_file=key_file)
    with pytest.raises(KeyNotAdopted, match="adopt the key explicitly"):
        pay(keyed, "run-9")
    adopted = cli("adopt-key", "--db", store_url, "--key-file", key_file, "--checkpoint", checkpoints, "--as", "carol")
    assert adopted.exit_code == 0 and "audit key adopted: head: row 6" in adopted.output
    pay(keyed, "run-9")
    result = keyed.verify(checkpoint=checkpoints)
    assert result.ok and result.unkeyed_rows == 5 and "rows 1–5 were written before the key was adopted" in str(result)
    assert keyed.audit_log()["key_id"].to_list() == [""] * 5 + [keyed.key.key_id] * 2
    # the unkeyed rows are now held by the keyed ones after them: editing one breaks the chain
    sql(q, "UPDATE approval_audit SET actor = 'mallory' WHERE seq = 4")
    rechain_without_key(q, from_seq=4, edit=lambda row: row.update(actor="mallory") if row["seq"] == 4 else None)
    assert not keyed.verify().ok


def test_without_a_key_a_rewrite_is_only_seen_against_a_checkpoint(store_url, tmp_path):
    q, r0, *_ = three_requests(store_url)
    checkpoints = tmp_path / "checkpoints.jsonl"
    q.checkpoint(checkpoints)
    sql(q, "UPDATE approval_requests SET decided_by = 'mallory' WHERE id = :id", id=r0)
    rechain_without_key(q, from_seq=4, edit=lambda row: row.update(actor="mallory") if row["seq"] == 4 else None)
    result = q.verify()
    assert result.ok and "not a deliberate rewrite" in str(result)  # said plainly, not claimed
    bad = q.verify(checkpoint=checkpoints)
    assert not bad.ok and "the chain was rewritten" in bad.problem


def test_deleted_log(store_url, keying, tmp_path):
    q, r0, *_ = three_requests(store_url, keying)
    checkpoints = tmp_path / "checkpoints.jsonl"
    q.checkpoint(checkpoints)
    sql(q, "DELETE FROM approval_audit")
    sql(q, "UPDATE approval_audit_head SET seq = 0, hash = :g WHERE id = 1", g=genesis(q.store_id))
    bad = q.verify()
    assert not bad.ok and f"request {r0} is in the table but not in the audit log" in bad.problem
    assert q.wait(r0).state == "audit_mismatch"
    sql(q, "DELETE FROM approval_requests")
    assert q.verify().ok and q.verify().rows_checked == 0  # an empty store is consistent ...
    bad = q.verify(checkpoint=checkpoints)  # ... but the checkpoint remembers five rows
    assert not bad.ok and "the log was deleted: it is empty, but the checkpoint" in bad.problem
    assert "recorded 5 rows" in bad.problem


def test_dropped_log_table_is_tampering_not_bad_input(store_url):
    q, *_ = three_requests(store_url)
    q.close()
    sql(q, "DROP TABLE approval_audit")
    result = cli("verify", "--db", store_url)
    assert result.exit_code == 1 and "table approval_audit is missing" in result.stderr


def test_forged_log_row_without_the_key_is_refused(store_url, key_file):
    """The attacker appends an 'approved' row computed without the key (and updates the request)."""
    q = ApprovalQueue(store_url, key_file=key_file)
    req = pay(q, "run-1")
    last = log_rows(q)[-1]
    now = dt.datetime.now(dt.timezone.utc)
    details = {"note": None, "params_hash": req.params_hash, "content_hash": req.content_hash}
    with q.engine.begin() as conn:
        head = audit.Head(last["seq"], last["hash"], last["at"])
        audit.append(conn, head, None, req.id, "approved", "alice", details, now)
        conn.execute(sa.text("UPDATE approval_requests SET status = 'approved', decided_by = 'alice', "
                             "decided_at = :at WHERE id = :id"), {"at": now.replace(tzinfo=None), "id": req.id})
    assert q.wait(req.id).state == "audit_mismatch"
    assert "carries no MAC from the audit key" in q.wait(req.id).note
    assert "carries no MAC although the rows before it do" in q.verify().problem


def test_decorator_refuses_a_forged_approval(store_url, keying):
    q = ApprovalQueue(store_url, key_file=keying)
    ran = []

    @require_approval(q, action="pay", agent="PayAgent", requested_by="svc-a", timeout=0, poll=0.01)
    def pay_invoice(invoice: str, amount: int) -> str:
        ran.append((invoice, amount))
        return "paid"

    with pytest.raises(ApprovalTimeout):
        pay_invoice("I-1", 500, run_id="run-1")
    sql(q, "UPDATE approval_requests SET status = 'approved', decided_by = 'alice', decided_at = :at",
        at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    with pytest.raises(AuditMismatch, match="not approved: audit mismatch"):
        pay_invoice("I-1", 500, run_id="run-1")
    assert ran == [] and q.requests()["executed_at"].null_count() == 1


# ---- approval bound to the exact call -----------------------------------------------------------------
def test_decorator_runs_only_the_approved_arguments(store_url, key_file):
    q = ApprovalQueue(store_url, key_file=key_file)
    ran = []

    @require_approval(q, action="pay", agent="PayAgent", requested_by="svc-a", timeout=60, poll=0.02)
    def pay_invoice(invoice: dict) -> str:
        ran.append(dict(invoice))
        return "paid"

    invoice = {"id": "I-1", "amount": 10}

    def approver_who_sees_the_argument_change():
        human = ApprovalQueue(store_url, key_file=key_file)
        while not human.pending():
            time.sleep(0.02)
        invoice["amount"] = 99999  # the agent's shared state changes while the call waits
        human.approve(human.pending()[0].id, "alice")  # approving what was submitted: amount 10

    threading.Thread(target=approver_who_sees_the_argument_change).start()
    with pytest.raises(ApprovalMismatch, match="approved for other arguments"):
        pay_invoice(invoice, run_id="run-1")
    assert ran == []
    req = q.requests().row(0, named=True)
    assert req["status"] == "approved" and req["executed_at"] is None  # nothing recorded as executed
    # the approved arguments themselves still run, once
    invoice["amount"] = 10
    assert pay_invoice(invoice, run_id="run-1") == "paid" and ran == [{"id": "I-1", "amount": 10}]
    assert q.verify().ok


def test_mark_executed_checks_the_arguments(store_url):
    q = ApprovalQueue(store_url)
    req = pay(q, "run-1", amount=10)
    q.approve(req.id, "alice")
    with pytest.raises(ApprovalMismatch):
        q.mark_executed(req.id, "svc-a", params={"invoice": "run-1", "amount": 10.0})  # 10.0 is not 10
    assert q.get(req.id).executed_at is None
    assert q.mark_executed(req.id, "svc-a", params={"amount": 10, "invoice": "run-1"}).executed_at is not None
    log = q.audit_log()
    assert json.loads(log["details"][-1])["params_hash"] == req.params_hash


def test_the_approver_sees_what_will_run_and_the_agents_claim_apart(store_url):
    q = ApprovalQueue(store_url)
    req = q.submit(agent="PayAgent", action="pay", params={"invoice": "I-1", "amount": 99999},
                   before={"invoice": "I-1", "amount": 0}, after={"amount": 12}, requested_by="svc-a", run_id="r")
    got = q.get(req.id)
    assert got.diff == [{"path": "amount", "change": "changed", "before": 0, "after": 99999}]
    assert got.claimed_diff == [{"path": "amount", "change": "changed", "before": 0, "after": 12},
                                {"path": "invoice", "change": "removed", "before": "I-1", "after": None}]
    assert got.claim_conflicts == [{"path": "amount", "claimed": 12, "params": 99999}]
    shown = cli("show", req.id, "--db", store_url).output
    will_run, claim = shown.split("the agent's claim (its own before -> after; not checked against what will run):")
    assert "changed  amount: 0 -> 99999" in will_run and "changed  amount: 0 -> 12" in claim
    assert "WARNING: the agent's claim disagrees with the parameters" in claim
    assert "amount: the agent says 12, the parameters say 99999" in claim
    html = got._repr_html_()
    assert html.index("What will run") < html.index("99999") < html.index("The agent's claim")
    from agentops_kit.widgets import ApprovalsWidget

    widget = ApprovalsWidget(q, user="alice")
    assert "What will run" in widget.detail.value and "not checked against what will run" in widget.detail.value
    assert "disagrees with the parameters" in widget.detail.value


def test_terminal_escapes_from_agents_are_shown_inert(store_url):
    q = ApprovalQueue(store_url)
    osc8 = "\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07"
    req = q.submit(agent="PayAgent", action="pay", params={"memo": osc8, "amount\x1b[2J": 1},
                   before={"memo": "\x1b[31mred"}, after={"memo": "\x9b2J"},
                   sources=[{"document_id": "kb/\x1b[1mbold", "version": "\x07"}],
                   uncertainty="\x1b[8mhidden\x1b[0m", requested_by="svc-a", run_id="r")
    sql(q, "UPDATE approval_requests SET status = :s", s="pending\x1b[2J")  # the store itself edited
    for args in (("show", req.id), ("list",), ("verify",)):
        result = cli(*args, "--db", store_url)
        text = result.stdout + result.stderr
        assert not any(c in text for c in "\x1b\x07\x9b"), args
    shown = cli("show", req.id, "--db", store_url).stdout
    assert "\\x1b[8mhidden" in shown and "kb/\\x1b[1mbold" in shown
    assert "status is 'pending\\x1b[2J' in the table" in cli("verify", "--db", store_url).stdout


# ---- who may decide: stored with the queue --------------------------------------------------------------
def test_policy_is_stored_and_enforced_without_being_passed_again(store_url, tmp_path):
    first = ApprovalQueue(store_url, approvers=POLICY)
    req = pay(first, "run-1")
    later = ApprovalQueue(store_url)  # nobody passes the policy any more
    with pytest.raises(NotAllowed, match="mallory may not decide 'pay'"):
        later.approve(req.id, "mallory")
    assert cli("approve", req.id, "--db", store_url, "--as", "mallory").exit_code == 2
    looser = tmp_path / "anyone.yaml"
    looser.write_text("actions:\n  pay: ['*']\n  mail: ['*']\n")
    with pytest.raises(PolicyConflict, match="differs from the one given"):
        ApprovalQueue(store_url, approvers=looser)
    passed = cli("approve", req.id, "--db", store_url, "--as", "mallory", "--approvers", looser)
    assert passed.exit_code == 2 and "differs from the approvers policy stored" in passed.stderr
    with pytest.raises(UnknownAction):
        later.submit(agent="PayAgent", action="wire", params={}, requested_by="svc-a")
    assert later.approve(req.id, " BOB@example.COM ").decided_by == "BOB@example.COM"
    policy, version = later.approvers_policy()
    assert version == 1 and policy.may_decide("pay", "alice")


def test_policy_changes_are_versioned_audit_rows_and_admins_hold_them(store_url):
    q = ApprovalQueue(store_url)
    early = q.submit(agent="PayAgent", action="refund", params={}, requested_by="svc-a", run_id="r0")
    assert q.set_approvers({**POLICY, "admins": ["carol"]}, by="carol") == 1
    with pytest.raises(NotAllowed, match="not covered by the approvers policy"):  # once a policy exists
        q.approve(early.id, "alice")
    with pytest.raises(NotAllowed, match="mallory may not change the approvers policy"):
        q.set_approvers({"actions": {"pay": ["*"]}}, by="mallory")
    assert q.set_approvers({**POLICY, "actions": {**POLICY["actions"], "refund": ["dave"]}, "admins": ["carol"]},
                           by=" Carol ") == 2
    assert q.approve(early.id, "dave").status == "approved"
    history = q.approvers_history()
    assert history["version"].to_list() == [1, 2] and history["set_by"].to_list() == ["carol", "Carol"]
    assert q.audit_log().filter(pl.col("event") == "policy").height == 2
    assert q.verify().ok
    shown = cli("policy", "show", "--db", store_url)
    assert "version 2: set by Carol" in shown.output and "refund:" in shown.output


def test_a_policy_edited_in_the_database_is_not_enforced(store_url, key_file):
    q = ApprovalQueue(store_url, approvers=POLICY, key_file=key_file)
    req = pay(q, "run-1")
    row = log_rows(q)[0]
    details = json.loads(row["details"])
    details["policy"]["actions"]["pay"].append("mallory")
    sql(q, "UPDATE approval_audit SET details = :d WHERE seq = 1", d=json.dumps(details))
    with pytest.raises(AuditMismatch):
        q.approve(req.id, "mallory")
    assert q.get(req.id).status == "pending"
    assert not q.verify().ok


@pytest.mark.parametrize("spelling", ["svc-a ", "SVC-A", "svc\u2010a", "  Svc\u2013A", "\uff53\uff56\uff43\uff0d\uff41",
                                      "PayAgent"])
def test_the_requester_never_decides_its_own_request(store_url, spelling):
    q = ApprovalQueue(store_url, approvers={"actions": {"pay": ["*"]}})
    req = pay(q, "run-1", requested_by="svc-a")
    with pytest.raises(SelfApproval, match="separation of duties"):
        q.approve(req.id, spelling)
    with pytest.raises(SelfApproval):
        q.reject(req.id, spelling, reason="mine")
    assert q.get(req.id).status == "pending"


def test_identity_rule():
    assert normalise("  Bob@Example.COM ") == normalise("bob@example.com")
    assert normalise("svc\u2011a") == normalise("svc\u2212a") == normalise("svc-a") == "svc-a"
    assert normalise("Stra\u00dfe  Team") == "strasse team"
    assert normalise("alice") != normalise("alicia")


@pytest.mark.parametrize("name, problem", [
    ("ali\x1b[31mce", "control or invisible character U+001B"),
    ("bob\nmallory", "U+000A"),
    ("ali\u200bce", "U+200B"),
    ("carol\u202e", "U+202E"),
    ("x" * 129, "129 characters long; at most 128"),
    ("   ", "is required"),
])
def test_names_that_cannot_be_compared_safely_are_refused(store_url, name, problem):
    q = ApprovalQueue(store_url)
    req = pay(q, "run-1")
    with pytest.raises(InvalidRequest, match=problem.replace("(", r"\(").replace("+", r"\+")):
        q.approve(req.id, name)
    with pytest.raises(InvalidRequest):
        pay(q, "run-2", requested_by=name)
    assert q.audit_log().height == 1


def test_long_values_never_reach_the_database_and_its_errors_never_echo_sql(store_url):
    q = ApprovalQueue(store_url)
    with pytest.raises(InvalidRequest, match="approver's name 'x{40}…' is 300 characters long"):
        q.approve(pay(q, "run-1").id, "x" * 300)
    with pytest.raises(InvalidRequest, match="agent '.*' is 201 characters long; at most 200"):
        q.submit(agent="a" * 201, action="pay", params={}, requested_by="svc-a")
    # a fault the database itself raises (here a constraint someone added): one line, no SQL, no parameters —
    # PostgreSQL's own message has a DETAIL line quoting the row, which is left out too
    if store_url.startswith("postgresql"):
        sql(q, "ALTER TABLE approval_requests ADD CONSTRAINT no_secrets CHECK (run_id NOT LIKE '%secret%')")
    else:
        sql(q, "CREATE TRIGGER no_secrets BEFORE INSERT ON approval_requests WHEN NEW.run_id LIKE '%secret%' "
               "BEGIN SELECT RAISE(ABORT, 'no secrets'); END")
    with pytest.raises(StoreError) as err:
        pay(q, "run-secret-value")
    text = str(err.value)
    assert text.startswith("approvals store ") and ("no_secrets" in text or "no secrets" in text)
    assert "INSERT" not in text and "run-secret-value" not in text and "\n" not in text
    result = CliRunner().invoke(main, ["approvals", "list", "--db", store_url])
    assert result.exit_code == 0  # the store itself is fine
    assert q.verify().ok and q.audit_log().height == 1  # and nothing half-written


@pytest.mark.parametrize("expires_in", [dt.timedelta(days=3650000), dt.timedelta(0), dt.timedelta(days=366), 3600])
def test_expiry_out_of_range_is_refused(store_url, expires_in):
    q = ApprovalQueue(store_url)
    with pytest.raises(InvalidRequest, match="expires_in must be a timedelta above 0 and at most 365 days"):
        pay(q, "run-1", expires_in=expires_in)


# ---- keys, checkpoints, export ----------------------------------------------------------------------------
def test_keyed_store_needs_its_key(store_url, key_file, tmp_path):
    q, r0, *_ = three_requests(store_url, key_file)
    assert cli("verify", "--db", store_url, "--key-file", key_file).exit_code == 0
    no_key = cli("verify", "--db", store_url)
    assert no_key.exit_code == 2 and "this store's audit log is keyed" in no_key.stderr
    other = tmp_path / "other.key"
    generate_key(other)
    wrong = cli("verify", "--db", store_url, "--key-file", other)
    assert wrong.exit_code == 2 and "is not this store's key" in wrong.stderr
    with pytest.raises(KeyRequired):  # a writer without the key never continues a keyed chain
        pay(ApprovalQueue(store_url), "run-9")
    assert ApprovalQueue(store_url).head().checked is False  # readable, said to be unchecked


def test_key_from_the_environment(store_url, key_file, monkeypatch):
    monkeypatch.setenv("AGENTOPS_AUDIT_KEY", key_file.read_text().strip())
    q = ApprovalQueue(store_url)
    pay(q, "run-1")
    assert q.head().key_id == q.key.key_id and q.verify().key_id == q.key.key_id
    monkeypatch.delenv("AGENTOPS_AUDIT_KEY")
    monkeypatch.setenv("AGENTOPS_AUDIT_KEY_FILE", str(key_file))
    assert ApprovalQueue(store_url).verify().ok


def test_head_and_checkpoint_file(store_url, key_file, tmp_path):
    q, *_ = three_requests(store_url, key_file)
    head = q.head()
    last = log_rows(q)[-1]
    assert (head.seq, head.mac, head.at, head.checked) == (last["seq"], last["hash"], last["at"], True)
    out = tmp_path / "cp.jsonl"
    assert cli("checkpoint", "--db", store_url, "--key-file", key_file, "--out", out).exit_code == 0
    pay(q, "run-7")
    assert cli("checkpoint", "--db", store_url, "--key-file", key_file, "--out", out).exit_code == 0
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["seq"] for e in entries] == [head.seq, head.seq + 1]
    assert entries[0]["mac"] == head.mac and entries[0]["store_id"] == q.store_id
    ok = cli("verify", "--db", store_url, "--key-file", key_file, "--checkpoint", out)
    assert ok.exit_code == 0 and "checkpoints: 2 checked" in ok.output
    # a tampered store gets no checkpoint (the file is left as it was)
    sql(q, "UPDATE approval_requests SET status = 'approved' WHERE status = 'rejected'")
    before = out.read_text()
    refused = cli("checkpoint", "--db", store_url, "--key-file", key_file, "--out", out)
    assert refused.exit_code == 1 and out.read_text() == before
    # another store's checkpoint is bad input
    other = ApprovalQueue(f"sqlite:///{tmp_path / 'other.db'}")
    other.checkpoint(tmp_path / "other.jsonl")
    mixed = cli("verify", "--db", store_url, "--key-file", key_file, "--checkpoint", tmp_path / "other.jsonl")
    assert mixed.exit_code == 2 and "a checkpoint of another approvals store" in mixed.stderr


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_export_is_verified_offline_with_the_key(store_url, key_file, tmp_path, suffix):
    q, *_ = three_requests(store_url, key_file)
    checkpoints = tmp_path / "cp.jsonl"
    q.checkpoint(checkpoints)
    out = tmp_path / f"audit{suffix}"
    assert cli("export", "--db", store_url, "--key-file", key_file, out).exit_code == 0
    ok = cli("verify-export", out, "--key-file", key_file, "--checkpoint", checkpoints)
    assert ok.exit_code == 0 and "intact: 5 rows" in ok.output and "checkpoints: 1 checked" in ok.output
    assert cli("verify-export", out).exit_code == 2  # the MACs need the key
    log = pl.read_ndjson(out) if suffix == ".jsonl" else pl.read_csv(out, infer_schema=False)
    edited = log.with_columns(pl.when(pl.col("event") == "approved").then(pl.lit("mallory"))
                              .otherwise(pl.col("actor")).alias("actor"))
    edited.write_ndjson(out) if suffix == ".jsonl" else edited.write_csv(out)
    bad = cli("verify-export", out, "--key-file", key_file)
    assert bad.exit_code == 1 and "TAMPERED at row 4" in bad.output
    short = log.head(4)
    short.write_ndjson(out) if suffix == ".jsonl" else short.write_csv(out)
    assert cli("verify-export", out, "--key-file", key_file).exit_code == 0  # a shorter export checks ...
    cut = cli("verify-export", out, "--key-file", key_file, "--checkpoint", checkpoints)
    assert cut.exit_code == 1 and "rows cut from the end" in cut.output  # ... until held against a checkpoint


# ---- schema versions ---------------------------------------------------------------------------------------
def version_1_store(url):
    """A store written by agentops-kit 0.1.0's own code (kept verbatim in tests/approvals_v1)."""
    from tests.approvals_v1.queue import ApprovalQueue as QueueV1

    old = QueueV1(url)
    ids = [old.submit(agent="PayAgent", action="pay", params={"n": i}, requested_by="svc-a", run_id=f"r{i}",
                      before={"n": 0}, after={"n": i}).id for i in range(3)]
    old.approve(ids[0], "alice", note="fine")
    old.reject(ids[1], "bob", reason="no")
    old.mark_executed(ids[0], "svc-a")
    old.get(ids[2], viewer="carol")
    old.close()
    return ids


def test_a_version_1_store_is_migrated_forward(store_url, key_file):
    ids = version_1_store(store_url)
    refused = cli("verify", "--db", store_url)
    assert refused.exit_code == 2 and "has schema version 1" in refused.stderr and "approvals migrate" in refused.stderr
    done = cli("migrate", "--db", store_url, "--key-file", key_file)
    assert done.exit_code == 0 and "schema version 2" in done.output
    q = ApprovalQueue(store_url, key_file=key_file)
    result = q.verify()
    assert result.ok and result.rows_checked == 7 + 1 + 3 and result.unkeyed_rows == 7  # the old rows, as they were
    assert q.audit_log()["event"].to_list()[7:] == ["schema", "migrated", "migrated", "migrated"]
    assert q.wait(ids[0]).approved and q.wait(ids[1]).state == "rejected"
    assert q.get(ids[0]).executed_at is not None and q.get(ids[0]).params == {"n": 0}
    assert sorted(q.decisions()["decision"].to_list()) == ["approved", "rejected"]
    assert q.approve(ids[2], "alice").status == "approved" and q.verify().ok
    # tampering with a migrated request is still named
    sql(q, "UPDATE approval_requests SET status = 'approved' WHERE id = :id", id=ids[1])
    assert q.verify().request_id == ids[1]


def test_a_broken_version_1_store_is_refused_and_left_alone(store_url):
    version_1_store(store_url)
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE approval_audit SET actor = 'mallory' WHERE seq = 4"))
    with pytest.raises(StoreError, match="not migrated: its audit row 4 does not match its hash chain"):
        ApprovalQueue(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM approval_meta WHERE key = 'schema_version'")).scalar() == "1"
    engine.dispose()


def test_a_newer_store_is_refused(store_url):
    q = ApprovalQueue(store_url)
    sql(q, "UPDATE approval_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99, newer than this agentops-kit understands"):
        ApprovalQueue(store_url)


# ---- the race, keyed and with a stored policy -------------------------------------------------------------
def test_race_on_a_keyed_store_with_a_policy(store_url, key_file):
    import subprocess
    import sys

    from .conftest import ROOT

    q = ApprovalQueue(store_url, approvers={"actions": {"pay": ["*"]}}, key_file=key_file)
    ids = [pay(q, f"run-{i}").id for i in range(20)]
    env = {**__import__("os").environ, "AGENTOPS_AUDIT_KEY_FILE": str(key_file)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.approval_worker", "race", store_url, who, *ids],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("alice", "bob", "carol-rejecter")]
    wins = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        wins += json.loads(out)["won"]
    assert sorted(wins) == sorted(ids)
    result = q.verify()
    assert result.ok and result.key_id == q.key.key_id and result.requests_checked == 20


# ---- every CLI command: bad input is one line and exit 2 ---------------------------------------------------
def test_reading_never_creates_a_store(store_url):
    with pytest.raises(NoStore, match="no approvals store at"):
        ApprovalQueue(store_url, create=False)
    for command in (["list"], ["verify"], ["export", "x.jsonl"], ["policy", "show"], ["migrate"]):
        result = cli(*command, "--db", store_url)
        assert result.exit_code == 2 and "no approvals store at" in result.stderr
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()


def bad_inputs(tmp_path, url, request_id, key_file):
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not json\n")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("actions:\n  pay: [group:nobody]\n")
    open_key = tmp_path / "open.key"
    open_key.write_text("ab" * 32)
    open_key.chmod(0o644)
    short_key = tmp_path / "short.key"
    short_key.write_text("abcd")
    short_key.chmod(0o600)
    typo = f"sqlite:///{tmp_path / 'typo.db'}"
    return [
        ("list", "--db", "notaurl"),
        ("list", "--db", "foo://host/db"),
        ("list", "--db", typo),
        ("show", "nope", "--db", url),
        ("show", request_id, "--db", typo),
        ("approve", "nope", "--db", url, "--as", "alice"),
        ("approve", request_id, "--db", url, "--as", "   "),
        ("approve", request_id, "--db", url, "--as", "x" * 300),
        ("approve", request_id, "--db", url, "--as", "svc-a"),
        ("reject", request_id, "--db", url, "--as", "alice", "--reason", " "),
        ("verify", "--db", "notaurl"),
        ("verify", "--db", typo),
        ("verify", "--db", url, "--checkpoint", tmp_path / "missing.jsonl"),
        ("verify", "--db", url, "--checkpoint", garbage),
        ("verify", "--db", url, "--key-file", tmp_path / "missing.key"),
        ("verify", "--db", url, "--key-file", open_key),
        ("verify", "--db", url, "--key-file", short_key),
        ("verify", "--db", url, "--approvers", bad_yaml),
        ("checkpoint", "--db", typo, "--out", tmp_path / "cp.jsonl"),
        ("checkpoint", "--db", url, "--out", tmp_path / "no" / "dir" / "cp.jsonl"),
        ("export", tmp_path / "audit.jsonl", "--db", typo),
        ("export", tmp_path / "no" / "dir" / "audit.jsonl", "--db", url),
        ("verify-export", tmp_path / "missing.jsonl"),
        ("verify-export", garbage),
        ("keygen", "--out", key_file),
        ("keygen", "--out", tmp_path / "no" / "dir" / "k"),
        ("migrate", "--db", typo),
        ("adopt-key", "--db", url),
        ("adopt-key", "--db", typo, "--key-file", key_file),
        ("adopt-key", "--db", url, "--key-file", key_file, "--checkpoint", garbage),
        ("policy", "show", "--db", typo),
        ("policy", "set", bad_yaml, "--db", url, "--as", "carol"),
        ("policy", "set", tmp_path / "missing.yaml", "--db", url, "--as", "carol"),
        ("policy", "set", bad_yaml, "--db", typo, "--as", "carol"),
    ]


def test_every_command_answers_bad_input_with_one_line(store_url, tmp_path, key_file):
    q = ApprovalQueue(store_url)
    req = pay(q, "run-1")
    for args in bad_inputs(tmp_path, store_url, req.id, key_file):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: "), (args, result.stderr)
        assert "Traceback" not in result.output and result.stdout == "", (args, result.output)
    assert not (tmp_path / "typo.db").exists()  # reading never creates a store
    assert q.verify().ok and q.audit_log().height == 1  # and nothing was written
