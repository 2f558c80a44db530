"""The weekly report, end to end: papermill executes the notebook, nbconvert writes offline HTML."""

from __future__ import annotations

import hashlib
import re

import nbformat
import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.rendering import esc
from agentops_kit.weeks import week_bounds

from .conftest import SAMPLE, TEMPLATES, otlp_line, otlp_span, write_lines

FULL = ["--mapping", str(TEMPLATES / "mapping.yaml"), "--pricing", str(TEMPLATES / "pricing.yaml"),
        "--labels", str(SAMPLE / "labels.csv"), "--policy", str(TEMPLATES / "policies"),
        "--readiness", str(TEMPLATES / "readiness.yaml"), "--error-budget", str(TEMPLATES / "error_budget.yaml"),
        "--baselines", str(TEMPLATES / "baselines.yaml"), "--policy-tests", str(TEMPLATES / "policy_tests"),
        "--labels", str(SAMPLE / "quality_labels.csv"), "--quality", str(TEMPLATES / "quality.yaml")]


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    """An approvals store holding requests for the sample's last gated actions (as `agentops-kit demo` seeds it)."""
    from agentops_kit.approvals import ApprovalQueue
    from agentops_kit.approvals.demo import seed_from_traces

    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'approvals.db'}"
    queue = ApprovalQueue(url)
    try:
        seed_from_traces(queue, ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml"))
    finally:
        queue.close()
    return url


@pytest.fixture(scope="module")
def weekly(tmp_path_factory, store_url):
    out = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(main, ["report", "weekly", "--traces", str(SAMPLE / "traces.otlp.jsonl.gz"),
                                       "--week", "2026-W47", "--out", str(out), *FULL, "--approvals-db", store_url])
    assert result.exit_code == 0, result.output
    return out


def test_report_files_and_sections(weekly, store_url):
    html = (weekly / "weekly-2026-W47.html").read_text()
    for heading in ("Headline numbers per agent", "Trends", "Customer-impact errors and error budget",
                    "Cost by agent, model and tool", "How long runs take", "Policy violations", "Slowest and most expensive runs", "Go / no-go",
                    "Rejected input records", "Error budgets", "Most expensive runs", "Quality floors",
                    "Red-team exercises", "Approval gates: can one be relaxed?", "Provenance",
                    "Cost per successful run that met every quality floor", "keep the gate", "Inputs",
                    "Runs behind the numbers"):
        assert heading in html, heading
    assert hashlib.sha256((SAMPLE / "traces.otlp.jsonl.gz").read_bytes()).hexdigest() in html
    assert "none given" not in html  # every option was given
    assert (weekly / "weekly-2026-W47.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    executed = nbformat.read(weekly / "weekly-2026-W47.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    digest = (weekly / "weekly-2026-W47.md").read_text()
    assert digest.startswith("# Weekly agent review — 2026-W47") and "## Breaches" in digest and "## Go / no-go" in digest
    assert "- quality floor breached: SupportRefundAgent csat" in digest and "quality:csat (no-go)" in digest
    # the quality file and the approvals store are inputs like the others: named in the report and the digest
    assert f"- quality metrics: `{TEMPLATES / 'quality.yaml'}` (sha256 " in digest
    assert f"- approvals store: {store_url}" in digest.replace("\\", "")
    # with the head of its audit log as the review saw it, for a later `approvals verify --checkpoint`
    from agentops_kit.approvals import ApprovalQueue

    queue = ApprovalQueue(store_url, create=False)
    try:
        head = queue.head()
    finally:
        queue.close()
    assert head.seq > 0 and f"audit log head: row {head.seq}, MAC {head.mac[:16]}" in digest.replace("\\", "")
    assert f"audit log head: row {head.seq}" in html
    assert esc(store_url) in html


def test_report_is_offline_with_plotly_once_and_code_hidden(weekly):
    html = (weekly / "weekly-2026-W47.html").read_text()
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html, re.I)
    assert "require.min.js" not in html and "MathJax.js" not in html and "cdnjs.cloudflare" not in html
    assert html.count("plotly.js v") == 1  # the library is inlined once, however many figures
    tables = re.findall(r"class=[\"']agentops-table[\"']", html)
    assert len(tables) >= 5 and html.count("div.agentops-table {") == 1  # the tables' CSS only once
    assert html.count("Plotly.newPlot(") >= 2
    assert "WeeklyReview.from_files(" not in html  # code cells hidden
    # the notebook's buttons to the run inspector need a kernel: left out, the counts link to the appendix
    assert "RunsBehindLinks" not in html and "From a number to its runs" not in html
    assert "Runs behind the numbers" in html and "widget-view" not in html


def test_report_numbers_equal_weekly_metrics(weekly):
    # the counts link to the runs behind them (test_runs_behind.py); here only the numbers matter
    html = re.sub(r'<a class="agentops-count" href="#[^"]+">([^<]*)</a>', r"\1",
                  (weekly / "weekly-2026-W47.html").read_text())
    ts = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                        pricing=TEMPLATES / "pricing.yaml", labels=SAMPLE / "labels.csv")
    m = ak.weekly_metrics(ts, by=("agent", "week"), baselines=TEMPLATES / "baselines.yaml").filter(pl.col("week") == "2026-W47")
    assert m.height == 3
    for r in m.iter_rows(named=True):
        # the headline table's first cells: shares as percentages, their weekly change in points
        row = (f"<td>{esc(r['agent'])}</td><td class='num'>{r['runs']}</td>"
               f"<td class='num'>{r['completion_rate']:.1%}</td><td class='num'>{r['completion_rate_wow'] * 100:+.1f} pts</td>"
               f"<td class='num'>{r['escalation_rate']:.1%}</td><td class='num'>{r['escalation_rate_wow'] * 100:+.1f} pts</td>"
               f"<td class='num'>{r['customer_impact_errors']}</td><td class='num'>{r['time_saved_hours']:.1f} h</td>")
        row = row.replace("'", '"')  # nbconvert writes attributes with double quotes
        assert row in html, row
        assert f"{r['completion_rate']:.1%}" in html


