"""Config that cannot mean two things: duplicate keys, non-finite numbers and two prices for one day are errors
naming the lines; a policy, budget, baseline or readiness input naming an agent or workflow with no run in the
traces says so (exit 2 from the CLI), listing what the traces hold."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.analytics.baseline import load_baselines
from agentops_kit.analytics.error_budget import load_budgets
from agentops_kit.analytics.policy import load_policy
from agentops_kit.analytics.policy_tests import run_policy_tests
from agentops_kit.analytics.readiness import load_readiness
from agentops_kit.approvals.approvers import load_approvers
from agentops_kit.cli import main
from agentops_kit.config import read_yaml
from agentops_kit.errors import ConfigError
from agentops_kit.inventory import load_weights
from agentops_kit.scope import NothingToShow

from .conftest import ROOT, SAMPLE, TEMPLATES

TRACES = SAMPLE / "traces.otlp.jsonl.gz"
MAPPING = TEMPLATES / "mapping.yaml"
HELD = "agents: InvoiceCategorizer, SocAlertTriage, SupportRefundAgent; workflows: invoice_categorisation, " \
       "soc_alert_triage, support_refunds"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- duplicate keys --------------------------------------------------------------------------------------
def test_a_duplicate_key_in_a_policy_is_an_error_naming_both_lines(tmp_path):
    """The issue's reproduction: a cap of 6 silently became 99."""
    policy = write(tmp_path, "p.yaml", "agent:\n  name: SupportRefundAgent\n  max_tool_calls: 6\n"
                                       "  max_cost_usd: 1\n  max_tool_calls: 99\n")
    with pytest.raises(ConfigError) as err:
        load_policy(policy)
    assert (err.value.line, err.value.key) == (5, "agent.max_tool_calls")
    assert "duplicate key 'max_tool_calls': first at line 3, again at line 5" in str(err.value)
    result = CliRunner().invoke(main, ["policy", "check", str(policy), "--traces", str(TRACES), "--mapping", str(MAPPING)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert re.search(r"p\.yaml, line 5, key 'agent\.max_tool_calls': duplicate key", result.output)


DUPLICATED = {  # a small file of each kind, with one key given twice (line 3 repeats line 2's key)
    "mapping": ("mapping.yaml", "outcome:\n  label: reward\n  label: score\n", ak.load_mapping),
    "pricing": ("pricing.yaml", "models:\n  gpt-4o: [{input: 2.5, output: 10}]\n  gpt-4o: [{input: 1, output: 1}]\n",
                ak.load_pricing),
    "error budget": ("b.yaml", "budgets:\n  - {agent: A, max_customer_impact_rate: 0.1,\n     agent: B}\n", load_budgets),
    "baselines": ("baselines.yaml", "workflows:\n  a: {human_minutes_per_run: 3}\n  a: {human_minutes_per_run: 9}\n",
                  load_baselines),
    "readiness": ("r.yaml", "window_weeks: 4\nwindow_weeks: 8\nchecks: []\n", load_readiness),
    "approvers": ("a.yaml", "actions:\n  pay: [alice]\n  pay: [bob]\n", load_approvers),
    "weights": ("w.yaml", "weights:\n  volume: 1\n  volume: 0\n", load_weights),
    "inventory": ("inv.yaml", "workflows:\n  - workflow: a\n    workflow: b\n", ak.score_inventory),
    "policy tests": ("t.yaml", "policy: p.yaml\npolicy: q.yaml\ncases: []\n", run_policy_tests),
}


@pytest.mark.parametrize("kind", sorted(DUPLICATED))
def test_every_yaml_file_refuses_duplicate_keys(tmp_path, kind):
    name, text, loader = DUPLICATED[kind]
    with pytest.raises(ConfigError) as err:
        loader(write(tmp_path, name, text))
    found = re.search(r"duplicate key '[\w-]+': first at line (\d), again at line (\d)", str(err.value))
    assert found and int(found[1]) < int(found[2]) == err.value.line and err.value.file.endswith(name)


def test_yaml_features_that_are_not_duplicates_still_work(tmp_path):
    path = write(tmp_path, "baselines.yaml", "workflows:\n  a: &base {human_minutes_per_run: 9, hourly_cost_usd: 48}\n"
                                             "  b:\n    <<: *base\n    human_minutes_per_run: 3\n")
    loaded = load_baselines(path)
    assert loaded.workflows["b"].human_minutes_per_run == 3 and loaded.workflows["b"].hourly_cost_usd == 48
    assert read_yaml(write(tmp_path, "k.yaml", "1: a\n'1': b\n"))[0] == {1: "a", "1": "b"}  # two different keys


def test_every_yaml_reader_goes_through_config_py():
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "agentops_kit").rglob("*.py")
               if re.search(r"yaml\.(safe_|full_|unsafe_)?load|yaml\.compose|yaml\.\w*Loader", p.read_text())]
    assert readers == ["agentops_kit/config.py"]


