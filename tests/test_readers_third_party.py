"""Files written by other projects (tests/data/third_party, see PROVENANCE.txt): each loads with nothing
rejected, and what it contains comes out exactly. Expected values are computed from the raw JSON here,
independently of the readers."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.conventions import Conventions
from agentops_kit.mapping import Mapping

from .conftest import TEMPLATES, THIRD_PARTY


def load(sub, **kw):
    ts = ak.load_traces(THIRD_PARTY / sub, **kw)
    assert ts.rejected.collect().height == 0, ts.rejected.collect()
    return ts, ts.runs.collect(), ts.steps.collect()


def test_whole_folder_rejects_only_the_bare_attribute_maps():
    """Walking every project's files at once: README/PROVENANCE are skipped (the README quotes OTLP and was
    once read as a broken export); the attribute maps are not exports and are named as such."""
    rejected = ak.load_traces(THIRD_PARTY).rejected.collect()
    assert set(rejected["reason_code"]) == {"unknown_format"}
    assert {p.split("/")[-2] for p in rejected["file"]} == {"openinference-genai"}
    assert rejected.height == len(list((THIRD_PARTY / "openinference-genai").glob("*.json")))
    named = ak.load_traces(THIRD_PARTY / "ABOUT.md").rejected.collect()  # named explicitly: still read
    assert named.height == 1


def test_otlp_examples():
    ts, runs, steps = load("otel")
    # spec file-exporter example: 4 lines of 2 spans with empty ids -> one synthetic trace per line
    spec = runs.filter(pl.col("source_file").str.ends_with(".jsonl"))
    assert spec.height == 4 and steps.filter(pl.col("source_file").str.ends_with(".jsonl")).height == 8
    assert set(spec["outcome"]) == {"failure"}  # operationA has status code 2 (error)
    assert set(steps.filter(pl.col("name") == "operationA")["error"]) == {"status-cancelled"}
    proto = runs.filter(pl.col("source_file").str.ends_with("trace.json")).row(0, named=True)
    assert proto["run_id"] == "5b8efff798038103d269b633813fc60c"  # hex ids lower-cased
    assert proto["agent"] == "my.service" and proto["root_missing"] is True and proto["orphan_steps"] == 1
    assert proto["duration_s"] == 1.0 and proto["outcome"] == "unknown"
    step = steps.filter(pl.col("run_id") == proto["run_id"]).row(0, named=True)
    assert step["parent_id"] == "eee19b7ec3c1b173"
    assert json.loads(step["attributes"])["my.span.attr"] == "some value"


def test_any_agent_sdk_json():
    ts, runs, steps = load("any-agent")
    assert runs.height == 7 and set(runs["agent"]) == {"any_agent"}
    for path in sorted((THIRD_PARTY / "any-agent").glob("*.json")):
        spans = json.loads(path.read_text())["spans"]
        run = runs.filter(pl.col("source_file") == str(path)).row(0, named=True)
        tid = format(spans[0]["context"]["trace_id"], "032x")
        assert run["run_id"] == tid
        mine = steps.filter(pl.col("run_id") == tid)
        assert mine.height == len(spans)
        attrs = [s["attributes"] for s in spans]
        assert run["input_tokens"] == sum(a.get("gen_ai.usage.input_tokens", 0) for a in attrs)
        assert run["output_tokens"] == sum(a.get("gen_ai.usage.output_tokens", 0) for a in attrs)
        cost = sum(a.get("gen_ai.usage.input_cost", 0) + a.get("gen_ai.usage.output_cost", 0) for a in attrs)
        assert run["cost_usd"] == pytest.approx(cost) and run["cost_source"] == "export"
        tools = sorted(a["gen_ai.tool.name"] for a in attrs if "gen_ai.tool.name" in a)
        assert sorted(mine.filter(pl.col("kind") == "tool")["tool_name"]) == tools
        assert run["llm_calls"] == sum(a.get("gen_ai.operation.name") == "call_llm" for a in attrs)
        assert set(mine.filter(pl.col("kind") == "llm")["model"]) == {"mistral/mistral-small-latest"}
        root = mine.filter(pl.col("parent_id").is_null())
        assert root.height == 1 and root["kind"][0] == "agent"
    # Google ADK's export lost its internal parent spans: the children are kept and counted
    google = runs.filter(pl.col("source_file").str.contains("GOOGLE")).row(0, named=True)
    assert google["orphan_steps"] == 6 and runs["orphan_steps"].sum() == 6


def test_langfuse_framework_traces():
    ts, runs, steps = load("langfuse-framework-traces")
    labels = ts.labels.collect()
    assert runs.height == 13
    expected_labels = 0
    for path in sorted((THIRD_PARTY / "langfuse-framework-traces").glob("*.json")):
        doc = json.loads(path.read_text())
        trace, obs = doc["trace"], doc["observations"]
        mine = steps.filter(pl.col("run_id") == trace["id"])
        assert mine.height == len(obs) + 1  # the trace itself is the root step
        assert mine.filter(pl.col("step_id") == trace["id"])["parent_id"][0] is None
        run = runs.filter(pl.col("run_id") == trace["id"]).row(0, named=True)
        gens = [o for o in obs if o["type"] == "GENERATION"]
        assert run["llm_calls"] == len(gens)
        inputs = [(o.get("usageDetails") or {}).get("input") for o in gens]  # agents repeat their calls' usage
        assert run["input_tokens"] == (sum(i for i in inputs if i) if any(i is not None for i in inputs) else None)
        costs = [(o.get("costDetails") or {}).get("total", o.get("totalCost") or None) for o in gens]
        if all(c is not None for c in costs):
            assert run["cost_usd"] == pytest.approx(sum(costs))
        else:  # a generation Langfuse could not price: unknown, not zero
            assert run["cost_usd"] is None and run["cost_source"] == "unknown"
        models = {o["model"] for o in gens if o.get("model")}
        assert set(mine.filter(pl.col("kind") == "llm")["model"].drop_nulls()) == models
        expected_labels += len(trace.get("scores") or [])
    assert labels.height == expected_labels == 12
    assert set(labels["name"]) >= {"toxicity", "hallucination"}
    adk = steps.filter(pl.col("run_id") == "b82a0bdc1994fc5d1c8576ca032543f7")
    assert adk.filter(pl.col("kind") == "tool")["tool_name"].to_list() == ["say_hello"]
    assert runs.filter(pl.col("cost_source") == "unknown").height == 1


def test_langsmith_sdk_runs():
    ts, runs, steps = load("langsmith-sdk", pricing=TEMPLATES / "pricing.yaml")
    by_file = {r["source_file"].rsplit("/", 1)[1]: r for r in runs.iter_rows(named=True)}
    plain = by_file["langsmith_py_wrap_openai_.json"]
    assert (plain["input_tokens"], plain["output_tokens"]) == (9, 9)
    assert plain["cost_usd"] == pytest.approx(9 * 0.15 / 1e6 + 9 * 0.60 / 1e6) and plain["cost_source"] == "pricing"
    reasoning = by_file["langsmith_py_wrap_openai_reasoning.json"]
    assert (reasoning["input_tokens"], reasoning["output_tokens"]) == (43, 2497)
    # o1-mini on 2024-10-11 is priced at its launch price, not the later cut
    assert reasoning["cost_usd"] == pytest.approx(43 * 3.00 / 1e6 + 2497 * 12.00 / 1e6)
    no_usage = by_file["langsmith_py_wrap_openai_stream_no_usage.json"]
    assert no_usage["input_tokens"] is None and no_usage["cost_usd"] is None and no_usage["cost_source"] == "unknown"
    assert set(steps["model"]) == {"gpt-4o-mini-2024-07-18", "o1-mini-2024-09-12"}
    assert set(steps["kind"]) == {"llm"} and runs["llm_calls"].to_list() == [1, 1, 1, 1]
    assert ts.summary()["cost_unknown_runs"] == 1 and ts.summary()["unpriced_models"] == []


def test_tau_bench_trajectories():
    ts, runs, steps = load("tau-bench")
    raw = json.loads((THIRD_PARTY / "tau-bench" / "gpt-4o-airline.json").read_text())
    assert runs.height == len(raw) == 200
    calls = Counter(c["function"]["name"] for r in raw for m in r["traj"] for c in (m.get("tool_calls") or []))
    tools = steps.filter(pl.col("kind") == "tool")
    assert tools.height == sum(calls.values()) == 1164
    assert Counter(tools["tool_name"].to_list()) == calls
    outcomes = Counter(runs["outcome"].to_list())
    assert outcomes == {"escalated": 48, "success": 49, "failure": 103}  # 35 of 84 rewarded runs handed off
    assert ts.labels.collect().filter(pl.col("name") == "reward").height == 200
    assert runs["cost_usd"].null_count() == 200  # no token or cost data in τ-bench: unknown, not zero
    assert runs["started_at"].null_count() == 200
    first = steps.filter(pl.col("run_id") == "tau-airline-task0-trial0", pl.col("kind") == "tool")
    assert first["tool_name"][0] == "get_user_details" and first["input"][0] == '{"user_id":"mia_li_3668"}'
    assert first.filter(pl.col("tool_name") == "book_reservation")["status"].to_list() == ["error", "ok"]


@pytest.mark.parametrize("name, expected", [
    ("openinference_client_span_tool_calls.json",
     {"kind": "llm", "model": "gpt-4-0613", "input_tokens": 97, "output_tokens": 52}),
    ("openinference_client_span_input_output_only.json",
     {"kind": "llm", "model": "gpt-4-0613", "input_tokens": 97, "output_tokens": 52}),
    ("otel_genai_client_span_tool_calls.json",
     {"kind": "llm", "model": "gpt-4-0613", "input_tokens": 97, "output_tokens": 52}),
    ("otel_genai_deprecated_client_span_tool_calls.json",
     {"kind": "llm", "model": "gpt-4-0613", "input_tokens": 97, "output_tokens": 52}),
    ("otel_genai_tool_execution_span.json",
     {"kind": "tool", "tool_name": "get_weather", "input": '{"city": "New York"}', "model": None}),
])
def test_convention_mapping_on_bare_attribute_maps(name, expected):
    attrs = json.loads((THIRD_PARTY / "openinference-genai" / name).read_text())
    fields = Conventions(Mapping()).step(attrs, "")
    assert {k: fields[k] for k in expected} == expected
    if "deprecated" in name:
        assert "Weather in Paris?" in fields["input"] and "rainy" in fields["output"]
