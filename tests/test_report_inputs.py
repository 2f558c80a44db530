"""Only the user's inputs: the weekly review's numbers equal `agentops-kit metrics` on the same inputs, an option
not given is absent (never the sample's file), and the Inputs section names every file read with its SHA-256."""

from __future__ import annotations

import hashlib
import math
import re
import shutil

import polars as pl
import pytest
from click.testing import CliRunner

from agentops_kit.cli import main
from agentops_kit.rendering import esc
from agentops_kit.report import WeeklyReview
from agentops_kit.report.inputs import SETTINGS

from .conftest import SAMPLE, TEMPLATES

TRACES = SAMPLE / "traces.otlp.jsonl.gz"
WEEK = "2026-W47"
GIVEN = {
    "mapping": TEMPLATES / "mapping.yaml",
    "pricing": TEMPLATES / "pricing.yaml",
    "labels": [SAMPLE / "labels.csv"],
    "baselines": TEMPLATES / "baselines.yaml",
    "policies": TEMPLATES / "policies",
    "error_budget_file": TEMPLATES / "error_budget.yaml",
    "readiness_file": TEMPLATES / "readiness.yaml",
    "policy_tests": TEMPLATES / "policy_tests",
}
CASES = {"nothing": [], **{name: [name] for name in GIVEN}, "readiness with its evidence":
         ["readiness_file", "policy_tests", "policies", "baselines", "mapping"], "everything": list(GIVEN)}
METRICS_FLAGS = {"mapping": "--mapping", "pricing": "--pricing", "labels": "--labels", "baselines": "--baselines"}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metrics_of_week(options: dict) -> list[dict]:
    """What `agentops-kit metrics --format json` prints for these inputs, rows of WEEK."""
    args = ["metrics", str(TRACES), "--format", "json"]
    for name, flag in METRICS_FLAGS.items():
        for value in (options[name] if isinstance(options.get(name), list) else [options[name]]) if name in options else []:
            args += [flag, str(value)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    frame = pl.read_json(result.stdout.encode())
    return frame.filter(pl.col("week") == WEEK).sort("agent").to_dicts()


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: c.replace(" ", "-"))
def test_review_numbers_equal_metrics_with_and_without_each_option(case):
    options = {name: GIVEN[name] for name in CASES[case]}
    review = WeeklyReview.from_files(TRACES, WEEK, **options)
    expected = metrics_of_week(options)
    got = review.to_polars().sort("agent").to_dicts()
    assert [r["agent"] for r in got] == [r["agent"] for r in expected] and len(got) == 3
    for mine, theirs in zip(got, expected, strict=True):
        differing = {c: (mine[c], theirs[c]) for c in theirs if not same(mine[c], theirs[c])}
        assert not differing, (mine["agent"], differing)

    digest, html = review.digest(), review._repr_html_()
    assert f"sha256 {sha256(TRACES)}" in digest and sha256(TRACES) in html
    described = dict(review.inputs.described())
    for name, title in SETTINGS:
        if name in options:
            values = options[name] if isinstance(options[name], list) else [options[name]]
            files = [f for v in values for f in (sorted(v.glob("*.y*ml")) if v.is_dir() else [v])]
            assert [f.sha256 for f in review.inputs.settings[name]] == [sha256(f) for f in files]
            assert all(f"sha256 {sha256(f)}" in digest for f in files)
        else:
            assert review.inputs.settings[name] is None
            assert described[title].startswith("none given"), (title, described[title])
            assert re.search(rf"^- {title}: none given", digest, re.M), title
    # an absent option leaves its part out, and says so; it never falls back to a sample or template file
    assert ("no policy given" in html) == ("policies" not in options)
    assert ("no error budget given" in html) == ("error_budget_file" not in options)
    assert ("no readiness checklist given" in html) == ("readiness_file" not in options)
    # the sample's refund agent breaches its budget: with the budget *and* the labels that count its errors
    assert ("breached" in digest) == ("error_budget_file" in options and "labels" in options)
    if "labels" not in options:
        assert review.impact.height == 0 and review.to_polars()["customer_impact_errors"].sum() == 0
    assert str(SAMPLE / "labels.csv") not in html or "labels" in options


