"""Quality metrics from labels: each kind (mean, rate, share) with a floor or a ceiling on a hand-made set
whose every number is counted by eye, unknowns counted beside the value; in weekly_metrics with their
week-over-week change and the cost per run that met the quality floor; readiness no-go; the bundled sample."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.analytics.quality import QualityConfig, load_quality, quality_metrics
from agentops_kit.cli import main

from .canonical_cases import MON, Traces
from .conftest import SAMPLE, TEMPLATES

CONFIG = {"metrics": [
    {"name": "csat", "kind": "mean", "label": "csat", "agent": "Bot", "floor": 4.0, "owner": "support@example.com"},
    {"name": "recontact_rate", "kind": "rate", "label": "recontact", "workflow": "wf", "ceiling": 0.25},
    {"name": "match_share", "kind": "share", "label": "recon", "values": ["match", "Matched"], "agent": "Other",
     "floor": 0.75},
]}
W47 = MON + dt.timedelta(weeks=1)


def hand_made() -> Traces:
    t = Traces()
    h = lambda n: MON + dt.timedelta(hours=n)  # noqa: E731
    # Bot, 2026-W46: csat 5, 3, "great" (unreadable), none, 4; recontact false, true, false, none, "no"
    for run_id, outcome, cost, start in (("b1", "success", 0.10, h(1)), ("b2", "success", 0.20, h(2)),
                                         ("b3", "failure", 0.30, h(3)), ("b4", "success", 0.40, h(4)),
                                         ("b5", "success", 0.50, h(5))):
        t.run(run_id, outcome=outcome, cost=cost, start=start)
    for run_id, csat, recontact in (("b1", "5", "false"), ("b2", "3", "true"), ("b3", "great", "false"),
                                    ("b5", "4", "no")):
        t.label(run_id, "csat", csat).label(run_id, "recontact", recontact)
    # Bot, 2026-W47: csat 2 and 5, both re-contacted
    t.run("b6", start=W47, cost=0.10)
    t.run("b7", start=W47 + dt.timedelta(hours=1), cost=0.10)
    t.label("b6", "csat", "2").label("b6", "recontact", "true").label("b7", "csat", "5").label("b7", "recontact", "TRUE")
    # Other (workflow wf2), 2026-W46: match, MISMATCH, " Matched ", none
    for i in range(1, 5):
        t.run(f"o{i}", agent="Other", workflow="wf2", start=h(i), cost=0.01)
    t.label("o1", "recon", "match").label("o2", "recon", "MISMATCH").label("o3", "recon", " Matched ")
    # a red-team case with a terrible score: not a production run, not in any quality number
    t.run("rt", mode="red_team", start=h(6))
    t.label("rt", "csat", "1").label("rt", "recontact", "true")
    return t


@pytest.fixture
def ts(tmp_path):
    return hand_made().load(tmp_path)


def row(frame, **keys):
    hits = [r for r in frame.iter_rows(named=True) if all(r[k] == v for k, v in keys.items())]
    assert len(hits) == 1, keys
    return hits[0]


def test_each_kind_with_its_floor_or_ceiling(ts):
    q = quality_metrics(ts, CONFIG, by=("agent", "week")).frame
    csat = row(q, agent="Bot", week="2026-W46", metric="csat")
    assert csat["value"] == pytest.approx(4.0) and csat["breached"] is False  # (5 + 3 + 4) / 3, floor 4 holds
    assert (csat["labelled"], csat["unknown"], csat["unreadable"], csat["runs"]) == (3, 2, 1, 5)
    assert csat["bound"] == ">= 4" and csat["target"] == "agent Bot"
    rate = row(q, agent="Bot", week="2026-W46", metric="recontact_rate")
    assert rate["value"] == pytest.approx(0.25) and rate["breached"] is False  # 1 of 4, ceiling 0.25 holds
    assert (rate["labelled"], rate["unknown"]) == (4, 1)
    share = row(q, agent="Other", week="2026-W46", metric="match_share")
    assert share["value"] == pytest.approx(2 / 3) and share["breached"] is True  # match, Matched; not MISMATCH
    assert (share["labelled"], share["unknown"]) == (3, 1)
    later = row(q, agent="Bot", week="2026-W47", metric="csat")
    assert later["value"] == pytest.approx(3.5) and later["breached"] is True
    assert later["value_wow"] == pytest.approx(-0.5)
    later_rate = row(q, agent="Bot", week="2026-W47", metric="recontact_rate")
    assert later_rate["value"] == 1.0 and later_rate["breached"] and later_rate["value_wow"] == pytest.approx(0.75)
    # the red-team case is in no row: Bot has 5 + 2 runs
    assert sum(r["runs"] for r in q.iter_rows(named=True) if r["metric"] == "csat") == 7


def test_beside_the_standard_metrics_with_cost_per_quality_run(ts):
    m = ak.weekly_metrics(ts, by=("agent", "week"), quality=CONFIG)
    w46 = row(m, agent="Bot", week="2026-W46")
    assert (w46["csat"], w46["csat_labelled"], w46["csat_unknown"]) == (pytest.approx(4.0), 3, 2)
    assert (w46["recontact_rate"], w46["recontact_rate_unknown"]) == (pytest.approx(0.25), 1)
    assert w46["match_share"] is None and w46["match_share_unknown"] == 0  # Bot is outside its scope
    # successes b1, b2, b4, b5: b1 and b5 met both bars, b2 missed the csat floor, b4 has no label
    assert (w46["successes"], w46["quality_successes"], w46["quality_unknown_successes"]) == (4, 2, 1)
    assert w46["cost_per_successful_run"] == pytest.approx(1.5 / 4)
    assert w46["cost_per_quality_success"] == pytest.approx(1.5 / 2)  # all cost over the runs that met the floor
    w47 = row(m, agent="Bot", week="2026-W47")
    assert w47["csat_wow"] == pytest.approx(-0.5) and w47["recontact_rate_wow"] == pytest.approx(0.75)
    assert w47["quality_successes"] == 0 and w47["cost_per_quality_success"] is None  # undefined, not 0
    other = row(m, agent="Other", week="2026-W46")
    assert (other["match_share"], other["quality_successes"], other["quality_unknown_successes"]) == (
        pytest.approx(2 / 3), 2, 1)
    assert row(m, agent="Other", week="2026-W47")["runs"] == 0  # the empty week is still there
    plain = ak.weekly_metrics(ts, by=("agent", "week"))
    assert "csat" not in plain.columns and plain.height == m.height


def test_readiness_floor_breached_is_no_go(ts):
    config = {"metrics": [*CONFIG["metrics"],
                          {"name": "nps", "kind": "mean", "label": "nps", "agent": "Bot", "floor": 7}]}
    checks = {"checks": [{"area": "Quality", "metric": "completion_rate", "min": 0.5, "owner": "me"}]}
    r = ak.readiness(ts, checks, quality=config)
    lines = {(x["agent"], x["check"]): x for x in r.lines.iter_rows(named=True)}
    csat = lines["Bot", "quality:csat"]  # both weeks: (5 + 3 + 4 + 2 + 5) / 5
    assert csat["verdict"] == "no-go" and csat["measured"] == pytest.approx(3.8) and csat["threshold"] == ">= 4"
    assert "over 5 labelled runs; 2 of 7 runs unknown (1 unreadable)" in csat["evidence"]
    assert csat["owner"] == "support@example.com" and csat["area"] == "Quality"
    assert lines["Bot", "quality:recontact_rate"]["measured"] == pytest.approx(3 / 6)
    assert lines["Other", "quality:match_share"]["verdict"] == "no-go"
    nps = lines["Bot", "quality:nps"]
    assert nps["verdict"] == "unknown" and nps["measured"] is None  # no label: unknown, never a go
    assert dict(r.verdicts().select("agent", "verdict").iter_rows()) == {"Bot": "no-go", "Other": "no-go"}
    held = {"metrics": [{"name": "csat", "kind": "mean", "label": "csat", "agent": "Bot", "floor": 3.5}]}
    again = ak.readiness(ts, checks, quality=held).lines
    assert row(again, agent="Bot", check="quality:csat")["verdict"] == "go"


@pytest.mark.parametrize("text, line, problem", [
    ("metrics:\n  - {name: csat, kind: mean, label: csat, agent: Bot, floor: 4, colour: red}\n", 2, "unknown key"),
    ("metrics:\n  - {name: csat, kind: mean, label: csat, agent: Bot, floor: 4, ceiling: 5}\n", 2, "exactly one of 'floor'"),
    ("metrics:\n  - {name: r, kind: rate, label: x, agent: Bot, floor: 1.5}\n", 2, "between 0 and 1"),
    ("metrics:\n  - {name: s, kind: share, label: x, agent: Bot, floor: 0.5}\n", 2, "'values' is required"),
    ("metrics:\n  - {name: runs, kind: mean, label: x, agent: Bot, floor: 1}\n", 2, "clash"),
    ("metrics:\n  - {name: a, kind: mean, label: x, agent: Bot, workflow: wf, floor: 1}\n", 2, "exactly one of 'agent'"),
    ("metrics:\n  - {name: a, kind: median, label: x, agent: Bot, floor: 1}\n", 2, "Input should be"),
    ("metrics:\n  - {name: a, kind: mean, label: x, agent: Bot, floor: .nan}\n", 2, "finite"),
    ("metrics:\n  - {name: a, kind: mean, label: x, agent: Bot, floor: 1}\n  - {name: a, kind: mean, label: y, agent: B, floor: 1}\n",
     1, "unique"),
])
def test_bad_quality_files_name_the_place(tmp_path, text, line, problem):
    path = tmp_path / "quality.yaml"
    path.write_text(text)
    with pytest.raises(ak.ConfigError) as err:
        load_quality(path)
    assert err.value.line == line and problem in str(err.value) and "quality.yaml" in str(err.value)


def test_metrics_cli_and_the_bundled_sample(tmp_path):
    template = load_quality(TEMPLATES / "quality.yaml")
    assert isinstance(template, QualityConfig) and {m.kind for m in template.metrics} == {"mean", "rate", "share"}
    result = CliRunner().invoke(main, ["metrics", str(SAMPLE / "traces.otlp.jsonl.gz"), "--by", "agent",
                                       "--labels", str(SAMPLE / "labels.csv"), "--labels", str(SAMPLE / "quality_labels.csv"),
                                       "--quality", str(TEMPLATES / "quality.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["agent"]: r for r in json.loads(result.output)}
    ts = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", labels=[SAMPLE / "quality_labels.csv"])
    labels = ts.labels.collect()
    csat = labels.filter(labels["name"] == "csat")["value"].cast(float)
    support = rows["SupportRefundAgent"]
    assert support["csat"] == pytest.approx(csat.mean()) and support["csat_labelled"] == csat.len()
    assert support["csat_labelled"] + support["csat_unknown"] == support["runs"]
    assert rows["SocAlertTriage"]["csat"] is None and rows["SocAlertTriage"]["cost_per_quality_success"] is None
    assert rows["InvoiceCategorizer"]["reconciliation_match_share"] is not None
    bad = tmp_path / "q.yaml"
    bad.write_text("metrics: []\n")
    failed = CliRunner().invoke(main, ["metrics", str(SAMPLE / "traces.otlp.jsonl.gz"), "--quality", str(bad)])
    assert failed.exit_code == 2 and "q.yaml" in failed.output and "Traceback" not in failed.output


def test_a_metric_naming_an_agent_without_runs_is_refused_everywhere(tmp_path):
    typo = tmp_path / "q.yaml"
    typo.write_text("metrics:\n  - name: csat\n    kind: mean\n    label: csat\n    agent: SupportRefundAgnt\n    floor: 4\n")
    traces = str(SAMPLE / "traces.otlp.jsonl.gz")
    said = r"quality metrics: agent 'SupportRefundAgnt' \(in metric csat\) has no run in the traces loaded"
    for args in (["metrics", traces, "--quality", str(typo)],
                 ["report", "weekly", "--traces", traces, "--week", "2026-W47", "--quality", str(typo),
                  "--out", str(tmp_path / "r")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and re.search(said, result.output), result.output
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # refused before papermill
    ts = ak.load_traces(traces)
    with pytest.raises(ak.AgentOpsError, match=said):
        quality_metrics(ts, typo)
    with pytest.raises(ak.AgentOpsError, match=said):
        ak.weekly_metrics(ts, quality=typo)


def test_rates_and_shares_state_their_bounds_as_percentages():
    config = load_quality(TEMPLATES / "quality.yaml")
    bounds = {m.kind: m.bound for m in config.metrics}
    assert bounds["mean"] == ">= 4" and bounds["rate"].endswith("%") and bounds["share"].endswith("%")


def test_the_table_view_leads_with_the_quality_metrics_asked_for():
    result = CliRunner().invoke(main, ["metrics", str(SAMPLE / "traces.otlp.jsonl.gz"), "--by", "agent",
                                       "--labels", str(SAMPLE / "quality_labels.csv"),
                                       "--quality", str(TEMPLATES / "quality.yaml")])
    assert result.exit_code == 0, result.output
    for name in [m.name for m in load_quality(TEMPLATES / "quality.yaml").metrics] + ["cost_per_quality_success"]:
        assert name in result.output
