"""From a number to its runs: every count of the weekly review, a policy result, the impact list, shadow mode and
the approvals queue opens as exactly the runs it counts — as anchors to an appendix in the HTML, and in the run
inspector from a notebook. The runs are checked against polars recomputations from the raw tables and files."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.analytics.definitions import COUNTS, RUNS_COUNTED, impacted_runs
from agentops_kit.analytics.impact import ImpactList
from agentops_kit.inspection.run_search import RunQuery, RunSearch
from agentops_kit.report import WeeklyReview
from agentops_kit.weeks import week_bounds
from agentops_kit.widgets import ApprovalsWidget, RunInspector, RunsBehindLinks

from .conftest import SAMPLE, TEMPLATES, otlp_line, otlp_span, write_lines

WEEK = "2026-W47"
CONFIG = dict(policies=TEMPLATES / "policies", error_budget_file=TEMPLATES / "error_budget.yaml",
              readiness_file=TEMPLATES / "readiness.yaml", baselines=TEMPLATES / "baselines.yaml",
              policy_tests=TEMPLATES / "policy_tests", mapping=TEMPLATES / "mapping.yaml")


@pytest.fixture(scope="module")
def ts():
    return ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                          pricing=TEMPLATES / "pricing.yaml", labels=SAMPLE / "labels.csv")


@pytest.fixture(scope="module")
def review(ts):
    return WeeklyReview.from_traceset(ts, WEEK, **CONFIG)


@pytest.fixture(scope="module")
def html(review):
    return review.html()


class Appendix(HTMLParser):
    """section id -> the run ids in the first column of its table."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self._in, self._col, self._cell = None, -1, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and (attrs.get("id") or "").startswith("runs-"):
            self._in = attrs["id"]
            self.sections[self._in] = []
        elif self._in and tag == "tr":
            self._col = -1
        elif self._in and tag == "td":
            self._col += 1
            self._cell = "" if self._col == 0 else None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.sections[self._in].append(self._cell)
            self._cell = None
        elif tag == "section":
            self._in = None


def appendix(html: str) -> dict[str, list[str]]:
    parser = Appendix()
    parser.feed(html)
    return parser.sections


def week_runs(ts) -> pl.DataFrame:
    """Independently: the production runs of the week (red-team runs are scored apart)."""
    start, end = week_bounds(WEEK)
    return ts.runs.filter((pl.col("started_at") >= start) & (pl.col("started_at") < end)
                          & (pl.col("mode") != "red_team")).collect()


def test_each_count_predicate_counts_what_the_metric_counts(ts):
    runs = ts.runs.join(impacted_runs(ts.labels).with_columns(pl.lit(True).alias("_impact")), on="run_id",
                        how="left").with_columns(pl.col("_impact").fill_null(False))
    for name, predicate in RUNS_COUNTED.items():
        by_count = runs.group_by("agent").agg(COUNTS[name].alias("n")).sort("agent").collect()
        by_rows = (runs.filter(True if predicate is None else predicate).group_by("agent").len("n")
                   .join(runs.select("agent").unique(), on="agent", how="right").select("agent", "n")
                   .with_columns(pl.col("n").fill_null(0).cast(by_count["n"].dtype)).sort("agent").collect())
        assert by_count.equals(by_rows), name


def test_every_count_link_resolves_to_an_appendix_entry_listing_its_runs(review, html):
    links = set(re.findall(r"href='#(runs-[a-z0-9-]+)'", html))
    listed = appendix(html)
    assert links and links == set(listed)  # every anchor lands, and every entry is linked from a number
    sets = {s.anchor: s for s in review.runs_behind()}
    assert set(sets) == links
    for anchor, ids in listed.items():
        assert sorted(ids) == sets[anchor].run_ids(), anchor
        assert len(ids) == len(set(ids))


def test_the_headline_counts_open_exactly_their_runs(ts, review, html):
    listed = appendix(html)
    runs = week_runs(ts)
    impacted = set(pl.read_csv(SAMPLE / "labels.csv").filter(
        (pl.col("name") == "customer_impact") & (pl.col("value").str.to_lowercase() == "true"))["run_id"])
    counted = review.counted["headline"]
    for row in review.headline.iter_rows(named=True):
        mine = runs.filter(pl.col("agent") == row["agent"])
        expected = {
            "runs": mine["run_id"],
            "customer_impact_errors": mine.filter(pl.col("run_id").is_in(list(impacted)))["run_id"],
            "cost_unknown_runs": mine.filter(pl.col("cost_usd").is_null())["run_id"],
        }
        for column, ids in expected.items():
            assert row[column] == ids.len()  # the number shown counts these runs
            if not ids.len():
                assert counted.behind(row, column).anchor not in listed  # nothing to open: no link
                continue
            assert sorted(listed[counted.behind(row, column).anchor]) == sorted(ids.to_list()), (row["agent"], column)
    assert any(review.headline["customer_impact_errors"]) and any(review.headline["cost_unknown_runs"])


