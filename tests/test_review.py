"""WeeklyReview as an object: built from a TraceSet, it renders itself, gives its numbers as data, writes an
offline HTML file without papermill, and its markdown digest keeps trace text inert."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import mistune
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.errors import UsageError
from agentops_kit.rendering import TABLE_CSS
from agentops_kit.report import WeeklyReview
from agentops_kit.report.inputs import NOT_RECORDED
from agentops_kit.report.review import REVIEW_CSS
from agentops_kit.results import Result

from .conftest import SAMPLE, TEMPLATES, otlp_line, otlp_span, write_lines

CONFIG = dict(policies=TEMPLATES / "policies", error_budget_file=TEMPLATES / "error_budget.yaml",
              readiness_file=TEMPLATES / "readiness.yaml", baselines=TEMPLATES / "baselines.yaml",
              policy_tests=TEMPLATES / "policy_tests", mapping=TEMPLATES / "mapping.yaml")
HEADINGS = ("Headline numbers per agent", "Trends", "Customer-impact errors and error budget",
            "Cost by agent, model and tool", "How long runs take", "Policy violations", "Slowest and most expensive runs",
            "Go / no-go", "Rejected input records", "Inputs", "Runs behind the numbers")


@pytest.fixture(scope="module")
def review():
    ts = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                        pricing=TEMPLATES / "pricing.yaml", labels=SAMPLE / "labels.csv")
    return WeeklyReview.from_traceset(ts, "2026-W47", **CONFIG)


def test_built_from_a_traceset_it_gives_its_numbers(review):
    expected = ak.weekly_metrics(review.ts, by=("agent", "week"), baselines=CONFIG["baselines"]).filter(
        pl.col("week") == "2026-W47")
    # money is summed by parallel threads, in an order that can differ from one run to the next: to 1e-12
    assert_frame_equal(review.to_polars(), expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-15)
    data = json.loads(json.dumps(review.to_dict()))  # JSON-ready as it is
    assert data["week"] == "2026-W47" and len(data["headline"]) == 3
    assert [r["completion_rate"] for r in data["headline"]] == expected["completion_rate"].to_list()  # counts: exact
    assert {r["target"] for r in data["error_budgets"] if r["breached"]} == {"agent SupportRefundAgent"}
    assert sum(1 for _ in data["policy_violations"]) == review.violations.height > 0
    # the TraceSet was loaded by the caller: what it was loaded with is said to be unknown, not "none"
    assert data["inputs"]["settings"]["pricing"] == NOT_RECORDED and data["inputs"]["settings"]["labels"] == NOT_RECORDED
    assert data["inputs"]["traces"][0]["path"].endswith("traces.otlp.jsonl.gz")
    fig = review.figure()
    assert len(fig.data) == 3 * 3 and fig.layout.title.text == "Trends over the last 7 weeks"
    assert "WeeklyReview(week='2026-W47'" in repr(review) and len(repr(review)) < 200


def test_it_renders_itself_with_its_css(review):
    html = review._repr_html_()
    assert html.startswith(REVIEW_CSS) and html.count(TABLE_CSS) == 1
    assert all(f"<h2>{h}</h2>" in html for h in HEADINGS)
    cards = re.findall(r"<div class='agentops-kpi[^']*'><div><b>([^<]+)</b>", html)
    breached = re.findall(r"<div class='agentops-kpi agentops-breach'><div><b>([^<]+)</b>", html)
    assert cards == ["InvoiceCategorizer", "SocAlertTriage", "SupportRefundAgent"] and breached == ["SupportRefundAgent"]


def test_write_html_is_self_contained_and_reads_offline_in_chromium(review, tmp_path):
    path = review.write_html(tmp_path / "review.html")
    html = path.read_text()
    assert isinstance(review, Result)  # the face every analytics result shows
    assert html.startswith("<!DOCTYPE html>") and html.count("plotly.js v") == 1 and html.count("Plotly.newPlot(") == 3
    assert "Content-Security-Policy" in html and "<title>Weekly agent review — 2026-W47</title>" in html
    assert not re.search(r"<script[^>]+src=", html, re.I)
    from playwright.sync_api import sync_playwright

    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        plots = page.locator(".js-plotly-plot").count()
        red = page.locator(".agentops-kpi.agentops-breach .agentops-bad").evaluate("e => getComputedStyle(e).color")
        border = page.locator(".agentops-kpi.agentops-breach").evaluate("e => getComputedStyle(e).borderTopColor")
        browser.close()
    assert plots == 3 and red == "rgb(178, 24, 43)" and border == "rgb(178, 24, 43)"
    assert all(url.startswith("file://") for url in requests), requests  # nothing fetched from the network


def test_weeks_back_must_be_a_whole_number_of_weeks(review):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(UsageError, match="weeks back"):
            WeeklyReview.from_traceset(review.ts, "2026-W47", weeks_back=bad)
    assert WeeklyReview.from_traceset(review.ts, "2026-W47", weeks_back=1).figure().layout.title.text == \
        "2026-W47: the only week with runs in the window"


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


NASTY = ('<script>alert(1)</script> [pay](javascript:alert(2)) **bold** `tick` a|b _em_ ~~x~~ ![i](x.png)'
         '\n# Heading <img src=x onerror=alert(3)>')


def test_the_digest_keeps_trace_text_inert(tmp_path):
    line = otlp_line(otlp_span(trace_id="c" * 32, span_id="d" * 16, start=1_763_456_400_000_000_000,
                               end=1_763_456_460_000_000_000,
                               attrs={"gen_ai.agent.name": {"stringValue": NASTY},
                                      "agentops.outcome": {"stringValue": "success"}}))
    traces = write_lines(tmp_path / "x`y|z.jsonl", [line])
    review = WeeklyReview.from_files(traces, "2025-W47")
    digest = review.digest()
    rendered = mistune.html(digest)
    parsed = Tags()
    parsed.feed(rendered)
    # only the digest's own markup: its title and sections, the list, the agent's name in bold, the path as code
    assert set(parsed.tags) <= {"h1", "h2", "ul", "li", "strong", "code", "p"}, set(parsed.tags)
    assert parsed.tags.count("strong") == 1 and parsed.tags.count("h1") == 1 and parsed.tags.count("code") == 1
    text = "".join(parsed.text)
    # and the name reads as written, the newline shown as an escape rather than starting a heading
    assert NASTY.replace("\n", "\\x0a") in text
    assert f"{traces}" in text
    assert "<script" not in digest and "\\[pay\\](javascript" in digest


def test_a_traceset_built_by_hand_says_its_inputs_are_not_recorded(review):
    ts = ak.TraceSet(runs=review.ts.runs, steps=review.ts.steps, sources=review.ts.sources,
                     labels=review.ts.labels, rejected=review.ts.rejected)
    digest = WeeklyReview.from_traceset(ts, "2026-W47").digest()
    assert "- traces: not recorded: the TraceSet names no file" in digest
    assert "- labels: not recorded: the TraceSet was loaded by the caller" in digest
    assert "- policies: none given" in digest


def test_label_problems_are_shown_in_the_review_and_named_in_the_digest(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("run_id,name,value\nno-such-run-0001,customer_impact,true\n")
    ts = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                        pricing=TEMPLATES / "pricing.yaml", labels=[SAMPLE / "labels.csv", labels])
    review = WeeklyReview.from_traceset(ts, "2026-W47")
    page = review._repr_html_()
    assert "Label problems" in page and "no-such-run-0001" in page and "no_such_run" in page
    assert "Label problems: no_such_run 1; see the report." in review.digest()
    clean = WeeklyReview.from_traceset(ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", labels=SAMPLE / "labels.csv"),
                                       "2026-W47")
    assert "Label problems:" not in clean.digest()
