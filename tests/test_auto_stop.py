"""Stops that follow the numbers (opt-in) and rollback plans in sight: `policy check --stop-on`, the weekly
review's stop of agents in breach, the readiness file's rollback section."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.approvals import AgentStopped, ApprovalQueue, generate_key
from agentops_kit.cli import main
from agentops_kit.errors import AgentOpsError

from .conftest import SAMPLE, TEMPLATES

TRACES = str(SAMPLE / "traces.otlp.jsonl.gz")
MAPPING = str(TEMPLATES / "mapping.yaml")
POLICIES = str(TEMPLATES / "policies")


@pytest.fixture(autouse=True)
def no_audit_key_from_the_environment(monkeypatch):
    for name in ("AGENTOPS_AUDIT_KEY", "AGENTOPS_AUDIT_KEY_FILE", "AGENTOPS_APPROVALS_DB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'approvals.db'}"
    ApprovalQueue(url).close()
    return url


def policy_check(*args):
    return CliRunner().invoke(main, ["policy", "check", POLICIES, "--traces", TRACES, "--mapping", MAPPING, *args])


def test_policy_check_stops_the_agents_with_critical_violations(url, sample_ts):
    result = policy_check("--stop-on", "critical", "--db", url, "--as", "ci-bot")
    assert result.exit_code == 1, result.output  # violations: the check still fails
    assert "automatic stops (--stop-on critical):" in result.output
    critical = ak.check_policy(sample_ts, POLICIES).violations.filter(pl.col("severity") == "critical")
    expected = {agent: sorted(set(runs)) for agent, runs in
                critical.group_by("agent").agg(pl.col("run_id")).iter_rows()}
    assert len(expected) == 3
    q = ApprovalQueue(url, create=False)
    stops = q.agent_stops()
    assert sorted(stops["agent"]) == sorted(expected)
    for row in stops.iter_rows(named=True):
        assert row["status"] == "stopped" and row["stopped_by"] == "ci-bot"
        assert row["rule"] == "policy:unapproved_action" and row["runs"] == expected[row["agent"]]
        assert row["reason"].startswith("automatic stop: ") and "critical policy violation" in row["reason"]
        assert f"stopped {row['agent']} (audit row {row['seq']})" in result.output
    with pytest.raises(AgentStopped, match="automatic stop"):
        ak.guard(q, agent="SupportRefundAgent").check()
    assert q.verify().ok
    rows = q.audit_log().height
    again = policy_check("--stop-on", "critical", "--db", url, "--as", "ci-bot", "--format", "json")
    assert again.exit_code == 1
    payload = json.loads(again.output)
    assert {s["agent"] for s in payload["stops"]} == set(expected)
    assert not any(s["recorded_now"] for s in payload["stops"])  # already stopped: nothing written
    assert q.audit_log().height == rows


def test_automatic_stops_are_off_by_default_and_need_a_store_and_a_name(url):
    assert policy_check("--db", url).exit_code == 1
    assert ApprovalQueue(url, create=False).agent_stops().is_empty()
    no_name = policy_check("--stop-on", "critical", "--db", url)
    assert no_name.exit_code == 2 and "--stop-on needs --db URL" in no_name.stderr
    no_store = policy_check("--stop-on", "critical", "--as", "ci-bot")
    assert no_store.exit_code == 2 and "--stop-on needs --db URL" in no_store.stderr
    missing = policy_check("--stop-on", "critical", "--as", "ci-bot", "--db", url.replace("approvals.db", "typo.db"))
    assert missing.exit_code == 2 and "no approvals store" in missing.stderr
    # a lower threshold also stops on high violations
    assert policy_check("--stop-on", "high", "--db", url, "--as", "ci-bot").exit_code == 1
    rules = ApprovalQueue(url, create=False).agent_stops()["rule"].to_list()
    assert any("policy:tool_not_allowed" in r or "policy:max_runtime" in r or "policy:outbound_domain" in r
               or "policy:provenance" in r for r in rules), rules


@pytest.fixture
def review():
    return ak.WeeklyReview.from_files(TRACES, week="2026-W47", mapping=MAPPING, labels=SAMPLE / "labels.csv",
                                      policies=POLICIES, readiness_file=TEMPLATES / "readiness.yaml",
                                      error_budget_file=TEMPLATES / "error_budget.yaml")


def test_the_weekly_review_stops_agents_in_breach_and_says_so(url, review):
    assert review.auto_stops is None and "Automatic stops" not in review.digest()  # off by default
    breached = review.budgets.filter(pl.col("breached"))["target"].to_list()
    assert breached == ["agent SupportRefundAgent"]
    done = review.stop_breaching_agents(url, actor="ci-bot")
    q = ApprovalQueue(url, create=False)
    refund = q.agent_stops().filter(pl.col("agent") == "SupportRefundAgent").row(0, named=True)
    assert "error_budget:agent SupportRefundAgent" in refund["rule"] and "policy:unapproved_action" in refund["rule"]
    impact = ak.customer_impact_errors(review.ts).filter(pl.col("agent") == "SupportRefundAgent")
    budget = review.budgets.row(0, named=True)
    in_window = impact.filter((pl.col("when") > budget["window_start"]) & (pl.col("when") <= budget["as_of"]))
    assert set(in_window["run_id"]) <= set(refund["runs"]) and in_window.height > 0
    assert "error budget of agent SupportRefundAgent breached" in refund["reason"]
    digest = review.digest()
    assert "## Automatic stops (--stop-on-breach)" in digest
    assert len(done.stopped) == q.agent_stops().height == 3
    section = digest.split("## Automatic stops (--stop-on-breach)")[1].split("## ")[0]
    assert "stopped SupportRefundAgent (audit row" in section
    assert "Automatic stops (--stop-on-breach)" in review.html() and "stopped SupportRefundAgent" in review.html()
    assert q.verify().ok


def test_rollback_plans_next_to_agents_in_breach(review):
    digest = review.digest()
    breaches = digest.split("## Breaches")[1].split("## ")[0]
    assert ("- error budget breached: agent SupportRefundAgent (" in breaches
            and "— rollback: support-lead@example.com — " in breaches)
    [invoice] = [line for line in breaches.splitlines() if line.startswith("- InvoiceCategorizer:")]
    assert invoice.endswith("— rollback plan: none (the readiness file says so)")
    html = review.html()
    assert "rollback: support-lead@example.com" in html
    # the go/no-go lists a plan of none as an open check
    assert "rollback_plan (no-go)" in digest.split("## Go / no-go")[1].split("InvoiceCategorizer")[1].split("\n")[0]


def test_readiness_lists_a_missing_or_empty_rollback_plan_as_open(sample_ts, tmp_path):
    lines = ak.readiness(sample_ts, TEMPLATES / "readiness.yaml").lines.filter(pl.col("check") == "rollback_plan")
    by_agent = {r["agent"]: r for r in lines.iter_rows(named=True)}
    assert by_agent["SupportRefundAgent"]["verdict"] == "go" and by_agent["SupportRefundAgent"]["area"] == "Rollback"
    assert by_agent["SupportRefundAgent"]["owner"] == "support-lead@example.com"
    assert by_agent["InvoiceCategorizer"]["verdict"] == "no-go" and "none" in by_agent["InvoiceCategorizer"]["evidence"]
    checks = {"checks": [{"area": "Quality", "metric": "completion_rate", "min": 0.5, "owner": "me"}]}
    missing = ak.readiness(sample_ts, checks).lines.filter(pl.col("check") == "rollback_plan")
    assert missing.height == 3 and set(missing["verdict"]) == {"no-go"}
    assert set(missing["evidence"]) == {"rollback plan: missing (not named in the readiness file)"}
    bad = tmp_path / "readiness.yaml"
    bad.write_text("checks:\n  - {area: Quality, metric: completion_rate, min: 0.5, owner: me}\n"
                   "rollback:\n  SupportRefundAgent: {owner: me}\n")
    with pytest.raises(AgentOpsError, match=r"readiness.yaml.*rollback.*plan"):
        ak.readiness(sample_ts, bad)


def test_report_weekly_stop_on_breach_needs_a_store_and_a_name(tmp_path, url):
    args = ["report", "weekly", "--traces", TRACES, "--week", "2026-W47", "--out", str(tmp_path / "out"),
            "--stop-on-breach"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "--stop-on-breach needs --approvals-db URL" in result.stderr
    result = CliRunner().invoke(main, [*args, "--db", url.replace("approvals.db", "typo.db"), "--as", "ci-bot"])
    assert result.exit_code == 2 and "no approvals store" in result.stderr
    assert not (tmp_path / "out").exists()


def test_report_weekly_stops_agents_in_breach_in_a_keyed_store_with_its_key_file(tmp_path):
    """The whole path: the CLI, papermill, the notebook's stop, the keyed store (its key from --key-file only)."""
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    generate_key(key)
    url = f"sqlite:///{tmp_path / 'keyed.db'}"
    ApprovalQueue(url, key_file=key).close()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "report", "weekly", "--traces", TRACES, "--mapping", MAPPING, "--labels", str(SAMPLE / "labels.csv"),
        "--policy", POLICIES, "--error-budget", str(TEMPLATES / "error_budget.yaml"), "--week", "2026-W47",
        "--out", str(out), "--stop-on-breach", "--approvals-db", url, "--as", "ci-bot", "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    q = ApprovalQueue(url, key_file=key, create=False)
    stops = q.agent_stops()
    assert "SupportRefundAgent" in stops["agent"].to_list() and set(stops["stopped_by"]) == {"ci-bot"}
    assert q.verify().ok
    digest = (out / "weekly-2026-W47.md").read_text()
    assert "## Automatic stops (--stop-on-breach)" in digest and "stopped SupportRefundAgent (audit row" in digest
    with pytest.raises(AgentStopped):
        ak.guard(q, agent="SupportRefundAgent").check()