# ---- non-finite numbers -------------------------------------------------------------------------------------
def test_an_infinite_price_is_refused_not_turned_into_infinite_cost(tmp_path):
    """The issue's reproduction: `input: .inf` gave cost_usd = inf."""
    for value in (".inf", "-.inf", ".nan", ".NaN", "1e999", "1.0e+999"):
        pricing = write(tmp_path, "pricing.yaml", f"models:\n  gpt-4o:\n    - {{input: {value}, output: 10}}\n")
        with pytest.raises(ConfigError, match="a finite number is expected") as err:
            ak.load_traces(TRACES, mapping=MAPPING, pricing=pricing)
        assert (err.value.line, err.value.key) == (3, "models.gpt-4o.0.input")
    result = CliRunner().invoke(main, ["metrics", str(TRACES), "--pricing", str(pricing)])
    assert result.exit_code == 2 and "a finite number is expected" in result.output


NON_FINITE = {  # wherever a number is read from configuration
    "policy": ("p.yaml", "agent:\n  name: X\n  max_cost_usd: .inf\n", load_policy),
    "policy runtime": ("p.yaml", "agent:\n  name: X\n  max_runtime_seconds: .nan\n", load_policy),
    "error budget": ("b.yaml", "budgets:\n  - {agent: A, max_customer_impact_rate: .nan}\n", load_budgets),
    "baselines": ("baselines.yaml", "workflows:\n  a: {human_minutes_per_run: .inf}\n", load_baselines),
    "readiness": ("r.yaml", "checks:\n  - {area: Quality, metric: completion_rate, min: -.inf, owner: me}\n",
                  load_readiness),
    "weights": ("w.yaml", "hours_cap: .inf\n", load_weights),
    "mapping": ("m.yaml", "outcome:\n  label_success_min: .nan\n", ak.load_mapping),
    "tool price": ("pricing.yaml", "tools:\n  search: {per_call: 1e999}\n", ak.load_pricing),
}


@pytest.mark.parametrize("kind", sorted(NON_FINITE))
def test_non_finite_numbers_are_refused_everywhere(tmp_path, kind):
    name, text, loader = NON_FINITE[kind]
    with pytest.raises(ConfigError, match="a finite number is expected") as err:
        loader(write(tmp_path, name, text))
    assert err.value.line is not None


def test_non_finite_numbers_in_the_inventory_are_refused(tmp_path):
    text = (TEMPLATES / "inventory.csv").read_text().replace(",100,10,50,", ",inf,10,NaN,", 1)
    with pytest.raises(ConfigError) as err:
        ak.score_inventory(write(tmp_path, "inventory.csv", text))
    assert "column runs_per_week: 'inf' is not a finite number" in str(err.value)
    assert "column hourly_cost_usd: 'NaN' is not a finite number" in str(err.value)


def test_a_date_that_does_not_exist_is_a_config_error_with_its_line(tmp_path):
    pricing = write(tmp_path, "pricing.yaml", "models:\n  gpt-4o:\n    - {since: 2026-13-01, input: 1, output: 2}\n")
    with pytest.raises(ConfigError, match="cannot read '2026-13-01' as timestamp: month must be in 1..12") as err:
        ak.load_pricing(pricing)
    assert err.value.line == 3


