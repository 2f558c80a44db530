"""Evidence for removing an approval gate: a real approvals store (SQLite and PostgreSQL) filled with a known
history over several weeks (the clock set back with freezegun while each request is submitted and decided),
traces of the runs around the gates, and the rule's verdict with its numbers."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from freezegun import freeze_time

import agentops_kit as ak
from agentops_kit.analytics.gates import KEEP, RELAX, gate_evidence
from agentops_kit.analytics.readiness import load_readiness

from .canonical_cases import Traces

# freezegun looks through every loaded module when it starts; the package's lazy exports would be imported
# then, under the frozen clock (pydantic cannot build models then): resolve them first
for _name in ak.__all__:
    getattr(ak, _name)

UTC = dt.timezone.utc
W41 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # Monday of 2026-W41
AS_OF = dt.datetime(2026, 11, 15, 23, 59, tzinfo=UTC)  # Sunday night ending 2026-W46
POLICIES = [{"agent": {"name": "Bot", "actions_require_approval": ["refund", "email_send"]}},
            {"agent": {"name": "Payer", "actions_require_approval": ["wire_transfer"]}}]
RULE = {"min_decisions": 10, "min_weeks": 4, "max_rejections": 0, "max_edits": 0, "max_customer_impact_errors": 0,
        "max_policy_violations": 0, "window_weeks": 5}


def week(n: int, hours: float = 0) -> dt.datetime:
    """Monday 09:00 of 2026-W41 + n weeks, + hours."""
    return W41 + dt.timedelta(weeks=n, hours=hours)


def decide(q, run_id: str, action: str, at: dt.datetime, decision: str | None, after_minutes: float = 10):
    with freeze_time(at):
        req = q.submit(agent="Bot", run_id=run_id, action=action, params={"run": run_id}, requested_by="bot",
                       expires_in=dt.timedelta(hours=1))
    if decision is not None:
        with freeze_time(at + dt.timedelta(minutes=after_minutes)):
            if decision == "approved":
                q.approve(req.id, approver="alice")
            else:
                q.reject(req.id, approver="bob", reason="amount above the limit")
    return req


def build_queue(url: str) -> ak.ApprovalQueue:
    """refund: W41 two approved and one rejected; W42..W46 two approved each (10 decisions, 10 minutes each);
    one request in W45 expires unanswered. email_send: nothing in the store (its approvals are in the traces)."""
    q = ak.ApprovalQueue(url)
    decide(q, "w41-a", "refund", week(0), "approved")
    decide(q, "w41-b", "refund", week(0, 2), "rejected", after_minutes=30)
    decide(q, "w41-c", "refund", week(0, 4), "approved")
    for n in range(1, 6):
        decide(q, f"w{41 + n}-a", "refund", week(n, 1), "approved", after_minutes=5)
        decide(q, f"w{41 + n}-b", "refund", week(n, 3), "approved", after_minutes=15)
    decide(q, "w45-x", "refund", week(4, 5), None)
    with freeze_time(week(4, 8)):
        assert q.expire_due() == 1
    return q


def traces(customer_impact: bool = False) -> Traces:
    """Two refund runs (acting after the store's approval; one may be a customer-impact error), and email_send
    runs approved in the traces: four approved, one edited, in W44..W46."""
    t = Traces()
    for run_id, start in (("w46-a", week(5, 1)), ("w46-b", week(5, 3))):
        t.run(run_id, start=start).tool("refund", 20 * 60, {"amount": 10}, kind="action")
    if customer_impact:
        t.label("w46-b", "customer_impact", "true")
    for i, decision in enumerate(("approved", "approved", "edited", "approved", "approved")):
        start = week(3 + i // 2, 10 + i)
        t.run(f"mail-{i}", start=start).approval("email_send", 5, decision=decision, seconds=120) \
            .tool("email_send", 200, {"to": "c@example.com"}, kind="action")
    return t


@pytest.fixture
def queue(store_url):
    q = build_queue(store_url)
    yield q
    q.close()


def test_known_history_gives_the_verdicts(queue, tmp_path):
    ts = traces().load(tmp_path)
    ev = gate_evidence(ts, approvals=queue, policies=POLICIES, rule=RULE, as_of=AS_OF)
    rows = {(r["agent"], r["action"]): r for r in ev.frame.iter_rows(named=True)}
    assert set(rows) == {("Bot", "refund"), ("Bot", "email_send"), ("Payer", "wire_transfer")}

    refund = rows["Bot", "refund"]  # the window (5 weeks before as_of) holds W42..W46
    assert (refund["requests"], refund["decisions"], refund["approved"], refund["rejected"], refund["expired"],
            refund["edited"], refund["pending"]) == (11, 10, 10, 0, 1, 0, 0)
    assert refund["p50_time_to_decision_s"] == pytest.approx(600.0)  # five at 5 min, five at 15 min
    assert refund["p95_time_to_decision_s"] == pytest.approx(900.0)
    assert refund["weeks_without_rejection"] == 5  # W42..W46: the rejection was in W41
    assert (refund["runs"], refund["customer_impact_errors"], refund["policy_violations"]) == (11, 0, 0)
    assert refund["verdict"] == RELAX, refund["reasons"]
    assert "decisions 10 (≥ 10: met)" in refund["reasons"] and "weeks without a rejection 5 (≥ 4: met)" in refund["reasons"]

    mail = rows["Bot", "email_send"]  # from the traces alone
    assert (mail["requests"], mail["decisions"], mail["approved"], mail["edited"]) == (5, 5, 4, 1)
    assert mail["p50_time_to_decision_s"] == pytest.approx(120.0)
    assert mail["weeks_without_rejection"] == 3  # its first decision was in W44
    assert mail["verdict"] == KEEP
    assert "decisions 5 (≥ 10: NOT met)" in mail["reasons"] and "edits 1 (≤ 0: NOT met)" in mail["reasons"]

    wire = rows["Payer", "wire_transfer"]  # gated by policy, never requested: no evidence is no go
    assert (wire["requests"], wire["weeks_without_rejection"], wire["verdict"]) == (0, 0, KEEP)


def test_the_whole_history_and_what_breaks_the_rule(queue, tmp_path):
    ts = traces(customer_impact=True).load(tmp_path)
    whole = {**RULE, "window_weeks": None}
    refund = gate_evidence(ts, approvals=queue, policies=POLICIES, rule=whole, as_of=AS_OF).frame.filter(
        pl.col("action") == "refund").row(0, named=True)
    assert (refund["requests"], refund["decisions"], refund["rejected"]) == (14, 13, 1)
    assert refund["weeks_without_rejection"] == 5  # the streak is the same: it starts after the rejection
    assert refund["customer_impact_errors"] == 1
    assert refund["verdict"] == KEEP
    assert "rejections 1 (≤ 0: NOT met)" in refund["reasons"]
    assert "customer-impact errors 1 (≤ 0: NOT met)" in refund["reasons"]
    # as of the end of W43: the rejection in W41 leaves two clean weeks, and later decisions are not yet known
    early = gate_evidence(ts, approvals=queue, policies=POLICIES, rule=whole,
                          as_of=dt.datetime(2026, 10, 25, 23, 0, tzinfo=UTC)).frame
    early_refund = early.filter(pl.col("action") == "refund").row(0, named=True)
    assert (early_refund["decisions"], early_refund["weeks_without_rejection"]) == (7, 2)


def test_violations_around_the_gate_and_unknowns(queue, tmp_path):
    t = traces()
    t.run("w46-c", start=week(5, 6)).tool("refund", 30, {"amount": 99}, kind="action")  # acted with no approval
    ts = t.load(tmp_path)
    refund = gate_evidence(ts, approvals=queue, policies=POLICIES, rule=RULE, as_of=AS_OF).frame.filter(
        pl.col("action") == "refund").row(0, named=True)
    assert refund["policy_violations"] == 1 and refund["verdict"] == KEEP
    assert "policy violations 1 (≤ 0: NOT met)" in refund["reasons"]
    # without policies the violations are unknown, and unknown never relaxes a gate
    no_policy = gate_evidence(ts, approvals=queue, rule=RULE, as_of=AS_OF).frame.filter(
        pl.col("action") == "refund").row(0, named=True)
    assert no_policy["policy_violations"] is None and no_policy["verdict"] == KEEP
    assert "policy violations unknown (≤ 0: NOT met)" in no_policy["reasons"]


def test_rule_from_the_readiness_file(queue, tmp_path):
    path = tmp_path / "readiness.yaml"
    path.write_text("checks:\n  - {area: Quality, metric: completion_rate, min: 0.5, owner: me}\n"
                    "gate_removal:\n  min_decisions: 10\n  min_weeks: 4\n  window_weeks: 5\n")
    ts = traces().load(tmp_path)
    ev = gate_evidence(ts, approvals=queue.requests(), policies=POLICIES, rule=path, as_of=AS_OF)
    assert ev.frame.filter(pl.col("action") == "refund")["verdict"].item() == RELAX
    assert ev.rule == load_readiness(path).gate_removal and ev.to_dict()["rule"]["min_weeks"] == 4
    html = ev._repr_html_()
    assert "gate can be relaxed" in html and "≥ 10 decisions" in html
    assert ev.write_html(tmp_path / "gates.html").read_text().count("<table") == 1
    typo = tmp_path / "typo.yaml"
    typo.write_text("checks:\n  - {area: Quality, metric: completion_rate, min: 0.5, owner: me}\n"
                    "gate_removal:\n  min_decisions: 10\n  min_weeks: 4\n  max_rejection: 0\n")
    with pytest.raises(ak.ConfigError) as err:
        gate_evidence(ts, approvals=queue, rule=typo)
    assert err.value.line == 6 and err.value.key == "gate_removal.max_rejection" and "unknown key" in str(err.value)


def test_the_report_section_and_digest_from_a_store_url(queue, store_url, tmp_path):
    from agentops_kit.report.practices import Practices

    readiness = tmp_path / "readiness.yaml"
    readiness.write_text("checks:\n  - {area: Quality, metric: completion_rate, min: 0.5, owner: me}\n"
                         "gate_removal: {min_decisions: 10, min_weeks: 4, window_weeks: 5}\n")
    ts = traces().load(tmp_path)
    practices = Practices.build(ts, "2026-W46", policies=POLICIES, readiness_file=readiness, approvals=store_url)
    assert practices.gates.as_of.date() == dt.date(2026, 11, 15)  # the end of the week reported on
    assert "gate can be relaxed" in practices.gates_html()
    assert "- gate can be relaxed: Bot refund (10 decisions, 5 weeks without a rejection)" in practices.digest_lines()
