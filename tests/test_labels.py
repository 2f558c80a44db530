"""Labels matched as ids are matched: one run-id rule, one true/false rule, and every label problem listed in
``ts.label_problems`` and counted in the load summary — never dropped in silence."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.labels import id_key, truth
from agentops_kit.widgets import RunInspector

from .conftest import SAMPLE, TEMPLATES

TRACES = SAMPLE / "traces.otlp.jsonl.gz"
MAPPING = TEMPLATES / "mapping.yaml"


def impact_rows() -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "labels.csv").filter(pl.col("name") == "customer_impact")


def impacted(ts) -> set[str]:
    return set(ak.customer_impact_errors(ts)["run_id"].to_list())


def test_ids_in_another_case_or_padded_and_values_like_1_0_still_count(tmp_path):
    """The issue's reproduction: run ids upper-cased or padded with spaces, and `1.0` for true, read 0
    customer-impact errors. They now give the same numbers as the labels as written."""
    rows = impact_rows()
    assert rows.height > 20 and set(rows["value"]) == {"true"}
    mangled = rows.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.col("run_id").str.to_uppercase())
        .when(pl.int_range(pl.len()) % 3 == 1).then(pl.format("  {} ", pl.col("run_id")))
        .otherwise(pl.col("run_id")).alias("run_id"),
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("1.0")).otherwise(pl.lit(" YES")).alias("value"))
    mangled.write_csv(tmp_path / "mangled.csv")
    rows.write_csv(tmp_path / "plain.csv")
    plain = ak.load_traces(TRACES, mapping=MAPPING, labels=tmp_path / "plain.csv")
    odd = ak.load_traces(TRACES, mapping=MAPPING, labels=tmp_path / "mangled.csv")

    expected = ak.weekly_metrics(plain)["customer_impact_errors"]
    assert expected.sum() == rows.height
    assert ak.weekly_metrics(odd)["customer_impact_errors"].to_list() == expected.to_list()
    assert impacted(odd) == impacted(plain) == set(rows["run_id"])
    budgets = {"budgets": [{"agent": "SupportRefundAgent", "max_customer_impact_rate": 0.05}]}
    assert (ak.error_budget(odd, budgets)["customer_impact_errors"].to_list()
            == ak.error_budget(plain, budgets)["customer_impact_errors"].to_list())
    inspector = RunInspector(odd)  # the widget reads the same rule: its "customer impact" filter finds those runs
    inspector.only_impact.value = True
    found = set(inspector.search.matching(inspector.query()).select("run_id").collect()["run_id"])
    assert found == impacted(plain)
    assert odd.label_problems.collect().height == 0 and odd.summary()["label_problems"] == {}
    # the labels table holds the runs' own ids, so every join downstream is exact
    assert set(odd.labels.collect()["run_id"]) <= set(odd.runs.collect()["run_id"])

    cli = CliRunner().invoke(main, ["metrics", str(TRACES), "--mapping", str(MAPPING), "--labels",
                                    str(tmp_path / "mangled.csv"), "--by", "agent", "--format", "json"])
    assert cli.exit_code == 0, cli.output
    assert sum(r["customer_impact_errors"] for r in json.loads(cli.output)) == rows.height


def test_unmatched_conflicting_and_unreadable_labels_are_listed_and_counted(tmp_path):
    rows = impact_rows()
    first, second = rows["run_id"][0], rows["run_id"][1]
    extra = pl.DataFrame({
        "run_id": ["not-a-run", first, second, second],
        "name": ["customer_impact"] * 4,
        "value": ["true", "false", "maybe", "2"],
        "source": ["typo-file", "second-review", "triage", "triage"],
    })
    pl.concat([rows, extra]).write_csv(tmp_path / "labels.csv")
    ts = ak.load_traces(TRACES, mapping=MAPPING, labels=tmp_path / "labels.csv")

    problems = ts.label_problems.collect()
    assert problems.columns == ["run_id", "name", "value", "problem", "source"]
    by_problem = {p: f for (p,), f in problems.partition_by("problem", as_dict=True).items()}
    assert by_problem["no_such_run"].select("run_id", "value", "source").rows() == [("not-a-run", "true", "typo-file")]
    conflict = by_problem["conflicting_values"].row(0, named=True)
    assert (conflict["run_id"], conflict["value"]) == (first, "false | true")
    assert conflict["source"] == "incident-review; second-review"
    assert sorted(by_problem["unreadable_value"]["value"]) == ["2", "maybe"]

    # labelled both ways counts as impact (and is listed); unreadable is not counted as true, and is listed
    assert impacted(ts) == set(rows["run_id"])
    summary = ts.summary()
    assert summary["label_problems"] == {"conflicting_values": 1, "no_such_run": 1, "unreadable_value": 2}
    assert "label problems: conflicting_values: 1, no_such_run: 1, unreadable_value: 2" in ts.summary_text()
    assert "4 label problems" in ts._repr_html_() and ".label_problems" in ts._repr_html_()
    # a part filtered from the set keeps the problems of the load
    week = ts.filter_runs(pl.col("agent") == "InvoiceCategorizer")
    assert week.label_problems.collect().equals(problems)


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("TRUE", True), (" yes ", True), ("y", True), ("t", True), ("on", True), ("1", True),
    ("1.0", True), ("1e0", True), ("+1", True),
    ("false", False), ("No", False), ("n", False), ("off", False), ("0", False), ("0.0", False), ("-0", False),
    ("maybe", None), ("2", None), ("0.5", None), ("nan", None), ("inf", None), ("", None), ("yes please", None),
])
def test_one_true_false_rule(value, expected):
    assert pl.select(truth(pl.lit(value))).item() is expected


@pytest.mark.parametrize(("label_id", "run_id", "matches"), [
    ("ABCDEF0123456789ABCDEF0123456789", "abcdef0123456789abcdef0123456789", True),  # W3C / OTel trace id
    ("  abcdef0123456789 ", "ABCDEF0123456789", True),  # 16-digit (B3) trace id, padded
    ("C0FFEE00-0000-4000-8000-00000000BEEF", "c0ffee00-0000-4000-8000-00000000beef", True),  # UUID
    ("Run-A", "run-a", False),  # other ids: exact
    (" Run-A\t", "Run-A", True),  # ... after trimming
    ("abc", "ABC", False),  # short hex-looking words are not trace ids
])
def test_one_run_id_rule(label_id, run_id, matches):
    same = pl.select(id_key(pl.lit(label_id)) == id_key(pl.lit(run_id))).item()
    assert same is matches


def _runs_file(tmp_path, run_ids):
    start = dt.datetime(2026, 11, 16, 9, tzinfo=dt.timezone.utc)
    lines = []
    for i, run_id in enumerate(run_ids):
        lines.append({"record": "run", "run_id": run_id, "agent": "Bot", "workflow": "wf"})
        lines.append({"record": "step", "run_id": run_id, "step_id": "root", "kind": "agent",
                      "started_at": (start + dt.timedelta(minutes=i)).isoformat()})
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_case_differs_only_for_ids_whose_format_says_so(tmp_path):
    runs = _runs_file(tmp_path, ["Run-A", "c0ffee00-0000-4000-8000-00000000beef"])
    (tmp_path / "labels.csv").write_text(
        "run_id,name,value\nrun-a,customer_impact,true\nC0FFEE00-0000-4000-8000-00000000BEEF,customer_impact,true\n")
    ts = ak.load_traces(runs, labels=tmp_path / "labels.csv")
    assert impacted(ts) == {"c0ffee00-0000-4000-8000-00000000beef"}
    assert ts.label_problems.collect().select("run_id", "problem").rows() == [("run-a", "no_such_run")]


def test_ambiguous_ids_are_a_problem_not_a_guess(tmp_path):
    runs = _runs_file(tmp_path, ["a" * 32, "A" * 32])  # two runs whose ids are one trace id by its format
    (tmp_path / "labels.csv").write_text(f"run_id,name,value\n{'aA' * 16},customer_impact,true\n")
    ts = ak.load_traces(runs, labels=tmp_path / "labels.csv")
    assert impacted(ts) == set()
    assert ts.label_problems.collect()["problem"].to_list() == ["ambiguous_run_id"]


def test_score_label_reads_numbers_and_true_false_and_says_what_it_cannot(tmp_path):
    runs = _runs_file(tmp_path, ["r1", "r2", "r3", "r4", "r5"])
    (tmp_path / "labels.csv").write_text(
        "run_id,name,value\nr1,reward,1.0\nr2,reward,0\nr3,reward,true\nr4,reward,lots\nr5,reward,1\nr5,reward,0.0\n")
    ts = ak.load_traces(runs, labels=tmp_path / "labels.csv")
    outcomes = dict(ts.runs.select("run_id", "outcome").collect().iter_rows())
    # r5 has two different scores: the lowest decides, and the conflict is listed
    assert outcomes == {"r1": "success", "r2": "failure", "r3": "success", "r4": "unknown", "r5": "failure"}
    problems = ts.label_problems.collect().select("run_id", "problem").sort("run_id").rows()
    assert problems == [("r4", "unreadable_value"), ("r5", "conflicting_values")]


def test_problems_are_worked_out_again_for_a_set_read_back(tmp_path):
    runs = _runs_file(tmp_path, ["r1"])
    (tmp_path / "labels.csv").write_text("run_id,name,value\nr1,customer_impact,perhaps\nr9,customer_impact,true\n")
    ts = ak.load_traces(runs, labels=tmp_path / "labels.csv")
    ts.write_parquet(tmp_path / "set")
    again = ak.TraceSet.read_parquet(tmp_path / "set")
    assert again.summary()["label_problems"] == ts.summary()["label_problems"] == {"no_such_run": 1,
                                                                                    "unreadable_value": 1}


def test_run_inspector_finds_a_pasted_id_in_any_case(sample_ts):
    inspector = RunInspector(sample_ts)
    run_id = sample_ts.runs.select("run_id").collect().item(0, 0)
    inspector.run_id.value = f"  {run_id.upper()} "
    assert inspector.current == run_id


def test_a_labels_file_with_half_a_long_form_is_refused(tmp_path):
    (tmp_path / "labels.csv").write_text("run_id,value\nr1,true\n")
    with pytest.raises(ak.ConfigError, match="'value' column without its pair"):
        ak.load_traces(_runs_file(tmp_path, ["r1"]), labels=tmp_path / "labels.csv")