# ---- two prices for one day --------------------------------------------------------------------------------
def test_two_prices_of_one_model_from_the_same_day_are_an_error_naming_both_lines(tmp_path):
    """The issue's reproduction: the last one silently won."""
    pricing = write(tmp_path, "pricing.yaml", "models:\n  gpt-4o:\n    - since: 2024-05-13\n      input: 5\n"
                                              "      output: 15\n    - since: 2024-08-06\n      input: 2.5\n"
                                              "      output: 10\n    - since: 2024-05-13\n      input: 1\n      output: 1\n")
    with pytest.raises(ConfigError) as err:
        ak.load_pricing(pricing)
    assert err.value.key == "models.gpt-4o" and err.value.line == 9
    assert "model 'gpt-4o' has two prices from 2024-05-13 (entries 1 and 3)" in str(err.value)
    assert "(lines 3 and 9)" in str(err.value)
    result = CliRunner().invoke(main, ["metrics", str(TRACES), "--pricing", str(pricing)])
    assert result.exit_code == 2 and "two prices from 2024-05-13" in result.output
    # the same rule for prices given as objects in Python
    with pytest.raises(ValueError, match="two prices from 2000-01-01"):
        ak.Pricing.model_validate({"models": {"m": [{"input": 1, "output": 1}, {"input": 2, "output": 2}]}})


def test_the_shipped_price_list_has_one_price_per_model_and_day():
    assert ak.load_pricing(TEMPLATES / "pricing.yaml").models


# ---- names with no run -----------------------------------------------------------------------------------
def test_a_policy_for_an_agent_with_no_runs_says_so(sample_ts, tmp_path):
    policy = write(tmp_path, "typo.yaml", "agent:\n  name: SupportRefundAgnet\n  max_tool_calls: 6\n")
    with pytest.raises(NothingToShow) as err:
        ak.check_policy(sample_ts, [policy])
    message = str(err.value)
    assert message.startswith(f"policy check: agent 'SupportRefundAgnet' (in {policy}) has no run in the traces")
    assert HELD in message
    result = CliRunner().invoke(main, ["policy", "check", str(policy), "--traces", str(TRACES), "--mapping",
                                       str(MAPPING), "--strict"])
    assert result.exit_code == 2 and "0 runs checked" not in result.output and HELD in result.output
    # one typo among good policies is still an error: "0 violations" for that agent would be false assurance
    with pytest.raises(NothingToShow):
        ak.check_policy(sample_ts, [TEMPLATES / "policies", policy])


def test_an_agent_without_runs_in_one_week_is_not_a_typo(sample_ts):
    policies = TEMPLATES / "policies"
    week = sample_ts.filter_runs(pl.col("agent") == "InvoiceCategorizer")  # the others have no run here
    result = ak.check_policy(week, policies)
    assert result.runs_checked == week.runs.select(pl.len()).collect().item() > 0
    assert ak.error_budget(week, TEMPLATES / "error_budget.yaml").height == 3
    ak.weekly_metrics(week, baselines=TEMPLATES / "baselines.yaml")


def test_an_error_budget_for_a_missing_agent_or_workflow_says_so(sample_ts, tmp_path):
    budgets = write(tmp_path, "b.yaml", "budgets:\n  - {agent: SupportRefundAgent, max_customer_impact_rate: 0.05}\n"
                                        "  - {workflow: refunds, max_customer_impact_rate: 0.05}\n")
    with pytest.raises(NothingToShow) as err:
        ak.error_budget(sample_ts, budgets)
    assert f"error budget {budgets}: workflow 'refunds' (in budgets entry 2) has no run" in str(err.value)
    assert HELD in str(err.value)


