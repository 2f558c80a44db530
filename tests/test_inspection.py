"""The run inspector's data: chat messages from every convention (on files written by other projects), the run
tree with the step that caused a failure, the run search, and the cost / latency views."""

from __future__ import annotations

import datetime as dt
import json
import random

import polars as pl
import pytest

import agentops_kit as ak
from agentops_kit.analytics.cost_breakdown import cost_breakdown
from agentops_kit.analytics.latency import latency_by_agent
from agentops_kit.errors import UsageError
from agentops_kit.inspection import order_select
from agentops_kit.inspection.messages import step_messages
from agentops_kit.inspection.run_search import RunQuery, RunSearch, parse_range
from agentops_kit.inspection.run_tree import failure_cause, split_error, waterfall_rows

from .conftest import THIRD_PARTY, otlp_line, otlp_span, write_lines

OI = THIRD_PARTY / "openinference-genai"


def any_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [any_value(x) for x in v]}}
    return {"stringValue": str(v)}


def load_attribute_map(tmp_path, name):
    """One of the bare attribute maps, sent through the real OTLP reader as a span, and its llm step back."""
    attrs = json.loads((OI / name).read_text())
    span = otlp_span(name="chat", attrs={k: any_value(v) for k, v in attrs.items()})
    ts = ak.load_traces(write_lines(tmp_path / "span.jsonl", [otlp_line(span)]))
    return attrs, ts.steps.collect().row(0, named=True)


def roles_and_texts(messages):
    return [(m.role, m.text) for m in messages]


@pytest.mark.parametrize("name, source", [
    ("openinference_client_span_tool_calls.json", "llm.input_messages"),
    ("otel_genai_client_span_tool_calls.json", "input (messages)"),
    ("otel_genai_deprecated_client_span_tool_calls.json", "input (messages)"),
    ("openinference_client_span_input_output_only.json", "input (messages)"),
])
def test_messages_of_each_convention_from_the_openinference_converter_files(tmp_path, name, source):
    attrs, step = load_attribute_map(tmp_path, name)
    assert step["kind"] == "llm"
    chat = step_messages(step)
    assert chat.input_source == source
    # the same conversation whichever convention carried it: user asks, assistant calls a tool, the tool answers
    assert [m.role for m in chat.input] == ["user", "assistant", "tool"]
    assert chat.input[0].text == "Weather in Paris?"
    assert chat.input[1].text == "Absolutely! Let me check the weather for you."
    call = chat.input[1].tool_calls[0]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"location": "Paris"} and call.id == "1234"
    assert "rainy, 57°F" in chat.input[2].text and chat.input[2].tool_call_id == "1234"
    assert roles_and_texts(chat.output) == [
        ("assistant", "The weather in Paris is currently rainy with a temperature of 57°F.")]


def test_tool_execution_span_keeps_arguments_and_result(tmp_path):
    attrs, step = load_attribute_map(tmp_path, "otel_genai_tool_execution_span.json")
    assert step["kind"] == "tool" and step["tool_name"] == "get_weather"
    assert json.loads(step["input"]) == json.loads(attrs["input"])
    assert json.loads(step["output"])["report"].startswith("The weather in New York is sunny")


def llm_steps(sub, **kw):
    ts = ak.load_traces(THIRD_PARTY / sub, **kw)
    return ts.steps.filter(pl.col("kind") == "llm").collect()


def test_langsmith_runs_give_the_openai_chat():
    steps = llm_steps("langsmith-sdk")
    for step in steps.iter_rows(named=True):
        run = json.loads(step["input"])
        chat = step_messages(step)
        assert roles_and_texts(chat.input) == [(m["role"], m["content"]) for m in run["messages"]]
        choice = json.loads(step["output"])["choices"][0]["message"]
        assert roles_and_texts(chat.output) == [("assistant", choice["content"])]