def test_violation_impact_cost_and_latency_counts_open_exactly_their_runs(ts, review, html):
    listed = appendix(html)
    # policy violations: recounted from the violations the policy check found
    summary = review.violations.group_by("agent", "rule", "severity").agg(pl.col("run_id").unique().sort())
    for agent, rule, severity, ids in summary.iter_rows():
        row = {"agent": agent, "rule": rule, "severity": severity, "violations": len(ids)}
        s = review.counted["violations"].behind(row, "violations")
        assert sorted(listed[s.anchor]) == ids
    # customer-impact errors per agent, from the labels file and the week's runs
    impacted = pl.read_csv(SAMPLE / "labels.csv").filter(pl.col("name") == "customer_impact")["run_id"]
    mine = week_runs(ts).filter(pl.col("run_id").is_in(impacted.to_list()))
    for agent, ids in mine.group_by("agent").agg(pl.col("run_id").sort()).iter_rows():
        s = review.counted["impact"].behind({"agent": agent, "customer_impact_errors": len(ids)}, "customer_impact_errors")
        assert sorted(listed[s.anchor]) == ids
    # calls of unknown cost, per agent and model: from the steps
    steps = (ts.steps.filter(pl.col("cost_source") == "unknown")
             .join(ts.runs.select("run_id", "agent"), on="run_id").collect()
             .filter(pl.col("run_id").is_in(week_runs(ts)["run_id"].to_list())))
    assert steps.height
    for (agent, kind, model), part in steps.group_by("agent", "kind", "model"):
        row = {"agent": agent, "kind": kind, "item": model, "unknown_cost_steps": part.height}
        s = review.counted["cost"].behind(row, "unknown_cost_steps")
        assert s.count == part.height and sorted(listed[s.anchor]) == sorted(part["run_id"].unique().to_list())
    # the latency table's runs per agent
    for agent, ids in week_runs(ts).group_by("agent").agg(pl.col("run_id").sort()).iter_rows():
        s = review.counted["latency"].behind({"agent": agent, "runs": len(ids)}, "runs")
        assert sorted(listed[s.anchor]) == ids


def test_the_cost_section_shows_unknown_cost_as_its_own_bars(review):
    fig = review.cost_figure()
    unknown = [t for t in fig.data if t.name.startswith("unknown:")]
    assert unknown and fig.layout.height == 620
    week = review.cost_breakdown.filter(pl.col("week") == WEEK)
    assert week["unknown_cost_steps"].sum() > 0 and review.latency_figure().layout.height == 440
    assert review.latency["runs"].sum() == review.headline["runs"].sum()


def test_hostile_text_stays_inert_in_the_appendix(tmp_path):
    nasty = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    line = otlp_line(otlp_span(trace_id="c" * 32, span_id="d" * 16, start=1_763_456_400_000_000_000,
                               end=1_763_456_460_000_000_000,
                               attrs={"gen_ai.agent.name": {"stringValue": nasty},
                                      "agentops.workflow": {"stringValue": nasty},
                                      "error.type": {"stringValue": nasty},
                                      "agentops.outcome": {"stringValue": "failure"}},
                               status={"code": 2, "message": nasty}))
    review = WeeklyReview.from_files(write_lines(tmp_path / "nasty.jsonl", [line]), "2025-W47")
    html = review.html()
    assert "<script>alert" not in html and "<img src=x" not in html
    part = html[html.index("<h2>Runs behind the numbers</h2>"):]
    assert part.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # the agent and workflow, escaped
    ids = re.findall(r"<section id='([^']+)'", part)
    assert ids and all(re.fullmatch(r"runs-[a-z0-9-]+", i) for i in ids)  # ids made of the names stay plain


def test_run_search_takes_an_explicit_set_of_runs(ts):
    search = RunSearch(ts)
    ids = ts.runs.filter(pl.col("outcome") == "failure").select("run_id").head(7).collect()["run_id"].to_list()
    q = RunQuery(run_ids=frozenset(ids), run_ids_label="seven failures")
    page = search.page(q, size=5)
    assert page.matching == 7 and page.total == search.total and page.pages == 2
    assert "the 7 runs behind seven failures" in q.active()
    assert search.count(q.changed(outcome="success")) == 0  # other filters still apply on top


def test_a_count_button_opens_the_inspector_on_exactly_its_runs(ts, review):
    links = RunsBehindLinks(review.runs_behind(), review.ts)
    assert links.inspector is None  # made on the first click, not before
    for index in (0, len(links.sets) - 1):
        chosen = links.sets[index]
        links.buttons[index].click()
        inspector = links.inspector
        shown = inspector.search.matching(inspector._query).select("run_id").collect()["run_id"].sort().to_list()
        assert shown == chosen.run_ids() and links.opened is chosen
        assert inspector.current in chosen.run_ids()
        assert inspector.counts.value.count(f"{len(shown):,} of {inspector.search.total:,} runs match")
        assert "runs behind" in inspector.run_set_note.value
    inspector.clear_filters()
    assert inspector.search.count(inspector._query) == inspector.search.total and not inspector.run_set_note.value