def test_failed_cell_exits_nonzero_and_names_it(tmp_path):
    bad = tmp_path / "readiness.yaml"  # (policies, budgets and baselines are checked before papermill: exit 2)
    bad.write_text("window_wekes: 3\nchecks:\n  - {area: Quality, metric: completion_rate, min: 0.7, owner: me}\n")
    result = CliRunner().invoke(main, ["report", "weekly", "--traces", str(SAMPLE / "traces.otlp.jsonl.gz"),
                                       "--week", "2026-W47", "--out", str(tmp_path), "--readiness", str(bad)])
    assert result.exit_code == 1
    assert re.search(r"cell \d+ \(cell index \d+\) failed: ConfigError: .*window_wekes", result.output), result.output
    assert (tmp_path / "weekly-2026-W47.ipynb").exists()  # kept for debugging
    assert not (tmp_path / "weekly-2026-W47.html").exists()


def test_trace_html_is_inert_in_the_report(tmp_path):
    nasty = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'
    line = otlp_line(otlp_span(trace_id="a" * 32, span_id="b" * 16, start=1_763_456_400_000_000_000,
                               end=1_763_456_460_000_000_000,
                               attrs={"gen_ai.agent.name": {"stringValue": nasty},
                                      "agentops.outcome": {"stringValue": "success"}}))
    traces = write_lines(tmp_path / "x.jsonl", [line])
    result = CliRunner().invoke(main, ["report", "weekly", "--traces", str(traces), "--week", "2025-W47",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "weekly-2025-W47.html").read_text()
    assert "<img src=x onerror" not in html and '<script>alert("x")' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_tables_format_values_by_column_and_escape_text():
    from agentops_kit.rendering import table

    frame = pl.DataFrame({
        "agent": ['<script>alert("x")</script>'], "completion_rate": [0.5625], "completion_rate_wow": [-0.0089],
        "burn_rate": [1.324], "cost_usd": [0.30451], "cost_unknown_runs": [4], "verdict": ["no-go"],
        "time_saved_hours": [3.217], "cost_per_successful_run_wow": [-0.00012], "exhausted_on": [None],
    })
    html = table(frame)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells == ["&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;", "56.2%", "-0.9 pts", "1.32×", "$0.3045", "4",
                     "no-go", "3.2 h", "-$0.000120", "–"]
    assert "<td class='v-no-go'>no-go</td>" in html
    assert "<script>alert" not in html


def test_a_count_in_the_report_opens_the_list_of_its_runs_in_chromium(weekly):
    """Click the customer-impact count of an agent's card: the page lands on its appendix entry, which lists
    exactly the runs a polars recount from the labels file finds."""
    from playwright.sync_api import sync_playwright

    from .conftest import ROOT
    from .lab_server import CHROMIUM, CHROMIUM_ARGS

    ARTIFACTS = ROOT / "test-artifacts"

    start, end = week_bounds("2026-W47")
    impacted = pl.read_csv(SAMPLE / "labels.csv").filter(pl.col("name") == "customer_impact")["run_id"].to_list()
    ts = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml")
    expected = sorted(ts.runs.filter((pl.col("agent") == "SupportRefundAgent") & pl.col("run_id").is_in(impacted)
                                     & (pl.col("started_at") >= start) & (pl.col("started_at") < end)
                                     & (pl.col("mode") != "red_team")).collect()["run_id"])
    assert expected
    path = weekly / "weekly-2026-W47.html"
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto(path.as_uri())
            link = page.locator(".agentops-kpi a.agentops-count[href*='supportrefundagent-customer-impact-errors']")
            assert link.count() == 1 and link.inner_text() == str(len(expected))
            href = link.get_attribute("href")
            link.click()
            page.wait_for_function(f"location.hash === {href!r}")
            landed = page.evaluate("""() => { const t = document.querySelector(':target');
                const r = t.getBoundingClientRect();
                return {id: t.id, top: r.top, height: innerHeight,
                        ids: [...t.querySelectorAll('tr td:first-child')].map(td => td.textContent)}; }""")
            page.screenshot(path=str(ARTIFACTS / "report-count-to-runs.png"))
        finally:
            browser.close()
    assert "#" + landed["id"] == href and 0 <= landed["top"] < landed["height"]  # scrolled to the entry
    assert sorted(landed["ids"]) == expected
    assert all(url.startswith("file://") for url in requests), requests  # offline
