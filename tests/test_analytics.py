"""Policy-as-code, error budgets, customer-impact list, shadow mode and readiness, on hand-made runs and the sample."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.cli import main

from .conftest import SAMPLE, TEMPLATES
from .test_metrics import MON, canonical_runs

POLICY = {"agent": {"name": "Bot", "max_runtime_seconds": 30, "max_tool_calls": 2, "max_cost_usd": 0.5,
                    "max_retries": 1, "tools_allowlist": ["lookup"], "actions_require_approval": ["pay"],
                    "outbound_domains_allowlist": ["example.com"],
                    "logging": {"store_retrieval_sources": True, "retention_days": 30}}}


def write_policy(tmp_path, text: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, key, line, message", [
    ("agent:\n  name: Bot\n  max_tool_call: 3\n", "agent.max_tool_call", 3, "unknown key"),
    ("agent:\n  name: Bot\n  max_cost_usd: cheap\n", "agent.max_cost_usd", 3, "valid number"),
    ("agent:\n  name: Bot\n  max_runtime_seconds: -5\n", "agent.max_runtime_seconds", 3, "greater than 0"),
    ("agent:\n  name: Bot\n  tools_allowlist: lookup\n", "agent.tools_allowlist", 3, "valid list"),
    ("agent:\n  name: Bot\n  logging: {retention_days: 0}\n", "agent.logging.retention_days", 3, "greater than 0"),
    ("agent:\n  name: Bot\n  outbound_domains_allowlist: ['https://x.com/a']\n", "agent.outbound_domains_allowlist", 3, "not a domain"),
    ("name: Bot\n", "agent", None, "top-level 'agent:'"),
])
def test_policy_validation_names_file_key_line(tmp_path, text, key, line, message):
    path = write_policy(tmp_path, text)
    with pytest.raises(ak.ConfigError) as err:
        ak.load_policies(path)
    assert err.value.key == key and err.value.line == line and message in str(err.value)
    assert str(path) in str(err.value)


def _run(steps, run_id="r", outcome="success", start=MON):
    return [{"record": "run", "run_id": run_id, "agent": "Bot", "outcome": outcome}] + [
        {"record": "step", "run_id": run_id, **s} for s in steps]


def load_records(tmp_path, records):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return ak.load_traces(path)


def t(seconds):
    return (MON + dt.timedelta(seconds=seconds)).isoformat()


def test_every_rule_by_hand(tmp_path):
    records = _run([
        {"step_id": "root", "kind": "agent", "started_at": t(0), "ended_at": t(60)},            # 60 s > 30
        {"step_id": "llm", "parent_id": "root", "kind": "llm", "cost_usd": 0.9, "started_at": t(1)},  # > 0.5
        {"step_id": "l1", "parent_id": "root", "kind": "tool", "tool_name": "lookup", "input": "{}", "started_at": t(2)},
        {"step_id": "l2", "parent_id": "root", "kind": "tool", "tool_name": "lookup", "input": "{}", "started_at": t(3)},
        {"step_id": "l3", "parent_id": "root", "kind": "tool", "tool_name": "lookup", "input": "{}", "started_at": t(4)},
        {"step_id": "web", "parent_id": "root", "kind": "tool", "tool_name": "browse",
         "input": '{"url": "https://api.example.com/x", "cc": "boss@evil.test"}', "started_at": t(5)},
        {"step_id": "pay1", "parent_id": "root", "kind": "action", "tool_name": "pay", "started_at": t(6)},
        {"step_id": "ok", "parent_id": "root", "kind": "approval", "approval_decision": "approved",
         "started_at": t(7), "ended_at": t(8)},
        {"step_id": "pay2", "parent_id": "root", "kind": "action", "tool_name": "pay", "started_at": t(9)},
        {"step_id": "kb", "parent_id": "root", "kind": "retrieval", "started_at": t(10)},
    ]) + [{"record": "source", "run_id": "r", "step_id": "kb", "document_id": "doc-1"},
          {"record": "source", "run_id": "r", "step_id": "kb", "document_id": "doc-2", "version": "v1"}]
    records += _run([{"step_id": "root", "kind": "agent", "started_at": t(0), "ended_at": t(5)}], run_id="other-agent")
    records[-2]["agent"] = "NotPoliced"
    ts = load_records(tmp_path, records)
    result = ak.check_policy(ts, POLICY, as_of=MON + dt.timedelta(days=45))
    got = {(r["rule"], r["step_id"]) for r in result.violations.iter_rows(named=True)}
    assert got == {
        ("max_runtime", None), ("max_cost", None), ("max_tool_calls", None), ("max_retries", None),
        ("retention_exceeded", None), ("tool_not_allowed", "web"), ("outbound_domain", "web"),
        ("unapproved_action", "pay1"), ("retrieval_without_version", "kb"),
    }
    assert result.runs_checked == 1 and not result.ok
    v = result.violations
    assert v["severity"][0] == "critical" and v["rule"][0] == "unapproved_action"
    assert "evil.test" in v.filter(pl.col("rule") == "outbound_domain")["detail"][0]
    assert "api.example.com" not in " ".join(v["detail"].to_list())  # a subdomain of an allowed domain
    assert "6 tool calls, cap 2" in v.filter(pl.col("rule") == "max_tool_calls")["detail"][0]


def test_queue_decisions_count_as_approval_evidence(tmp_path):
    records = _run([
        {"step_id": "root", "kind": "agent", "started_at": t(0), "ended_at": t(20)},
        {"step_id": "pay", "parent_id": "root", "kind": "action", "tool_name": "pay", "started_at": t(10)}])
    ts = load_records(tmp_path, records)
    assert ak.check_policy(ts, POLICY, as_of=MON).violations["rule"].to_list() == ["unapproved_action"]
    q = ak.ApprovalQueue("sqlite://")
    req = q.submit(agent="Bot", run_id="r", action="pay", params={}, requested_by="bot")
    q.approve(req.id, "alice")
    decisions = q.decisions().with_columns(pl.lit(MON + dt.timedelta(seconds=5)).alias("decided_at"))
    assert ak.check_policy(ts, POLICY, approvals=decisions, as_of=MON).ok
    late = decisions.with_columns(pl.lit(MON + dt.timedelta(seconds=15)).alias("decided_at"))
    assert not ak.check_policy(ts, POLICY, approvals=late, as_of=MON).ok  # approved after acting: no evidence


def test_sample_policy_check_and_lint(sample_ts):
    result = ak.check_policy(sample_ts, TEMPLATES / "policies", as_of=dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc))
    rules = set(result.violations["rule"])
    assert {"unapproved_action", "max_tool_calls", "max_runtime", "outbound_domain", "retrieval_without_version",
            "cost_unknown"} <= rules
    assert "tool_not_allowed" not in rules and "retention_exceeded" not in rules
    # every unapproved action is an action step with no approved approval before it in its run
    steps = sample_ts.steps.collect()
    for row in result.violations.filter(pl.col("rule") == "unapproved_action").iter_rows(named=True):
        run = steps.filter(pl.col("run_id") == row["run_id"])
        act = run.filter(pl.col("step_id") == row["step_id"]).row(0, named=True)
        before = run.filter((pl.col("approval_decision") == "approved") & (pl.col("ended_at") <= act["started_at"]))
        assert before.height == 0
    lint = ak.lint_policy(TEMPLATES / "policies")
    assert lint.select("agent", "finding").rows() == [("SocAlertTriage", "browsing_and_privileged_actions")]


def test_lint_findings(tmp_path):
    path = write_policy(tmp_path, "agent:\n  name: Loose\n  tools_allowlist: [fetch_url]\n  actions_require_approval: [deploy]\n"
                                  "  logging: {trace_all_runs: false}\n")
    findings = set(ak.lint_policy(path)["finding"])
    assert findings == {"browsing_and_privileged_actions", "missing_cap", "no_outbound_allowlist", "tracing_off",
                        "no_retention"}


def test_policy_cli_exit_codes(tmp_path):
    runner = CliRunner()
    clean = write_policy(tmp_path, "agent:\n  name: InvoiceCategorizer\n  max_tool_calls: 1000\n")
    args = ["--traces", str(SAMPLE / "traces.otlp.jsonl.gz"), "--mapping", str(TEMPLATES / "mapping.yaml")]
    ok = runner.invoke(main, ["policy", "check", str(clean), *args])
    assert ok.exit_code == 0 and "222 runs checked, 0 violations" in ok.output
    strict = runner.invoke(main, ["policy", "check", str(clean), *args, "--strict"])
    assert strict.exit_code == 1 and "lint findings" in strict.output
    # an agent with no run (a typo) is not "0 runs checked, 0 violations": exit 2, naming what the traces hold
    typo = write_policy(tmp_path, "agent:\n  name: InvoiceCategoriser\n  max_tool_calls: 1\n")
    for extra in ([], ["--strict"]):
        wrong = runner.invoke(main, ["policy", "check", str(typo), *args, *extra])
        assert wrong.exit_code == 2 and "runs checked" not in wrong.output
        assert "agent 'InvoiceCategoriser'" in wrong.output and "agents: InvoiceCategorizer, SocAlertTriage" in wrong.output
    bad = runner.invoke(main, ["policy", "check", str(TEMPLATES / "policies"), *args, "--format", "json"])
    assert bad.exit_code == 1
    payload = json.loads(bad.output)
    assert set(payload["violations"][0]) == {"run_id", "agent", "rule", "detail", "severity", "step_id"}
    broken = write_policy(tmp_path, "agent:\n  name: X\n  colour: red\n")
    assert runner.invoke(main, ["policy", "check", str(broken), *args]).exit_code == 2
    tests = runner.invoke(main, ["policy", "test", str(TEMPLATES / "policy_tests")])
    assert tests.exit_code == 0 and "7 passed, 0 failed" in tests.output
    lint = runner.invoke(main, ["policy", "lint", str(TEMPLATES / "policies")])
    assert lint.exit_code == 1 and "browsing_and_privileged_actions" in lint.output


def test_failing_policy_test_exits_1(tmp_path):
    (tmp_path / "p.yaml").write_text("agent:\n  name: Bot\n  max_tool_calls: 0\n")
    (tmp_path / "t.yaml").write_text(
        "policy: p.yaml\ncases:\n  - name: wrong expectation\n    steps:\n"
        "      - {step_id: a, kind: tool, tool_name: x, started_at: '2026-11-16T10:00:00Z'}\n    expect: []\n")
    result = CliRunner().invoke(main, ["policy", "test", str(tmp_path / "t.yaml")])
    assert result.exit_code == 1 and "expected [], got ['max_tool_calls']" in result.output


def test_error_budget_by_hand(tmp_path):
    runs = [(f"r{i}", "Bot", "wf", "active", "success", MON + dt.timedelta(days=i % 10), 1, 0.1) for i in range(40)]
    ts = canonical_runs(tmp_path, runs, labels=[("r1", "customer_impact", "true"), ("r2", "customer_impact", "TRUE"),
                                                 ("r3", "customer_impact", "false")])
    as_of = MON + dt.timedelta(days=10)
    out = ak.error_budget(ts, {"budgets": [{"agent": "Bot", "max_customer_impact_rate": 0.1, "window_days": 20},
                                           {"workflow": "wf", "max_customer_impact_rate": 0.025, "window_days": 20}]},
                          as_of=as_of).iter_rows(named=True)
    bot, wf = list(out)
    assert (bot["runs"], bot["customer_impact_errors"], bot["allowed_errors"]) == (40, 2, 4.0)
    assert bot["consumed"] == 0.5 and bot["burn_rate"] == pytest.approx(0.05 / 0.1) and not bot["breached"]
    # 2 errors in 20 days = 0.1/day; 2 errors of budget left -> 20 days
    assert bot["exhausted_on"] == (as_of + dt.timedelta(days=20)).date()
    assert wf["allowed_errors"] == 1.0 and wf["breached"] and wf["exhausted_on"] == as_of.date()
    with pytest.raises(ak.ConfigError, match="exactly one of 'agent' or 'workflow'"):
        bad = tmp_path / "b.yaml"
        bad.write_text("budgets:\n  - {max_customer_impact_rate: 0.1}\n")
        ak.error_budget(ts, bad)


def test_customer_impact_list(sample_ts):
    impact = ak.customer_impact_errors(sample_ts)
    labels = sample_ts.labels.filter(pl.col("name") == "customer_impact").collect()
    assert impact.height == labels.height > 0
    assert set(impact["label_source"]) == {"incident-review"}
    assert impact["when"].is_sorted(descending=True) and impact["what_it_did"].null_count() == 0


def test_shadow_mode(sample_ts, tmp_path):
    report = ak.shadow_report(sample_ts)
    shadow_runs = sample_ts.runs.filter(pl.col("mode") == "shadow").collect()
    decisions = sample_ts.labels.filter(pl.col("name") == "human_decision").collect()
    assert 0 < report.compared <= min(shadow_runs.height, decisions.height)
    assert report.agreement_rate == pytest.approx(report.pairs["agree"].mean())
    conf = report.confusion()
    cells = conf.drop("recommendation").sum_horizontal().sum()
    assert cells == report.compared
    diagonal = sum(conf.filter(pl.col("recommendation") == c)[c][0] for c in conf.columns[1:]
                   if c in conf["recommendation"].to_list())
    assert diagonal == report.pairs["agree"].sum()
    path = report.export_regression_set(tmp_path / "regressions.jsonl", sample_ts)
    cases = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(cases) == report.disagreements().height
    assert all(c["agent_output"] != c["expected"] and c["input"] for c in cases)


def test_readiness(sample_ts, tmp_path):
    r = ak.readiness(sample_ts, TEMPLATES / "readiness.yaml", policies=TEMPLATES / "policies",
                     baselines=TEMPLATES / "baselines.yaml", policy_tests=TEMPLATES / "policy_tests")
    lines = r.lines
    assert lines.height == 3 * 10 and set(lines["verdict"]) <= {"go", "no-go", "unknown"}
    soc_cost = lines.filter((pl.col("agent") == "SocAlertTriage") & (pl.col("check") == "cost_vs_human")).row(0, named=True)
    assert soc_cost["verdict"] == "unknown" and "unknown cost" in soc_cost["evidence"]  # never a go on no evidence
    unapproved = lines.filter(pl.col("check") == "unapproved_gated_actions")
    assert (unapproved["verdict"] == "no-go").all()
    tests = lines.filter(pl.col("check") == "policy_tests_pass")
    assert tests["measured"].to_list() == [1.0, 1.0, 1.0] and (tests["verdict"] == "go").all()
    assert set(r.verdicts()["verdict"]) == {"no-go"}
    html = r._repr_html_()
    assert "no-go" in html and "ops-lead@example.com" in html
    bad = tmp_path / "r.yaml"
    bad.write_text("checks:\n  - {area: Quality, metric: vibes, min: 1, owner: me}\n")
    with pytest.raises(ak.ConfigError) as err:
        ak.readiness(sample_ts, bad)
    assert err.value.key == "checks.0.metric" and err.value.line == 2


def test_metrics_cli(tmp_path):
    result = CliRunner().invoke(main, ["metrics", str(SAMPLE / "traces.otlp.jsonl.gz"), "--by", "agent",
                                       "--format", "json", "--labels", str(SAMPLE / "labels.csv"),
                                       "--pricing", str(TEMPLATES / "pricing.yaml")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sum(r["runs"] for r in rows) == 616 and sum(r["customer_impact_errors"] for r in rows) > 0
    bad = CliRunner().invoke(main, ["metrics", str(SAMPLE / "traces.otlp.jsonl.gz"), "--by", "colour"])
    assert bad.exit_code == 2 and "cannot group by" in bad.output