def test_langfuse_framework_traces_give_messages_role_by_role():
    steps = llm_steps("langfuse-framework-traces")
    by_file = {}
    for step in steps.iter_rows(named=True):
        by_file.setdefault(step["source_file"].rsplit("/", 1)[1], []).append(step_messages(step))
    doc = json.loads((THIRD_PARTY / "langfuse-framework-traces" / "openai-agents-2025-09-30.json").read_text())
    gen = next(o for o in doc["observations"] if o["type"] == "GENERATION" and
               "llm.input_messages.3.message.role" in o["metadata"]["attributes"])
    a = gen["metadata"]["attributes"]
    agents = next(c for c in by_file["openai-agents-2025-09-30.json"] if len(c.input) == 4)
    assert [m.role for m in agents.input] == [a[f"llm.input_messages.{i}.message.role"] for i in range(4)]
    assert agents.input[2].tool_calls[0].name == a["llm.input_messages.2.message.tool_calls.0.tool_call.function.name"]
    assert agents.input[3].text == a["llm.input_messages.3.message.content"]
    assert agents.output[0].text == a["llm.output_messages.0.message.contents.0.message_content.text"]
    # koog writes the flattened OpenLLMetry keys gen_ai.prompt.N / gen_ai.completion.N
    koog = by_file["koog-2025-08-26.json"][0]
    assert koog.input_source == "gen_ai.prompt" and koog.input[0].role == "system"
    assert koog.output[0].text == "Hello my darling Bob! And, bye my dear Bob!"
    # pydantic-ai: GenAI parts, tool results under "result"
    pyd = next(c for c in by_file["pydantic-ai-tools-2025-12-04.json"] if len(c.input) == 4)
    assert [len(m.tool_calls) for m in pyd.input] == [0, 0, 3, 0]
    assert pyd.input[3].text.startswith("[get_pun_suggestion] Pun idea")
    # Gemini request contents with a system instruction, LangChain AIMessageChunk output
    vertex = by_file["google-vertex-tools-langchain-2025-09-19.json"][0]
    assert vertex.output[0].text == "Thank you, John Smith. Which of our services are you interested in?"
    # a prompt that is plain text stays text: nothing is invented
    autogen = by_file["autogen-2025-06-06.json"][0]
    assert not autogen.input and autogen.raw_input.startswith("system: You are a helpful AI assistant")
    assert autogen.raw_output == "Hello World!"


def test_any_agent_calls_show_their_messages_and_tool_calls():
    for step in llm_steps("any-agent").iter_rows(named=True):
        chat = step_messages(step)
        raw_in = json.loads(step["input"]) if step["input"] else []
        assert [m.role for m in chat.input] == [m.get("role") for m in raw_in]
        out = json.loads(step["output"]) if step["output"] and step["output"].startswith("[") else None
        if isinstance(out, list) and out and "tool.name" in out[0]:
            assert [c.name for m in chat.output for c in m.tool_calls] == [o["tool.name"] for o in out]


def test_sample_llm_steps_have_messages(sample_ts):
    steps = sample_ts.steps.filter(pl.col("kind") == "llm").collect()
    chats = [step_messages(s) for s in steps.iter_rows(named=True)]
    assert all(c.input and c.output for c in chats)
    assert {m.role for c in chats for m in c.input} >= {"user"}


# ---- the run tree ---------------------------------------------------------------------------------------------

def test_waterfall_rows_put_children_under_parents_and_name_the_cause(sample_ts):
    failed = sample_ts.runs.filter(pl.col("outcome") == "failure").collect()["run_id"].to_list()
    for run_id in failed[:20]:
        steps = sample_ts.steps.filter(pl.col("run_id") == run_id).collect()
        rows = waterfall_rows(steps)
        assert rows.height == steps.height and rows["depth"][0] == 0
        position = dict(zip(rows["step_id"], rows["row"], strict=True))
        for r in rows.iter_rows(named=True):  # every child comes after its parent
            if r["parent_id"] in position:
                assert position[r["parent_id"]] < r["row"]
                assert r["depth"] == rows.filter(pl.col("step_id") == r["parent_id"])["depth"][0] + 1
        cause = failure_cause(rows)
        leaf_errors = steps.filter(pl.col("error").is_not_null() & (pl.col("kind") != "agent"))
        assert cause is not None and cause.kind != "agent"  # not the root that only says "run failed"
        assert cause.step_id in leaf_errors["step_id"].to_list()
        assert cause.error_type in leaf_errors["error"].to_list()


