"""Without a price list of their own, runs are priced by the dated list that ships with the kit — and every
summary says so, naming the models that list could not price."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.pricing import Pricing, bundled_pricing, bundled_pricing_date, bundled_pricing_path

from .conftest import SAMPLE, TEMPLATES

TRACES = SAMPLE / "traces.otlp.jsonl.gz"


def test_the_bundled_list_is_dated_and_says_where_its_prices_come_from():
    path = bundled_pricing_path()
    date = dt.date.fromisoformat(bundled_pricing_date())
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    assert f"Compiled on {date.isoformat()}" in header
    assert all(word in header for word in ("OpenAI", "Anthropic", "Google", "USD per million tokens"))
    prices = bundled_pricing()
    since = [p.since for family in prices.models.values() for p in family]
    assert since and max(since) <= date  # no price from after the list's date
    providers = {"gpt": 0, "claude": 0, "gemini": 0}
    for family in prices.models:
        for prefix in providers:
            providers[prefix] += family.startswith(prefix)
    assert all(count >= 5 for count in providers.values()), providers


@pytest.mark.parametrize(("model", "family"), [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai/gpt-4.1", "gpt-4.1"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # a snapshot that kept its launch price
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("mistral-large-2411", None),  # not in the list: its calls stay of unknown cost
])
def test_common_model_names_find_their_family(model, family):
    assert bundled_pricing().family(model) == family


def test_no_pricing_means_the_bundled_list_and_the_summary_says_so():
    ts = ak.load_traces(TRACES, mapping=TEMPLATES / "mapping.yaml")
    said = f"bundled list of {bundled_pricing_date()}; pass --pricing to use yours"
    assert ts.priced_by == said
    assert f"prices: {said}" in ts.summary_text().splitlines()
    assert f"Prices: {said}" in ts._repr_html_()
    assert ts.summary()["unpriced_models"] == ["mistral-large-2411"]
    steps = ts.steps.filter(pl.col("model") == "gpt-4o-mini-2024-07-18").collect()
    assert steps.height and set(steps["cost_source"]) == {"pricing"}
    cached = steps["cached_input_tokens"].fill_null(0)
    expected = ((steps["input_tokens"] - cached) * 0.15 + cached * 0.075 + steps["output_tokens"] * 0.60) / 1e6
    assert steps["cost_usd"].to_list() == pytest.approx(expected.to_list())
    runs = ts.runs.collect()
    assert runs.filter(pl.col("cost_source") == "unknown").height == ts.summary()["cost_unknown_runs"] > 0
    assert ts.filter_runs(pl.col("agent") == "SocAlertTriage").priced_by == said


def test_the_summary_names_the_list_that_was_given(tmp_path):
    path = TEMPLATES / "pricing.yaml"
    ts = ak.load_traces(TRACES, pricing=path)
    assert ts.priced_by == str(path) and f"prices: {path}" in ts.summary_text()
    own = Pricing.model_validate({"models": {"gpt-4o-mini": [{"input": 1, "output": 1}]}})
    assert ak.load_traces(TRACES, pricing=own).priced_by == "a Pricing object given in code"
    ts.write_parquet(tmp_path)  # canonical tables keep the costs they were written with
    for again in (ak.TraceSet.read_parquet(tmp_path), ak.load_traces(tmp_path)):
        assert again.priced_by is None
        assert "prices: no price list applied in this load (costs as read)" in again.summary_text()


def test_ingest_and_the_digest_say_which_list_priced_the_runs(tmp_path):
    result = CliRunner().invoke(main, ["ingest", str(TRACES), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert f"prices: bundled list of {bundled_pricing_date()}; pass --pricing to use yours" in result.output
    assert "unpriced models: mistral-large-2411" in result.output
    wr = ak.WeeklyReview.from_files(TRACES, week="2026-W47", mapping=TEMPLATES / "mapping.yaml",
                               labels=SAMPLE / "labels.csv")
    line = next(line for line in wr.digest().splitlines() if line.startswith("Prices:"))
    assert re.fullmatch(rf"Prices: bundled list of {bundled_pricing_date()}; pass --pricing to use yours; "
                        r"no price for mistral-large-2411", line)
