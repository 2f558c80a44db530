"""The 2026 GenAI semantic conventions (semantic-conventions-genai, "Development"): workflow, plan and memory
spans, provider, conversation ids and the sessions view, evaluation-result and exception events, cache-write
and reasoning tokens. Hand-made OTLP/JSON spans carry each convention; both the compiled decoder and the Python
reader must read them the same way; real LangSmith and Langfuse files check reasoning tokens across formats."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.analytics.sessions import runs_without_session, sessions
from agentops_kit.cli import main
from agentops_kit.pricing import Pricing

from .conftest import THIRD_PARTY, otlp_line, otlp_span, write_lines
from .test_otlp_compiled import assert_same, load_both

T0 = 1_780_000_000_000_000_000  # 2026-05-28


def s(v):
    return {"stringValue": v}


def i(v):
    return {"intValue": str(v)}


def span(trace, sid, name, parent="", attrs=None, events=None, status=None, at=0):
    out = otlp_span(trace_id=trace * 32, span_id=sid * 16, parent=parent * 16 if parent else "", name=name,
                    start=T0 + at * 10**9, end=T0 + (at + 1) * 10**9, attrs=attrs, status=status)
    if events is not None:
        out["events"] = events
    return out


def event(name, **attrs):
    return {"timeUnixNano": str(T0), "name": name,
            "attributes": [{"key": k.replace("__", "."), "value": v} for k, v in attrs.items()]}


def conversation_file(tmp_path):
    """Three runs: two of conversation c-1 (one with an unpriced model), one of c-2, and one without an id."""
    lines = [
        otlp_line(
            span("a", "1", "invoke_workflow support_flow", attrs={
                "gen_ai.operation.name": s("invoke_workflow"), "gen_ai.conversation.id": s("c-1")},
                events=[event("gen_ai.evaluation.result", gen_ai__evaluation__name=s("Relevance"),
                              gen_ai__evaluation__score__value={"doubleValue": 0.75},
                              gen_ai__evaluation__score__label=s("relevant"),
                              gen_ai__evaluation__explanation=s("answers the question"))]),
            span("a", "2", "plan", parent="1", attrs={"gen_ai.operation.name": s("plan")}),
            *[span("a", str(3 + n), f"{op} prefs", parent="1", at=n, attrs={
                "gen_ai.operation.name": s(op), "gen_ai.memory.store.id": s("user-prefs")})
              for n, op in enumerate(("search_memory", "create_memory", "update_memory", "upsert_memory",
                                      "delete_memory"))],
            span("a", "8", "chat claude-sonnet-4", parent="1", attrs={
                "gen_ai.operation.name": s("chat"), "gen_ai.provider.name": s("anthropic"),
                "gen_ai.request.model": s("claude-sonnet-4"), "gen_ai.usage.input_tokens": i(1000),
                "gen_ai.usage.cache_read.input_tokens": i(200), "gen_ai.usage.cache_write.input_tokens": i(300),
                "gen_ai.usage.output_tokens": i(100), "gen_ai.usage.reasoning.output_tokens": i(40)}),
            span("a", "9", "execute_tool lookup", parent="1", attrs={
                "gen_ai.operation.name": s("execute_tool"), "gen_ai.tool.name": s("lookup")},
                events=[event("exception", exception__type=s("TimeoutError"), exception__message=s("took 30 s"))],
                status={"code": 2, "message": "tool failed"}),
        ),
        otlp_line(
            span("b", "1", "invoke_agent helper", attrs={
                "gen_ai.operation.name": s("invoke_agent"), "gen_ai.conversation.id": s("c-1"),
                "gen_ai.workflow.name": s("named_flow")}, at=60),
            span("b", "2", "chat mystery", parent="1", at=60, attrs={
                "gen_ai.operation.name": s("chat"), "gen_ai.system": s("openai"),
                "gen_ai.request.model": s("mystery-model"), "gen_ai.usage.input_tokens": i(10),
                "gen_ai.usage.cache_creation.input_tokens": i(4), "gen_ai.usage.output_tokens": i(5)}),
        ),
        otlp_line(span("c", "1", "invoke_agent", attrs={"gen_ai.conversation.id": s("c-2"),
                                                          "agentops.outcome": s("success")}, at=120)),
        otlp_line(span("d", "1", "invoke_agent", at=180)),
    ]
    return write_lines(tmp_path / "conversations.jsonl", lines)


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    """The file through the compiled decoder and through the Python reader: the same tables."""
    compiled, python, handed = load_both(monkeypatch, conversation_file(tmp_path))
    assert_same(compiled, python)
    assert handed == [1]  # the line with evaluation and exception events goes to Python; the others do not
    return compiled


def test_workflow_plan_and_memory_spans(loaded):
    runs, steps = loaded["runs"], loaded["steps"]
    workflow = dict(zip(runs["run_id"], runs["workflow"], strict=True))
    assert workflow["a" * 32] == "support_flow"  # from the invoke_workflow span's name
    assert workflow["b" * 32] == "named_flow"  # gen_ai.workflow.name
    kinds = dict(zip(steps["name"], steps["kind"], strict=True))
    assert kinds["plan"] == "other" and kinds["invoke_workflow support_flow"] == "other"
    assert [kinds[f"{op} prefs"] for op in ("search_memory", "create_memory", "update_memory", "upsert_memory",
                                              "delete_memory")] == ["memory"] * 5


def test_provider_cache_write_and_reasoning_tokens(loaded):
    steps = loaded["steps"].filter(pl.col("kind") == "llm").sort("run_id")
    assert steps["provider"].to_list() == ["anthropic", "openai"]  # gen_ai.provider.name; gen_ai.system before it
    assert steps["cache_write_input_tokens"].to_list() == [300, 4]  # cache_write, and the older cache_creation
    assert steps["reasoning_output_tokens"].to_list() == [40, None]
    # claude-sonnet-4 (bundled list): 500 plain input at 3.00, 200 cache reads at 0.30, 300 cache writes at
    # 3.75, 100 output (reasoning included) at 15.00 per million
    assert steps["cost_usd"][0] == pytest.approx((500 * 3.00 + 200 * 0.30 + 300 * 3.75 + 100 * 15.00) / 1e6)
    runs = loaded["runs"].sort("run_id")
    assert runs["reasoning_output_tokens"].to_list() == [40, None, None, None]
    assert runs["output_tokens"].to_list()[:2] == [100, 5]


def test_a_price_list_without_a_cache_write_rate_prices_writes_as_input(tmp_path):
    pricing = Pricing(models={"claude-sonnet-4": [{"input": 3.0, "output": 15.0, "cached_input": 0.3}]})
    steps = ak.load_traces(conversation_file(tmp_path), pricing=pricing).steps.collect()
    cost = steps.filter(pl.col("model") == "claude-sonnet-4")["cost_usd"][0]
    assert cost == pytest.approx((800 * 3.00 + 200 * 0.30 + 100 * 15.00) / 1e6)


def test_evaluation_events_become_labels_of_the_evaluated_run(loaded):
    labels = loaded["labels"].sort("name")
    assert labels.select("run_id", "name", "value").rows() == [
        ("a" * 32, "Relevance", "0.75"), ("a" * 32, "Relevance.explanation", "answers the question"),
        ("a" * 32, "Relevance.label", "relevant")]
    assert set(labels["source"]) == {f"gen_ai.evaluation.result event of span {'1' * 16}"}


def test_an_exception_event_is_the_steps_error(loaded):
    tool = loaded["steps"].filter(pl.col("name") == "execute_tool lookup")
    assert tool["error"].to_list() == ["TimeoutError"] and tool["status"].to_list() == ["error"]
    run = loaded["runs"].filter(pl.col("run_id") == "a" * 32)
    assert run["error_type"].to_list() == ["TimeoutError"]


def test_sessions_view_runs_outcome_and_cost_per_conversation(tmp_path):
    ts = ak.load_traces(conversation_file(tmp_path))
    assert dict(zip(*ts.runs.collect().select("run_id", "session_id").get_columns(), strict=True)) == {
        "a" * 32: "c-1", "b" * 32: "c-1", "c" * 32: "c-2", "d" * 32: None}
    frame = sessions(ts)
    assert frame["session_id"].to_list() == ["c-2", "c-1"]  # latest first
    c1 = frame.row(1, named=True)
    assert (c1["runs"], c1["cost_unknown_runs"], c1["cost_usd"]) == (2, 1, None)  # mystery-model has no price
    assert c1["cost_known_usd"] == pytest.approx((500 * 3.00 + 200 * 0.30 + 300 * 3.75 + 100 * 15.00) / 1e6)
    c2 = frame.row(0, named=True)
    assert (c2["runs"], c2["success"], c2["unknown"], c2["cost_usd"]) == (1, 1, 0, 0.0)
    assert runs_without_session(ts) == 1
    result = CliRunner().invoke(main, ["sessions", str(tmp_path / "conversations.jsonl"), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [r["session_id"] for r in json.loads(result.output)] == ["c-2", "c-1"]
    table = CliRunner().invoke(main, ["sessions", str(tmp_path / "conversations.jsonl")])
    assert "2 conversation(s); 1 run(s) without a conversation id" in table.output


def test_reasoning_tokens_are_part_of_output_tokens_in_every_format(tmp_path):
    # LangSmith (LangChain's usage_metadata): output_tokens already include the reasoning tokens
    ls = ak.load_traces(THIRD_PARTY / "langsmith-sdk" / "langsmith_py_wrap_openai_reasoning.json")
    llm = ls.steps.filter(pl.col("kind") == "llm").collect()
    assert llm.select("output_tokens", "reasoning_output_tokens").rows() == [(2497, 1408)]
    # Langfuse's SDKs take each detail out of input/output: it is added back, so counts mean the same
    doc = {"trace": {"id": "t1", "timestamp": "2026-05-28T10:00:00Z", "sessionId": "conv-9"},
           "observations": [{"id": "o1", "traceId": "t1", "type": "GENERATION", "model": "o3",
                             "startTime": "2026-05-28T10:00:00Z", "endTime": "2026-05-28T10:00:02Z",
                             "usageDetails": {"input": 10, "input_cache_read": 3, "input_cache_creation": 2,
                                              "output": 5, "output_reasoning": 7, "total": 27}}]}
    path = tmp_path / "langfuse.json"
    path.write_text(json.dumps(doc))
    lf = ak.load_traces(path)
    step = lf.steps.filter(pl.col("kind") == "llm").collect().row(0, named=True)
    assert (step["input_tokens"], step["cached_input_tokens"], step["cache_write_input_tokens"]) == (15, 3, 2)
    assert (step["output_tokens"], step["reasoning_output_tokens"]) == (12, 7)
    assert lf.runs.collect()["session_id"].to_list() == ["conv-9"]  # Langfuse's sessionId


def test_the_sdk_json_reads_exception_events_too(tmp_path):
    spans = [{"name": "execute_tool fetch", "context": {"trace_id": "0x" + "e" * 32, "span_id": "0x" + "f" * 16},
              "parent_id": None, "start_time": "2026-05-28T10:00:00.000000Z", "end_time": "2026-05-28T10:00:01.000000Z",
              "status": {"status_code": "ERROR"}, "attributes": {"gen_ai.operation.name": "execute_tool"},
              "events": [{"name": "exception", "timestamp": "2026-05-28T10:00:01.000000Z",
                          "attributes": {"exception.type": "ConnectionError", "exception.message": "refused"}}]}]
    path = tmp_path / "sdk.json"
    path.write_text(json.dumps({"spans": spans}))
    steps = ak.load_traces(path, format="otel_sdk").steps.collect()
    assert steps["error"].to_list() == ["ConnectionError"]


def test_table_sets_written_before_these_columns_still_read(tmp_path):
    """A table set of the previous version lacks the new columns: they read as null (unknown), never 0."""
    from agentops_kit import tableset

    ts = ak.load_traces(conversation_file(tmp_path))
    old = {"runs": ts.runs.collect().drop("session_id", "reasoning_output_tokens"),
           "steps": ts.steps.collect().drop("provider", "cache_write_input_tokens", "reasoning_output_tokens"),
           **{t: getattr(ts, t).collect() for t in ("sources", "labels", "rejected")}}
    tableset.write_set(old, tmp_path / "old")
    again = ak.load_traces(tmp_path / "old")
    assert again.runs.collect()["session_id"].null_count() == 4
    assert again.steps.collect()["reasoning_output_tokens"].null_count() == again.steps.collect().height


@pytest.mark.parametrize("events", [
    [], "not a list", [1], [{"name": 7}], [{"name": "exception", "attributes": "bad"}],
    [{"name": "log", "attributes": [{"key": "exception.type", "value": s("ignored")}]}],
    [{"name": "exception"}], [{"name": "exception", "name ": "x"}, {"name": "gen_ai.evaluation.result"}],
    [{"name": "gen_ai.evaluation.result", "attributes": [{"key": "gen_ai.evaluation.score.value", "value": i(1)}]}],
], ids=repr)
def test_unusual_events_read_the_same_by_both_decoders(tmp_path, monkeypatch, events):
    path = write_lines(tmp_path / "events.jsonl", [
        otlp_line(span("a", "1", "root", events=events)), otlp_line(span("b", "1", "plain"))])
    compiled, python, _ = load_both(monkeypatch, path)
    assert_same(compiled, python)
    assert compiled["steps"].height + compiled["rejected"].height == 2


def test_every_step_kind_has_a_colour_in_the_waterfall():
    from agentops_kit.charts import KIND_COLOURS
    from agentops_kit.model import StepKind

    assert set(KIND_COLOURS) == {k.value for k in StepKind}
