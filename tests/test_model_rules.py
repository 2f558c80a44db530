"""Outcome, cost and label rules of the canonical model, on hand-made traces."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.pricing import Pricing

from .conftest import otlp_line, otlp_span, write_lines

DAY1 = int(dt.datetime(2024, 9, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9
DAY2 = int(dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9


def s(v):
    return {"stringValue": v}


def i(v):
    return {"intValue": str(v)}


def chat(trace, span, model, tin, tout, start=DAY1, cached=None, cost=None):
    attrs = {"gen_ai.operation.name": s("chat"), "gen_ai.request.model": s(model),
             "gen_ai.usage.input_tokens": i(tin), "gen_ai.usage.output_tokens": i(tout)}
    if cached is not None:
        attrs["gen_ai.usage.cache_read.input_tokens"] = i(cached)
    if cost is not None:
        attrs["llm.cost.total"] = {"doubleValue": cost}
    return otlp_span(trace_id=trace, span_id=span, parent="f" * 16, start=start, end=start + 10**9, attrs=attrs)


def root(trace, start=DAY1, **attrs):
    return otlp_span(trace_id=trace, span_id="f" * 16, start=start, end=start + 5 * 10**9,
                     attrs={k: s(v) for k, v in attrs.items()})


PRICES = Pricing.model_validate({
    "models": {"gpt-4o": [{"since": "2024-05-13", "input": 5, "output": 15, "cached_input": 2.5},
                          {"since": "2024-10-01", "input": 2.5, "output": 10, "cached_input": 1.25}]},
    "aliases": {"my-gateway-4o": "gpt-4o"},
    "tools": {"address_verification_api": {"per_call": 0.002}},
})


def test_pricing_by_date_family_cache_and_export_wins(tmp_path):
    t1, t2, t3, t4 = "1" * 32, "2" * 32, "3" * 32, "4" * 32
    tool = otlp_span(trace_id=t1, span_id="9" * 16, parent="f" * 16, start=DAY1,
                     attrs={"gen_ai.operation.name": s("execute_tool"), "gen_ai.tool.name": s("address_verification_api")})
    lines = [
        otlp_line(root(t1), chat(t1, "a" * 16, "gpt-4o-2024-08-06", 1000, 100, cached=400), tool),
        otlp_line(root(t2, start=DAY2), chat(t2, "b" * 16, "openai/gpt-4o", 1000, 100, start=DAY2)),
        otlp_line(root(t3), chat(t3, "c" * 16, "my-gateway-4o", 1000, 100, cost=0.5)),
        otlp_line(root(t4), chat(t4, "d" * 16, "mystery-model", 1000, 100), chat(t4, "e" * 16, "gpt-4o", 10, 10)),
    ]
    ts = ak.load_traces(write_lines(tmp_path / "t.jsonl", lines), pricing=PRICES)
    runs = {r["run_id"]: r for r in ts.runs.collect().iter_rows(named=True)}
    assert runs[t1]["cost_usd"] == pytest.approx((600 * 5 + 400 * 2.5 + 100 * 15) / 1e6 + 0.002)
    assert runs[t1]["cost_source"] == "pricing"
    assert runs[t2]["cost_usd"] == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)  # the October price cut
    assert runs[t3]["cost_usd"] == 0.5 and runs[t3]["cost_source"] == "export"
    assert runs[t4]["cost_usd"] is None and runs[t4]["cost_source"] == "unknown"  # never silently zero
    assert ts.summary()["unpriced_models"] == ["mystery-model"]
    assert ts.summary()["cost_unknown_runs"] == 1


@pytest.mark.parametrize("model, family", [
    ("gpt-4o", "gpt-4o"), ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o@20240806", "gpt-4o"),
    ("openai/gpt-4o", "gpt-4o"), ("GPT-4o", "gpt-4o"), ("my-gateway-4o", "gpt-4o"), ("gpt-5", None), (None, None),
])
def test_model_family(model, family):
    assert PRICES.family(model) == family


def test_outcome_rules_in_order(tmp_path):
    t = [f"{n}" * 32 for n in range(1, 7)]
    esc = otlp_span(trace_id=t[1], span_id="e" * 16, parent="f" * 16,
                    attrs={"gen_ai.operation.name": s("execute_tool"), "gen_ai.tool.name": s("transfer_to_human_agents")})
    lines = [
        otlp_line(root(t[0], **{"agentops.outcome": "resolved"})),                    # attribute
        otlp_line(root(t[1]), esc),                                                    # escalation tool
        otlp_line(root(t[2])),                                                         # label >= 1
        otlp_line(root(t[3])),                                                         # label < 1
        otlp_line(otlp_span(trace_id=t[4], span_id="f" * 16, status={"code": 2, "message": "boom"})),  # error
        otlp_line(root(t[5])),                                                         # nothing known
    ]
    labels = tmp_path / "labels.csv"
    labels.write_text(f"run_id,reward,customer_impact\n{t[2]},1.0,\n{t[3]},0,true\n")
    ts = ak.load_traces(write_lines(tmp_path / "t.jsonl", lines), labels=labels)
    out = dict(ts.runs.collect().select("run_id", "outcome").iter_rows())
    assert [out[x] for x in t] == ["success", "escalated", "success", "failure", "failure", "unknown"]
    lab = ts.labels.collect()
    assert lab.filter(pl.col("name") == "customer_impact")["run_id"].to_list() == [t[3]]
    assert set(lab["source"]) == {"labels.csv"}


def test_mapping_file_changes_where_facts_come_from(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "agent_attributes: [app.bot]\nworkflow_attributes: [app.flow]\naction_tools: ['refund_*']\n"
        "mode: {attributes: [app.run_mode], shadow_values: [observe]}\n"
        "outcome: {attributes: [app.result], success: [green], failure: [red], escalated: [amber]}\n")
    t = "7" * 32
    act = otlp_span(trace_id=t, span_id="a" * 16, parent="f" * 16,
                    attrs={"gen_ai.operation.name": s("execute_tool"), "gen_ai.tool.name": s("refund_submit")})
    line = otlp_line(root(t, **{"app.bot": "Refunder", "app.flow": "refunds", "app.run_mode": "observe",
                                "app.result": "amber"}), act)
    ts = ak.load_traces(write_lines(tmp_path / "t.jsonl", [line]), mapping=mapping)
    run = ts.runs.collect().row(0, named=True)
    assert (run["agent"], run["workflow"], run["mode"], run["outcome"]) == ("Refunder", "refunds", "shadow", "escalated")
    assert ts.steps.collect().filter(pl.col("step_id") == "a" * 16)["kind"][0] == "action"
    assert run["tool_calls"] == 1


def test_repr_html_escapes_trace_text(tmp_path):
    t = "8" * 32
    line = otlp_line(root(t, **{"gen_ai.agent.name": "<script>alert(1)</script>"}))
    ts = ak.load_traces(write_lines(tmp_path / "t.jsonl", [line]))
    html = ts._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