def test_waterfall_rows_keep_orphans_and_times(tmp_path):
    t0 = 1_700_000_000_000_000_000
    spans = [otlp_span(span_id="a" * 16, name="root", start=t0, end=t0 + 3 * 10**9),
             otlp_span(span_id="b" * 16, parent="a" * 16, name="late", start=t0 + 2 * 10**9, end=t0 + 3 * 10**9),
             otlp_span(span_id="c" * 16, parent="a" * 16, name="early", start=t0 + 10**9, end=t0 + 2 * 10**9,
                       attrs={"error.type": {"stringValue": "ValueError: bad id"}}, status={"code": 2}),
             otlp_span(span_id="d" * 16, parent="f" * 16, name="lost", start=t0, end=t0 + 10**8)]
    ts = ak.load_traces(write_lines(tmp_path / "t.jsonl", [otlp_line(*spans)]))
    rows = waterfall_rows(ts.steps)
    assert rows["name"].to_list() == ["root", "early", "late", "lost"]  # children under their parent, by start
    assert rows.filter(pl.col("name") == "lost")["orphan"][0] is True
    assert rows.filter(pl.col("name") == "early").select("offset_s", "duration_s").row(0) == (1.0, 1.0)
    cause = failure_cause(rows)
    assert (cause.step, cause.error_type, cause.message) == ("early", "ValueError", "bad id")


def test_split_error():
    assert split_error("TimeoutError") == ("TimeoutError", None)
    assert split_error("UpstreamHTTP500: gateway said no") == ("UpstreamHTTP500", "gateway said no")
    assert split_error("the refund service did not answer") == (None, "the refund service did not answer")
    assert split_error(None) == (None, None)


# ---- the run search -------------------------------------------------------------------------------------------

def test_run_search_filters_match_polars_over_the_raw_tables(sample_ts):
    result = ak.check_policy(sample_ts, "agentops_kit/templates/policies")
    search = RunSearch(sample_ts, result.violations)
    runs, steps = sample_ts.runs.collect(), sample_ts.steps.collect()
    first = search.page(RunQuery(), size=25)
    assert (first.matching, first.total, first.pages, first.rows.height) == (runs.height, runs.height, 25, 25)
    last = search.page(RunQuery(), page=99, size=25)  # past the end: the last page, every run reachable
    assert last.page == 25 and last.rows.height == runs.height - 24 * 25
    seen = pl.concat([search.page(RunQuery(), page=p, size=100).rows for p in range(1, 8)])
    assert seen["run_id"].n_unique() == runs.height  # no silent cap
    checks = {
        RunQuery(outcome="failure"): runs.filter(pl.col("outcome") == "failure"),
        RunQuery(agent="SupportRefundAgent", mode="shadow"):
            runs.filter((pl.col("agent") == "SupportRefundAgent") & (pl.col("mode") == "shadow")),
        RunQuery(tool="vendor_lookup"): runs.filter(pl.col("run_id").is_in(
            steps.filter(pl.col("tool_name") == "vendor_lookup")["run_id"].implode())),
        RunQuery(error_type="UpstreamHTTP500"): runs.filter(pl.col("run_id").is_in(
            steps.filter(pl.col("error") == "UpstreamHTTP500")["run_id"].implode())),
        RunQuery(cost_min=0.001, cost_max=0.002): runs.filter(pl.col("cost_usd").is_between(0.001, 0.002)),
        RunQuery(duration_max=5.0): runs.filter(pl.col("duration_s") <= 5.0),
        RunQuery(started_from=dt.date(2026, 11, 1), started_to=dt.date(2026, 11, 7)):
            runs.filter(pl.col("started_at").dt.date().is_between(dt.date(2026, 11, 1), dt.date(2026, 11, 7))),
        RunQuery(text="validationerror"): runs.filter(pl.col("run_id").is_in(steps.filter(
            pl.concat_str(pl.col("input").fill_null(""), pl.col("output").fill_null(""), pl.col("error").fill_null(""))
            .str.to_lowercase().str.contains("validationerror", literal=True))["run_id"].implode())),
        RunQuery(outcome="failure", violations_only=True): runs.filter(
            (pl.col("outcome") == "failure") & pl.col("run_id").is_in(result.violations["run_id"].implode())),
    }
    for query, expected in checks.items():
        assert expected.height, query
        page = search.page(query, size=1000)
        assert page.matching == expected.height and set(page.rows["run_id"]) == set(expected["run_id"]), query
    unknown = runs.filter(pl.col("cost_usd").is_null()).height
    assert search.page(RunQuery(cost_min=0.0)).unknown_cost_left_out == unknown > 0
    # sorting: by cost, highest first, unknown costs last
    costs = search.page(RunQuery(sort_by="cost_usd"), size=1000).rows["cost_usd"].to_list()
    known = [c for c in costs if c is not None]
    assert known == sorted(known, reverse=True) and costs[-unknown:] == [None] * unknown