def test_policy_impact_and_shadow_counts_open_their_runs(ts):
    result = ak.check_policy(ts, TEMPLATES / "policies")
    sets = result.runs_behind()
    assert sum(s.count for s in sets if s.label.endswith("violations")) == result.violations.height
    for s in sets:
        agent, rule, severity = s.label.split(" · ")[:3]
        expected = result.violations.filter((pl.col("agent") == agent) & (pl.col("rule") == rule)
                                            & (pl.col("severity") == severity))["run_id"].unique().sort().to_list()
        assert s.run_ids() == expected
    impact = ImpactList.compute(ts).runs_behind()
    assert sorted(i for s in impact for i in s.run_ids()) == sorted(ImpactList.compute(ts).frame["run_id"])
    shadow = ak.shadow_report(ts)
    disagreements = [s for s in shadow.runs_behind() if s.section == "Shadow mode"]
    assert len(disagreements) == 1 and disagreements[0].count == shadow.disagreements().height
    assert disagreements[0].run_ids() == sorted(shadow.pairs.filter(~pl.col("agree"))["run_id"])
    links = RunsBehindLinks(shadow.runs_behind(), ts)
    links.open_set(0)
    assert links.inspector.search.count(links.inspector._query) == shadow.disagreements().height


def test_the_approval_queue_counts_open_their_runs(ts, tmp_path):
    from agentops_kit.approvals.demo import seed_from_traces

    queue = ak.ApprovalQueue(f"sqlite:///{tmp_path / 'a.db'}")
    seed_from_traces(queue, ts, count=3)
    widget = ApprovalsWidget(queue, user="carol", traceset=ts)
    links = widget.run_links.children[0]
    pending = [i for i, s in enumerate(links.sets) if s.label.endswith("pending")]
    assert pending
    expected = sorted({r.run_id for r in queue.pending() if r.run_id})
    assert sorted({i for k in pending for i in links.sets[k].run_ids()}) == expected
    links.buttons[pending[0]].click()
    assert widget._inspector is links.inspector and links.inspector.current in expected
    widget.approve_button.click()  # a decision redraws the numbers, keeping the inspector
    again = widget.run_links.children[0]
    assert again is not links and again.inspector is links.inspector
    assert any(s.label.endswith("approved") for s in again.sets)
    queue.close()


def test_clicking_a_column_header_sorts_and_clicking_again_turns_the_order(ts):
    inspector = RunInspector(ts, page_size=10)
    total = inspector.search.total
    inspector.table.sort_buttons["cost_usd"].click()
    costs = [inspector.search.runs.filter(pl.col("run_id") == r).select("cost_usd").collect().item()
             for _, r in inspector.picker.options]
    known = [c for c in costs if c is not None]
    assert known == sorted(known, reverse=True) and inspector.table.sort_buttons["cost_usd"].description == "cost ▼"
    inspector.table.sort_buttons["cost_usd"].click()
    first = inspector.search.page(inspector._query, 1, 10).rows["cost_usd"].to_list()
    assert first == sorted(first) and inspector.table.sort_buttons["cost_usd"].description == "cost ▲"
    inspector.table.sort_buttons["agent"].click()  # a name sorts A to Z first
    agents = [o[0].split(" · ")[1] for o in inspector.picker.options]
    assert agents == sorted(agents) and inspector.sort_by.value == "agent" and inspector.order.value is False
    assert f"of {total:,} runs match" in inspector.counts.value and "page 1 of" in inspector.counts.value
    inspector.next_button.click()
    assert "page 2 of" in inspector.counts.value and inspector.table.sort_buttons["agent"].description == "agent ▲"


def test_error_budget_counts_open_the_runs_of_their_window(ts, review, html):
    listed = appendix(html)
    for r in review.budgets.iter_rows(named=True):
        column, _, name = r["target"].partition(" ")
        window = ts.runs.filter((pl.col(column) == name) & (pl.col("started_at") > r["window_start"])
                                & (pl.col("started_at") <= r["as_of"]) & (pl.col("mode") != "red_team")).collect()
        assert window.height == r["runs"]
        s = review.counted["budgets"].behind(r, "runs")
        assert sorted(listed[s.anchor]) == sorted(window["run_id"])
        impacted = pl.read_csv(SAMPLE / "labels.csv").filter(pl.col("name") == "customer_impact")["run_id"]
        errors = window.filter(pl.col("run_id").is_in(impacted.to_list()))
        assert errors.height == r["customer_impact_errors"]
        if errors.height:
            assert sorted(listed[review.counted["budgets"].behind(r, "customer_impact_errors").anchor]) == \
                sorted(errors["run_id"])


def test_a_large_count_lists_its_latest_runs_and_says_how_many_there_are(review):
    from agentops_kit.runs_behind import appendix_html

    biggest = max(review.runs_behind(), key=lambda s: len(s.run_ids()))
    n = len(biggest.run_ids())
    html = appendix_html([biggest], review.ts.runs, max_rows=5)
    ids = appendix(html)[biggest.anchor]
    latest = (review.ts.runs.filter(pl.col("run_id").is_in(biggest.run_ids()))
              .sort(["started_at", "run_id"], descending=[True, False]).head(5).collect()["run_id"].to_list())
    assert ids == latest and f"{n:,} runs; the 5 latest are listed" in html
