"""Widgets driven through their Python objects, with real SQLite behind them."""

from __future__ import annotations

import html
import json

import polars as pl

import agentops_kit as ak
from agentops_kit.approvals.demo import seed_from_traces
from agentops_kit.widgets import (
    ApprovalsWidget,
    InventoryExplorer,
    RunInspector,
    current_user,
)
from agentops_kit.widgets.run_inspector import ALL

from .conftest import ROOT


def test_approvals_widget_approve_reject_conflict(sample_ts, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    q = ak.ApprovalQueue(url)
    made = seed_from_traces(q, sample_ts, count=3)
    assert len(made) == 3 and len(seed_from_traces(q, sample_ts, count=3)) == 3 and len(q.pending()) == 3
    monkeypatch.setenv("JUPYTERHUB_USER", "hub-alice")
    assert current_user() == "hub-alice"
    widget = ApprovalsWidget(q, traceset=sample_ts)
    assert widget.user == "hub-alice" and len(widget.requests.options) == 3
    first = widget.requests.value
    assert "The run so far" in widget.detail.value and "Sources:" in widget.detail.value
    widget.approve_button.click()
    assert q.get(first).status == "approved" and q.get(first).decided_by == "hub-alice"
    assert "approved" in widget.status.value and len(widget.requests.options) == 2
    # rejecting needs a reason: said plainly, nothing decided
    second = widget.requests.value
    widget.reject_button.click()
    assert "needs a reason" in widget.status.value and q.get(second).status == "pending"
    widget.reason.value = "wrong customer"
    widget.reject_button.click()
    assert q.get(second).status == "rejected" and q.get(second).decision_note == "wrong customer"
    # someone else decides the last one first: the conflict is shown, not overwritten
    third = widget.requests.value
    q.approve(third, "bob")
    widget.approve_button.click()
    assert "already approved by bob" in widget.status.value
    assert q.get(third).decided_by == "bob" and widget.requests.options == ()
    assert q.verify().ok


def test_approvals_widget_filters_and_escapes(tmp_path):
    q = ak.ApprovalQueue(f"sqlite:///{tmp_path / 'a.db'}")
    q.submit(agent="A", action="pay", params={"note": "<img src=x onerror=alert(1)>"}, requested_by="svc",
             before={"x": "<script>alert(1)</script>"}, after={"x": "ok"})
    q.submit(agent="B", action="mail", params={}, requested_by="svc")
    widget = ApprovalsWidget(q, user="carol")
    assert len(widget.requests.options) == 2
    widget.agent.value = "B"
    assert len(widget.requests.options) == 1
    widget.agent.value = None
    widget.action.value = "pay"
    assert len(widget.requests.options) == 1
    assert "<script>" not in widget.detail.value and "<img src=x" not in widget.detail.value
    assert "&lt;script&gt;" in widget.detail.value


def widget_html(widget) -> str:
    """Every HTML value inside a widget tree (what the browser would be given)."""
    import ipywidgets as w

    out = []
    if isinstance(widget, w.HTML):
        out.append(widget.value)
    for child in getattr(widget, "children", ()):
        out.append(widget_html(child))
    return "\n".join(out)


def figure_texts(fig) -> str:
    parts = [str(fig.layout.title.text), *map(str, fig.layout.yaxis.ticktext or ())]
    for trace in fig.data:
        parts += [str(t) for t in (trace.text or ())] + [str(t) for t in (trace.hovertext or ())]
    return "\n".join(parts)


def click_bar(fig, step_id):
    """What the browser sends when a bar is clicked: plotly's points callback for that point."""
    for index, trace in enumerate(fig.data):
        if step_id in trace.customdata:
            point = list(trace.customdata).index(step_id)
            fig._js2py_pointsCallback = {"event_type": "plotly_click", "points": {
                "trace_indexes": [index], "point_indexes": [point], "xs": [trace.x[point]], "ys": [trace.y[point]]}}
            return
    raise AssertionError(f"no bar for step {step_id}")


def test_run_inspector_filter_table_selection_detail(sample_ts):
    result = ak.check_policy(sample_ts, ROOT / "agentops_kit" / "templates" / "policies")
    inspector = RunInspector(sample_ts, policy_result=result)
    runs = sample_ts.runs.collect()
    assert "616 of 616 runs match" in inspector.counts.value and "page 1 of 25" in inspector.counts.value
    assert len(inspector.picker.options) == 25 and inspector.current == inspector.picker.options[0][1]
    # full ids in the table, the run on display highlighted
    rows_html = widget_html(inspector.table)
    assert all(f"<span class='aok-id'>{rid}</span>" in rows_html for _, rid in inspector.picker.options)
    assert rows_html.count("aok-runrow aok-current") == 1
    # filter to failures with a violation: the run on display changes to one that matches
    before = inspector.current
    inspector.outcome.value = "failure"
    inspector.only_violations.value = True
    expected = runs.filter((pl.col("outcome") == "failure") & pl.col("run_id").is_in(result.violations["run_id"].implode()))
    assert f"{expected.height} of 616 runs match" in inspector.counts.value
    assert {v for _, v in inspector.picker.options} == set(expected["run_id"])
    assert inspector.current in set(expected["run_id"]) and inspector.current != before
    # no dropdown ever goes blank: "all" is a real choice with a label
    inspector.outcome.value = ALL
    assert inspector.outcome.label == "all" and inspector.agent.label == "all"
    inspector.outcome.value = "failure"
    # the header names the failing step and its error type, not "run failed"
    run_id = inspector.current
    steps = sample_ts.steps.filter(pl.col("run_id") == run_id).collect()
    failing = steps.filter(pl.col("error").is_not_null() & (pl.col("kind") != "agent")).row(0, named=True)
    assert f"Failed at {failing['kind']} step “{failing['tool_name']}”" in inspector.header.value
    assert f"<b>{failing['error']}</b>" in inspector.header.value
    # the failing step is open below: its error, arguments and result
    assert inspector.current_step == failing["step_id"]
    assert "Error:</b> " + failing["error"] in inspector.step_view.value and "Arguments" in inspector.step_view.value
    # click the LLM call's bar: its chat, role by role
    llm = steps.filter(pl.col("kind") == "llm").row(0, named=True)
    click_bar(inspector.figure, llm["step_id"])
    assert inspector.current_step == llm["step_id"] and inspector.steps.value == llm["step_id"]
    first_user = json.loads(llm["input"])[0]["parts"][0]["content"]
    assert "Input messages" in inspector.step_view.value and "aok-user" in inspector.step_view.value
    assert html.escape(first_user) in inspector.step_view.value
    # picking a step in the list does the same as a click
    inspector.steps.value = failing["step_id"]
    assert inspector.current_step == failing["step_id"]
    # the story sections are still there
    page = inspector.render(run_id)
    for part in ("What it saw", "Sources it used", "What it called", "What it cost", "Policy rules it broke", "Labels"):
        assert part in page, part


def test_run_inspector_paging_sorting_and_ids(sample_ts):
    inspector = RunInspector(sample_ts, page_size=10)
    runs = sample_ts.runs.collect()
    seen = set()
    while True:
        seen |= {v for _, v in inspector.picker.options}
        if inspector.next_button.disabled:
            break
        inspector.next_button.click()
    assert len(seen) == runs.height == 616  # every run reachable: no cap at 500
    inspector.sort_by.value = "cost_usd"
    costs = runs.filter(pl.col("cost_usd").is_not_null()).sort("cost_usd", descending=True)["run_id"][:10].to_list()
    assert [v for _, v in inspector.picker.options] == costs
    # a typed id is checked on Enter, never on each keystroke; a short one is refused in words
    target = runs.sort("started_at")["run_id"][3]
    inspector.run_id.value = target[:5]
    assert "at least 8 characters" in inspector.message.value and inspector.current != target
    inspector.run_id.value = target[:8]
    assert inspector.current == target and [v for _, v in inspector.picker.options] == [target]
    assert "1 of 616 runs match" in inspector.counts.value and "aok-current" in widget_html(inspector.table)
    inspector.run_id.value = "ffffffffffffffff"
    assert "No run id starts with" in inspector.message.value
    # a bad number is said once, the last valid filter stays
    inspector.clear_filters()
    inspector.cost_from.value = "cheap"
    assert "cost from: &#x27;cheap&#x27; is not a number" in inspector.message.value
    assert "616 of 616" in inspector.counts.value
    # show() of a run the filters exclude clears them, so the run on display belongs to the table
    inspector.cost_from.value = ""
    inspector.agent.value = "SocAlertTriage"
    other = runs.filter(pl.col("agent") == "InvoiceCategorizer")["run_id"][0]
    inspector.show(other[:12])
    assert inspector.current == other and inspector.agent.value is ALL and "Filters cleared" in inspector.message.value
    assert other in {v for _, v in inspector.picker.options}
    # nothing matches: said, and no stale run on display
    inspector.text.value = "no such text anywhere 12345"
    assert "0 of 616 runs match" in inspector.counts.value and inspector.current is None
    assert "No run matches" in inspector.header.value and inspector.figure is None


HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "$x$ costs $5 and $6"]