def test_run_search_ids_and_positions(sample_ts):
    search = RunSearch(sample_ts)
    run_id = sample_ts.runs.collect()["run_id"][7]
    assert search.ids_starting(run_id[:8].upper()) == [run_id]
    with pytest.raises(UsageError, match="at least 8 characters"):
        search.ids_starting(run_id[:7])
    at = search.position(RunQuery(), run_id)
    assert search.page(RunQuery(), page=at // 25 + 1, size=25).rows["run_id"][at % 25] == run_id
    assert search.position(RunQuery(id_prefix=run_id[:16]), run_id) == 0
    assert search.position(RunQuery(agent="nobody"), run_id) is None
    assert search.contains(RunQuery(), run_id) and not search.contains(RunQuery(agent="nobody"), run_id)


@pytest.mark.parametrize("limit", [100_000, 5])
@pytest.mark.parametrize("sort_by", ["cost_usd", "started_at", "agent", "error_type", "run_id", "tokens"])
def test_every_page_and_position_is_that_of_one_full_sort(sample_ts, sort_by, limit, monkeypatch):
    """A page's ids are found by narrowing the order with counts (with a small LIMIT: through every level of
    buckets) and a position is a count of the runs before: both must agree with sorting every whole row, ties
    and unknown keys included."""
    monkeypatch.setattr(order_select, "LIMIT", limit)
    monkeypatch.setattr(order_select, "BUCKETS", 4)
    search = RunSearch(sample_ts)
    for descending in (True, False):
        query = RunQuery(sort_by=sort_by, descending=descending)
        full = search.sorted(query).select("run_id").collect()["run_id"].to_list()
        keys = search.sorted(query).select(sort_by).collect()[sort_by]
        assert keys.null_count() == 0 or keys.tail(keys.null_count()).null_count() == keys.null_count()  # last
        size = 37
        pages = [search.page(query, page=p, size=size).rows["run_id"].to_list() for p in range(1, len(full) // size + 2)]
        assert sum(pages, []) == full, (sort_by, descending)
        for at in (0, 1, len(full) // 2, len(full) - 1):
            assert search.position(query, full[at]) == at, (sort_by, descending, at)


def test_places_of_an_order_found_by_counting_are_those_of_a_full_sort(monkeypatch):
    """Heavy ties, unknown keys, texts that are prefixes of each other or share hundreds of characters, run ids
    sharing a prefix, NaN, ±inf, the largest floats and times: the ids at any places equal those of sorting
    everything."""
    monkeypatch.setattr(order_select, "LIMIT", 7)
    monkeypatch.setattr(order_select, "BUCKETS", 3)
    n = 600
    rng = random.Random(5)
    trace = "Traceback (most recent call last):\n" * 30  # error texts share hundreds of characters
    words = ["", "a", "ab", "abc", "abd", "b", "ä", "zz", None, trace, trace + "KeyError", trace + "ValueError: x"]
    start = dt.datetime(2026, 11, 16, tzinfo=dt.timezone.utc)
    frame = pl.DataFrame({
        "run_id": [f"run-000{i:04d}" if i % 3 else f"{rng.getrandbits(40):x}" for i in range(n)],
        "calls": [rng.choice([0, 0, 0, 1, 2, None]) for _ in range(n)],
        "cost": [rng.choice([None, 0.5, float("nan"), rng.random(), float("inf"), float("-inf"), 1.7e308, -1.7e308])
                 for _ in range(n)],
        "word": [rng.choice(words) for _ in range(n)],
        "at": [start + dt.timedelta(microseconds=rng.choice([0, 1, 10**6, rng.getrandbits(30)])) for _ in range(n)],
    }).lazy()
    for key in ("calls", "cost", "word", "at", "run_id"):
        for descending in (False, True):
            ranked = frame.select(pl.col(key).is_null().cast(pl.Int8).alias("_null_key"),
                                  *dict.fromkeys([key, "run_id"]))
            order = order_select.Order("_null_key", key, descending)
            full = (ranked.sort(order.columns(), descending=order.directions(), nulls_last=True)
                    .collect()["run_id"].to_list())
            for offset in (0, 1, 6, 7, 50, 299, 300, 450, 592, 599):
                for size in (1, 8, 25):
                    got = order_select.ids_at(ranked, order, offset, size, n)
                    assert got == full[offset:offset + size], (key, descending, offset, size)


def test_parse_range_says_what_is_wrong():
    assert parse_range("", " 2.5 ", "cost") == (None, 2.5)
    assert parse_range("$0.01", "", "cost") == (0.01, None)
    with pytest.raises(UsageError, match="cost from: 'abc' is not a number"):
        parse_range("abc", "", "cost")
    with pytest.raises(UsageError, match="'from' \\(3\\) is above 'to' \\(1\\)"):
        parse_range("3", "1", "duration")


# ---- cost and latency -----------------------------------------------------------------------------------------

def test_cost_breakdown_adds_up_and_counts_unknown(sample_ts):
    import duckdb

    b = cost_breakdown(sample_ts)
    steps, runs = sample_ts.steps.collect(), sample_ts.runs.collect()
    con = duckdb.connect()
    con.register("steps", steps.to_arrow())
    con.register("runs", runs.to_arrow())
    known, unknown = con.execute("""
        select sum(case when s.cost_source in ('export','pricing') then s.cost_usd end),
               sum(case when s.cost_source = 'unknown' then 1 else 0 end)
        from steps s join runs r using (run_id) where s.kind in ('llm','tool','action','retrieval')""").fetchone()
    assert b["cost_usd"].sum() == pytest.approx(known) and b["unknown_cost_steps"].sum() == unknown > 0
    tools = b.filter(pl.col("kind").is_in(["tool", "action"]))
    assert tools.height and set(tools["item"]) >= {"vendor_lookup", "refund_request_submit"}  # tools are shown
    # runs of unknown cost are in the weeks too, their unpriced model named
    unpriced = b.filter(pl.col("unknown_cost_steps") > 0)["item"].unique().to_list()
    assert unpriced == ak.pricing.unpriced_models(sample_ts.steps)


def test_latency_by_agent_matches_duckdb(sample_ts):
    import duckdb

    stats = latency_by_agent(sample_ts)
    con = duckdb.connect()
    con.register("runs", sample_ts.runs.collect().to_arrow())
    for r in stats.iter_rows(named=True):
        n, p50, p95 = con.execute("select count(*), quantile_cont(duration_s, 0.5), quantile_cont(duration_s, 0.95) "
                                  "from runs where agent = ?", [r["agent"]]).fetchone()
        assert (r["runs"], r["p50"], r["p95"]) == (n, pytest.approx(p50), pytest.approx(p95))


def test_every_inspector_chart_is_a_figure_with_an_explicit_height(sample_ts):
    from agentops_kit.charts import cost_by_week, inventory_matrix, latency_distribution, waterfall

    run_id = sample_ts.runs.filter(pl.col("outcome") == "failure").collect()["run_id"][0]
    scored = ak.score_inventory("agentops_kit/data/inventory.csv")
    figures = [waterfall(waterfall_rows(sample_ts.steps.filter(pl.col("run_id") == run_id))),
               cost_by_week(cost_breakdown(sample_ts)), latency_distribution(latency_by_agent(sample_ts)),
               inventory_matrix(scored)]
    for fig in figures:
        assert fig is not None and fig.layout.height and fig.layout.height > 200 and len(fig.data)
    latency = figures[2]
    assert {t.name for t in latency.data if t.type == "box"} == {
        f"{a} ({n} runs)" for a, n in latency_by_agent(sample_ts).select("agent", "runs").iter_rows()}
    cost = figures[1]
    unknown = [t for t in cost.data if t.name.startswith("unknown: ")]
    assert sum(sum(t.y) for t in unknown) == cost_breakdown(sample_ts)["unknown_cost_steps"].sum() > 0