def test_baselines_naming_a_workflow_with_no_runs_say_so(tmp_path):
    baselines = write(tmp_path, "baselines.yaml", "workflows:\n  support_refund: {human_minutes_per_run: 9}\n")
    result = CliRunner().invoke(main, ["metrics", str(TRACES), "--mapping", str(MAPPING), "--baselines", str(baselines)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"baselines {baselines}: workflow 'support_refund' has no run in the traces loaded" in result.output
    assert HELD in result.output
    # the inventory as baselines lists candidates for automation, most without runs: not a typo
    ok = CliRunner().invoke(main, ["metrics", str(TRACES), "--mapping", str(MAPPING), "--baselines",
                                   str(TEMPLATES / "inventory.csv")])
    assert ok.exit_code == 0, ok.output


def test_a_baselines_file_with_no_workflows_says_so(tmp_path):
    """An empty baselines file would leave every workflow without a baseline, and time saved unknown, silently."""
    for name, text in (("empty.yaml", ""), ("none.yaml", "workflows: {}\n")):
        baselines = write(tmp_path, name, text)
        result = CliRunner().invoke(main, ["metrics", str(TRACES), "--mapping", str(MAPPING), "--baselines",
                                           str(baselines)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"{baselines}, key 'workflows': no workflows" in result.output


def test_readiness_with_policies_or_baselines_naming_nothing_says_so(sample_ts, tmp_path):
    policy = write(tmp_path, "typo.yaml", "agent:\n  name: SocAlertTriager\n")
    with pytest.raises(NothingToShow, match="readiness: agent 'SocAlertTriager'"):
        ak.readiness(sample_ts, TEMPLATES / "readiness.yaml", policies=[policy])
    baselines = write(tmp_path, "baselines.yaml", "workflows:\n  soc_triage: {human_minutes_per_run: 9}\n")
    with pytest.raises(NothingToShow, match="workflow 'soc_triage'"):
        ak.readiness(sample_ts, TEMPLATES / "readiness.yaml", baselines=baselines)
    good = ak.readiness(sample_ts, TEMPLATES / "readiness.yaml", policies=TEMPLATES / "policies",
                        baselines=TEMPLATES / "baselines.yaml")
    assert good.lines.height > 0


def test_checks_on_an_empty_export_say_there_are_no_runs(tmp_path):
    empty = write(tmp_path, "empty.jsonl", "")
    result = CliRunner().invoke(main, ["policy", "check", str(TEMPLATES / "policies"), "--traces", str(empty)])
    assert result.exit_code == 2 and "the traces hold no runs" in result.output


def test_policy_tests_read_unquoted_times_and_refuse_cases_that_make_no_run(tmp_path):
    (tmp_path / "p.yaml").write_text("agent:\n  name: Bot\n  actions_require_approval: [pay]\n")
    ok = write(tmp_path, "t.yaml", "policy: p.yaml\ncases:\n  - name: unquoted times\n    steps:\n"
                                   "      - {step_id: root, kind: agent, started_at: 2026-11-16T10:00:00Z}\n"
                                   "      - {step_id: s1, parent_id: root, kind: action, tool_name: pay, "
                                   "started_at: 2026-11-16T10:00:05Z}\n    expect: [unapproved_action]\n")
    assert [r.passed for r in run_policy_tests(ok)] == [True]
    bad = write(tmp_path, "bad.yaml", "policy: p.yaml\ncases:\n  - name: no ids\n    steps:\n      - {kind: agent}\n"
                                      "    expect: []\n")
    result = CliRunner().invoke(main, ["policy", "test", str(bad)])
    assert result.exit_code == 2 and "case 'no ids': its steps make no run" in result.output


def test_the_weekly_report_refuses_a_typo_before_its_notebook_runs(tmp_path):
    policy = write(tmp_path, "typo.yaml", "agent:\n  name: InvoiceCategoriser\n")
    budgets = write(tmp_path, "b.yaml", "budgets:\n  - {agent: SocAlertTriage, max_customer_impact_rate: 0.05}\n"
                                        "  - {workflow: soc_triage, max_customer_impact_rate: 0.05}\n")
    broken = write(tmp_path, "broken.yaml", "agent:\n  name: SocAlertTriage\n  max_tool_cals: 3\n")
    base = ["report", "weekly", "--traces", str(TRACES), "--mapping", str(MAPPING), "--week", "2026-W47"]
    for option, expected in ((["--policy", str(policy)], "policy check: agent 'InvoiceCategoriser'"),
                             (["--error-budget", str(budgets)], "workflow 'soc_triage' (in budgets entry 2)"),
                             (["--policy", str(broken)], "key 'agent.max_tool_cals': unknown key")):
        out = tmp_path / "out"
        result = CliRunner().invoke(main, [*base, *option, "--out", str(out)])
        assert result.exit_code == 2 and expected in result.output
        assert HELD in result.output or "unknown key" in result.output
        assert "Traceback" not in result.output and not out.exists()  # refused before anything was written
