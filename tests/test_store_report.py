"""The report path over a lazily scanned store (the streaming engine, only the weeks shown) gives the numbers the
same exports give loaded in memory: weekly metrics, the weekly review, and the run inspector's pages."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.inspection.run_search import RunQuery, RunSearch
from agentops_kit.report.inputs import ReviewInputs
from agentops_kit.store import ingest, open_store
from agentops_kit.weeks import parse_week, week_of

from .conftest import SAMPLE, TEMPLATES

TRACES = SAMPLE / "traces.otlp.jsonl.gz"
MAPPING = TEMPLATES / "mapping.yaml"
LABELS = SAMPLE / "labels.csv"
BASELINES = TEMPLATES / "baselines.yaml"


@pytest.fixture(scope="module")
def in_memory():
    ts = ak.load_traces(TRACES, mapping=MAPPING, labels=LABELS)
    # every table collected first: what the in-memory path holds
    return ak.TraceSet(**{t: getattr(ts, t).collect().lazy() for t in ("runs", "steps", "sources", "labels",
                                                                       "rejected")}, inputs=ts.inputs, priced_by=ts.priced_by)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "store"
    ingest(TRACES, into=path, mapping=MAPPING, labels=LABELS)
    return path


def window(week: str, weeks: int) -> list[str]:
    return [week_of(parse_week(week) - dt.timedelta(weeks=n)) for n in range(weeks - 1, -1, -1)]


def by_keys(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.sort(list(keys))


def test_metrics_on_the_streaming_engine_over_a_store_equal_metrics_in_memory(store, in_memory):
    expected = ak.weekly_metrics(in_memory, by=("agent", "week"), baselines=BASELINES)
    with pl.Config(engine_affinity="streaming"):
        got = ak.weekly_metrics(open_store(store), by=("agent", "week"), baselines=BASELINES)
    assert got.height == expected.height > 0
    assert_frame_equal(by_keys(got, "agent", "week"), by_keys(expected, "agent", "week"))


def test_the_weekly_review_over_the_weeks_it_shows_equals_the_review_in_memory(store, in_memory):
    week = in_memory.runs.select(pl.col("started_at").max()).collect().item()
    week = week_of(week)
    weeks_back = 3
    # the trend window and the week before it (the first week's change from the week before)
    lazy = open_store(store, weeks=window(week, weeks_back + 1))
    inputs = ReviewInputs.of([])  # the inputs are described apart (a store names its commit)
    got = ak.WeeklyReview.from_traceset(lazy, week, weeks_back=weeks_back, baselines=BASELINES, inputs=inputs)
    expected = ak.WeeklyReview.from_traceset(in_memory, week, weeks_back=weeks_back, baselines=BASELINES,
                                             inputs=inputs)
    assert got.headline.height > 0 and got.slowest.height == 10
    for name in ("metrics", "headline", "impact", "slowest", "most_expensive", "cost_breakdown"):
        assert_frame_equal(getattr(got, name), getattr(expected, name), check_row_order=name != "cost_breakdown"), name
    assert got.digest() == expected.digest()


def test_readiness_over_the_weeks_of_its_window_equals_readiness_in_memory(store, in_memory):
    """Shadow agreement counts the shadow runs of the readiness window, as every other line counts its runs: a
    store read for the window gives the answer of every run in memory, and the evidence names the window."""
    from agentops_kit.analytics.definitions import PRODUCTION

    config = TEMPLATES / "readiness.yaml"  # window_weeks: 4
    expected = ak.readiness(in_memory, config, mapping=MAPPING, baselines=BASELINES)
    end = in_memory.runs.filter(PRODUCTION).select(pl.col("started_at").max()).collect().item()
    got = ak.readiness(open_store(store, weeks=window(week_of(end), 5)), config, mapping=MAPPING, baselines=BASELINES)
    assert_frame_equal(got.lines, expected.lines)

    every = ak.shadow_report(in_memory).pairs.filter(pl.col("agent") == "InvoiceCategorizer")
    in_window = every.filter(pl.col("started_at") > end - dt.timedelta(weeks=4))
    assert 0 < in_window.height < every.height  # the sample has shadow runs before the window too
    line = expected.lines.filter(pl.col("check") == "shadow_agreement", pl.col("agent") == "InvoiceCategorizer").row(0, named=True)
    assert line["evidence"] == (f"{in_window['agree'].sum()} of {in_window.height} shadow runs of the 4 weeks to "
                                f"{end:%Y-%m-%d %H:%M} UTC agreed with the human decision")
    assert line["measured"] == in_window["agree"].mean()


@pytest.mark.parametrize("query", [
    RunQuery(), RunQuery(sort_by="cost_usd"), RunQuery(agent="SocAlertTriage", sort_by="duration_s", descending=False),
    RunQuery(text="refund", sort_by="tokens"),
])
def test_the_run_inspector_pages_a_store_as_it_pages_runs_in_memory(store, in_memory, query):
    lazy, eager = RunSearch(open_store(store)), RunSearch(in_memory)
    assert lazy.total == eager.total
    for page in (1, 3, 10_000):  # past the end: the last page
        got, expected = lazy.page(query, page=page, size=20), eager.page(query, page=page, size=20)
        assert (got.matching, got.page, got.pages) == (expected.matching, expected.page, expected.pages)
        assert_frame_equal(got.rows, expected.rows)
