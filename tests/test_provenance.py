"""Provenance rules: each rule firing and not firing on hand-made runs, an approval before the action as the
way out (in the traces or from the approvals store), and the actions on superseded document versions."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import agentops_kit as ak

from .canonical_cases import MON, Traces

PROVENANCE = {"require_documents": True, "require_versions": True, "max_document_age_days": 30}


def policy(**provenance):
    body = {"name": "Bot", "actions_require_approval": ["refund"]}
    if provenance.get("off") is None:
        body["provenance"] = {**PROVENANCE, **provenance}
    return {"agent": body}


def hand_made() -> Traces:
    t = Traces()
    day = lambda n: MON + dt.timedelta(days=n)  # noqa: E731
    t.run("a0", start=day(-40)).retrieval(3, ("kb/faq", "v1"))  # first sighting of kb/faq v1, 40 days before
    t.run("a1", start=day(0)).retrieval(3, ("kb/new", "v2")).tool("refund", 10, {"order": 1}, kind="action") \
        .approval("refund", 5)  # grounded, fresh, approved: clean (the approval also covers unapproved_action)
    t.run("a2", start=day(0)).tool("refund", 10, {"order": 2}, kind="action")  # acted on nothing
    t.run("a3", start=day(0)).retrieval(3).tool("refund", 10, {"order": 3}, kind="action")  # retrieval found nothing
    t.run("a4", start=day(0)).retrieval(3, ("kb/new", None)) \
        .tool("send_email", 10, {"to": "c-4@example.com"})  # outbound, on a document without a version
    t.run("a5", start=day(0)).retrieval(3, ("kb/rules", "rules-2026-09-01")) \
        .tool("send_email", 10, {"to": "c-5@example.com"})  # the version's own date: 69 days old
    t.run("a6", start=day(0)).retrieval(3, ("kb/faq", "v1")) \
        .tool("send_email", 10, {"url": "https://example.com/x"})  # first seen 40 days before: at least 40 days old
    t.run("a7", start=day(0)).approval("refund", 3).tool("refund", 10, {"order": 7}, kind="action")  # confirmed first
    t.run("a8", start=day(0)).tool("refund", 5, {"order": 8}, kind="action").approval("refund", 7)  # approved too late
    t.run("a9", start=day(0)).tool("refund", 5, {"order": 9}, kind="action").retrieval(8, ("kb/new", "v2"))  # read after
    t.run("a10", start=day(0)).tool("lookup", 10, {"order": 10})  # neither gated nor outbound: nothing to confirm
    return t


@pytest.fixture
def ts(tmp_path):
    return hand_made().load(tmp_path)


def rules_by_run(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in result.violations.iter_rows(named=True):
        out.setdefault(r["run_id"], set()).add(r["rule"])
    return out


def test_each_rule_fires_and_does_not(ts):
    result = ak.check_policy(ts, policy(), as_of=MON)
    got = rules_by_run(result)
    assert "a0" not in got and "a1" not in got and "a10" not in got
    assert got["a2"] == {"unapproved_action", "provenance_no_documents"}
    assert got["a3"] == {"unapproved_action", "provenance_no_documents"}
    assert got["a4"] == {"provenance_unversioned"}
    assert got["a5"] == {"provenance_stale"}
    assert got["a6"] == {"provenance_stale"}
    assert "a7" not in got  # an approval before the action is the confirmation
    assert got["a8"] == {"unapproved_action", "provenance_no_documents"}  # an approval after it is not
    assert got["a9"] == {"unapproved_action", "provenance_no_documents"}  # documents read after acting do not count
    details = {(r["run_id"], r["rule"]): r["detail"] for r in result.violations.iter_rows(named=True)}
    assert details["a4", "provenance_unversioned"] == (
        "outbound call 'send_email' on documents without a version (kb/new), and no approval first")
    assert "kb/rules@rules-2026-09-01 (69 days)" in details["a5", "provenance_stale"]
    assert "kb/faq@v1 (40 days)" in details["a6", "provenance_stale"]
    assert details["a2", "provenance_no_documents"].startswith("gated action 'refund' with no document retrieved")
    assert set(result.violations.filter(pl.col("rule").str.starts_with("provenance"))["severity"]) == {"high"}


def test_each_rule_can_be_switched_off(ts):
    def fired(**provenance):
        return set(ak.check_policy(ts, policy(**provenance), as_of=MON).violations["rule"])

    assert "provenance_unversioned" not in fired(require_versions=False)
    assert "provenance_no_documents" not in fired(require_documents=False)
    assert "provenance_stale" not in fired(max_document_age_days=None)
    assert {"provenance_stale"} <= fired(max_document_age_days=39)  # a6 is at least 40 days old
    assert not any(r.startswith("provenance") for r in fired(max_document_age_days=70, require_documents=False,
                                                             require_versions=False))
    off = ak.check_policy(ts, policy(off=True), as_of=MON)
    assert not any(r.startswith("provenance") for r in off.violations["rule"]) and off.superseded is None


def test_an_approval_from_the_store_confirms(ts):
    decisions = pl.DataFrame({"run_id": ["a2"], "action": ["refund"], "decision": ["approved"],
                              "decided_at": [MON + dt.timedelta(seconds=4)]})
    got = rules_by_run(ak.check_policy(ts, policy(), approvals=decisions, as_of=MON))
    assert "a2" not in got and got["a3"] == {"unapproved_action", "provenance_no_documents"}


def test_actions_on_superseded_versions_are_listed(tmp_path):
    t = Traces()
    day = lambda n: MON + dt.timedelta(days=n)  # noqa: E731
    t.run("s1", start=day(0)).retrieval(3, ("kb/policy", "v2"), ("kb/hash", "abc")).tool("refund", 10, {}, kind="action")
    t.run("s2", start=day(1)).retrieval(3, ("kb/hash", "def"))  # a later run shows kb/hash changed; it does not act
    t.run("s3", start=day(2)).retrieval(3, ("kb/policy", "v9")).tool("refund", 10, {}, kind="action")
    t.run("s4", start=day(3)).retrieval(3, ("kb/policy", "v2")).tool("refund", 10, {}, kind="action")  # stale cache
    t.run("s5", start=day(4)).retrieval(3, ("kb/policy", "v10"))  # v10 is newer than v9 (numbers, not text)
    ts = t.load(tmp_path)
    pol = policy(max_document_age_days=None)
    result = ak.check_policy(ts, pol, as_of=day(5))
    listed = result.superseded.select("run_id", "document_id", "version_used", "superseded_by", "shown_by_run").rows()
    assert listed == [("s1", "kb/hash", "abc", "def", "s2"),  # versions that are not numbers: the order first seen
                      ("s1", "kb/policy", "v2", "v10", "s5"),
                      ("s3", "kb/policy", "v9", "v10", "s5"),
                      ("s4", "kb/policy", "v2", "v10", "s5")]
    assert set(result.superseded["acted"]) == {"gated action"}
    assert not any(r.startswith("provenance") for r in result.violations["rule"])
    assert result.to_dict()["superseded"][0]["run_id"] == "s1" and "superseded" in result._repr_html_()
    quiet = ak.check_policy(ts, policy(max_document_age_days=None, list_superseded=False), as_of=day(5))
    assert quiet.superseded.height == 0


def test_policy_file_keys_are_checked(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text("agent:\n  name: Bot\n  provenance:\n    require_documents: true\n    max_age_days: 30\n")
    with pytest.raises(ak.ConfigError) as err:
        ak.load_policies(path)
    assert err.value.line == 5 and err.value.key == "agent.provenance.max_age_days"