def test_report_weekly_takes_only_the_inputs_given_and_resolves_globs_from_the_callers_folder(tmp_path, monkeypatch):
    """The reproduction of the issue: `report weekly --traces 's2/*.gz'` run from the user's folder, with no other
    option, reported the sample's labels, budgets and policies, and read the glob from notebooks/."""
    (tmp_path / "s2").mkdir()
    mine = tmp_path / "s2" / "mine.otlp.jsonl.gz"
    shutil.copy(TRACES, mine)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report", "weekly", "--traces", "s2/*.gz", "--week", WEEK, "--out", "r"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "r"
    # counts link to the runs behind them (test_runs_behind.py); here only the numbers matter
    html = re.sub(r'<a class="agentops-count" href="#[^"]+">([^<]*)</a>', r"\1", (out / f"weekly-{WEEK}.html").read_text())
    digest = (out / f"weekly-{WEEK}.md").read_text()
    for r in metrics_of_week({}):
        row = (f"<td>{esc(r['agent'])}</td><td class='num'>{r['runs']}</td>"
               f"<td class='num'>{r['completion_rate']:.1%}</td><td class='num'>{r['completion_rate_wow'] * 100:+.1f} pts</td>"
               f"<td class='num'>{r['escalation_rate']:.1%}</td><td class='num'>{r['escalation_rate_wow'] * 100:+.1f} pts</td>"
               f"<td class='num'>{r['customer_impact_errors']}</td>").replace("'", '"')
        assert row in html, row
        assert r["customer_impact_errors"] == 0  # no labels given: no customer-impact error
    assert f"- traces: `{mine}` ({mine.stat().st_size} bytes, sha256 {sha256(mine)})" in digest
    assert "breached" not in digest and "violation" not in digest
    for title in ("labels", "policies", "error budgets", "baselines", "readiness", "policy tests", "quality metrics",
                  "approvals store"):
        assert f"- {title}: none given" in digest, title
    assert "no policy given" in html and "no error budget given" in html and "no readiness checklist given" in html
    for sample_file in ("labels.csv", "error_budget.yaml", "readiness.yaml", "baselines.yaml", "policies/"):
        assert sample_file not in html and sample_file not in digest, sample_file


def test_the_approvals_store_is_named_without_its_password_and_a_relative_sqlite_path_made_absolute(tmp_path, monkeypatch):
    from agentops_kit.report.export import absolute_sqlite
    from agentops_kit.report.inputs import ReviewInputs

    described = dict(ReviewInputs.of([], approvals_db="postgresql+psycopg://ops:s3cret@db.example/agentops").described())
    assert described["approvals store"] == "postgresql+psycopg://ops:***@db.example/agentops"
    assert dict(ReviewInputs.of([]).described())["approvals store"] == "none given"
    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite("sqlite:///stores/approvals.db") == f"sqlite:///{tmp_path / 'stores' / 'approvals.db'}"
    for given in ("sqlite:////abs/approvals.db", "sqlite:///:memory:", "postgresql://h/db"):
        assert absolute_sqlite(given) == given


def test_a_table_set_folder_is_fingerprinted_file_by_file(tmp_path, sample_ts):
    from agentops_kit.report.inputs import ReviewInputs

    folder = tmp_path / "tables"
    sample_ts.write_parquet(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    inputs = ReviewInputs.of([folder])
    assert files and [f.path for f in inputs.traces] == [str(p) for p in files]
    assert [f.sha256 for f in inputs.traces] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in files]
    review = WeeklyReview.from_files([folder], WEEK)  # was: IsADirectoryError on the folder itself
    assert review.headline.height == 3