def hostile_trace(tmp_path):
    from .conftest import otlp_line, otlp_span, write_lines

    prompt = json.dumps([{"role": "user", "parts": [{"type": "text", "content": " ".join(HOSTILE)}]}])
    attr = lambda v: {"stringValue": v}  # noqa: E731
    t0 = 1_700_000_000_000_000_000
    spans = [
        otlp_span(span_id="a" * 16, name="invoke_agent <script>x</script>", start=t0, end=t0 + 4 * 10**9,
                  attrs={"gen_ai.operation.name": attr("invoke_agent"), "gen_ai.agent.name": attr("Evil<img src=x onerror=alert(2)>"),
                         "input.value": attr(HOSTILE[0])}, status={"code": 2, "message": "run failed"}),
        otlp_span(span_id="b" * 16, parent="a" * 16, name="chat", start=t0, end=t0 + 10**9,
                  attrs={"gen_ai.operation.name": attr("chat"), "gen_ai.request.model": attr("m$x$<b>"),
                         "gen_ai.input.messages": attr(prompt), "gen_ai.usage.input_tokens": {"intValue": "5"},
                         "gen_ai.output.messages": attr(json.dumps([{"role": "assistant", "parts": [
                             {"type": "tool_call", "name": "<img src=x onerror=alert(3)>", "arguments": {"q": HOSTILE[2]}}]}]))}),
        otlp_span(span_id="c" * 16, parent="a" * 16, name="execute_tool", start=t0 + 2 * 10**9, end=t0 + 3 * 10**9,
                  attrs={"gen_ai.operation.name": attr("execute_tool"), "gen_ai.tool.name": attr("<script>tool</script>"),
                         "gen_ai.tool.call.arguments": attr(json.dumps({"a": HOSTILE[1]})),
                         "gen_ai.tool.call.result": attr(" ".join(HOSTILE)),
                         "error.type": attr("Bad<script>alert(4)</script>")}, status={"code": 2}),
    ]
    return ak.load_traces(write_lines(tmp_path / "evil.jsonl", [otlp_line(*spans)]))


def assert_inert(text: str) -> None:
    lowered = text.lower()
    assert "<script" not in lowered and "<img" not in lowered, text[:2000]
    assert "$x$" not in text or "mathjax_ignore" in text


def test_run_inspector_keeps_hostile_trace_text_inert(tmp_path):
    ts = hostile_trace(tmp_path)
    inspector = RunInspector(ts)
    assert inspector.current is not None
    for step_id in inspector.rows["step_id"]:
        inspector.select_step(step_id)
        assert_inert(inspector.step_view.value)
        assert "&lt;script&gt;" in inspector.step_view.value or "&lt;img" in inspector.step_view.value
    assert_inert(widget_html(inspector))
    texts = figure_texts(inspector.figure)
    assert "<script" not in texts and "<img" not in texts and "$x$" not in texts
    assert "&lt;script&gt;tool&lt;/script&gt;" in texts and "&#36;x&#36;" in texts
    # the header's cause is the tool, with its hostile error type escaped
    assert "&lt;script&gt;tool&lt;/script&gt;" in inspector.header.value and "<script" not in inspector.header.value
    # the HTML of every output sits where JupyterLab does not typeset dollar signs
    for value in (inspector.step_view.value, inspector.header.value, inspector.story.value, inspector.counts.value):
        assert value.startswith("<div class='tex2jax_ignore mathjax_ignore'>")
    # text search finds the hostile prompt and shows it escaped
    inspector.text.value = "onerror"
    assert "1 of 1 runs match" in inspector.counts.value


def test_run_inspector_on_third_party_files():
    """Files written by other projects: every run opens, every step can be selected, LLM steps show messages."""
    ts = ak.load_traces(ROOT / "tests" / "data" / "third_party" / "langfuse-framework-traces")
    inspector = RunInspector(ts, page_size=100)
    assert "13 of 13 runs match" in inspector.counts.value
    shown_messages = 0
    for _, run_id in inspector.picker.options:
        inspector.show(run_id)
        assert inspector.current == run_id and inspector.figure is not None
        assert len(inspector.steps.options) == ts.steps.filter(pl.col("run_id") == run_id).collect().height
        for _, step_id in inspector.steps.options:
            click_bar(inspector.figure, step_id)
            assert inspector.current_step == step_id
            shown_messages += "Input messages" in inspector.step_view.value
    assert shown_messages >= 15


def test_inventory_explorer_reranks_live():
    explorer = InventoryExplorer(ROOT / "agentops_kit" / "data" / "inventory.csv")
    before = explorer.scored["workflow"].to_list()
    for name in ("impact", "clarity", "data", "safety"):
        explorer.sliders[name].value = 0.0
    explorer.sliders["volume"].value = 1.0
    after = explorer.scored
    assert after["workflow"].to_list() != before
    automate = after.filter(pl.col("tier") == "automate first")["hours_per_week"].to_list()
    assert automate == sorted(automate, reverse=True)


def test_inventory_explorer_says_when_every_weight_is_zero_and_how_rank_works():
    explorer = InventoryExplorer(ROOT / "agentops_kit" / "data" / "inventory.csv")
    assert explorer.notice.value == ""
    assert "tier first" in widget_html(explorer) and "by score within a tier" in widget_html(explorer)
    for slider in explorer.sliders.values():
        slider.value = 0.0
    assert explorer.all_zero() and "Every weight is 0" in explorer.notice.value
    assert "volume 0.3" in explorer.notice.value  # the weights actually used are named
    explorer.sliders["safety"].value = 0.5
    assert explorer.notice.value == ""
    rank = explorer.scored.select("rank", "tier", "score")
    tiers = ["automate first", "shadow first", "not yet"]
    assert rank["tier"].to_list() == sorted(rank["tier"].to_list(), key=tiers.index)  # tier first, then score
