"""The run inspector in a real browser: JupyterLab on loopback, Debian's Chromium through Playwright. Filter to
failures, open a failed run, click its failing step on the waterfall and see its error, then an LLM call's
messages; every chart is taller than 200 px; no dollar sign is typeset as LaTeX. Screenshots: test-artifacts/."""

from __future__ import annotations

import json

import nbformat
import polars as pl

import agentops_kit as ak

from .conftest import ROOT, SAMPLE, TEMPLATES
from .lab_server import CHROMIUM, CHROMIUM_ARGS, jupyter_lab, run_all

ARTIFACTS = ROOT / "test-artifacts"

SETUP = f"""
import agentops_kit as ak
from agentops_kit.widgets import RunInspector
ts = ak.load_traces({str(SAMPLE / 'traces.otlp.jsonl.gz')!r}, mapping={str(TEMPLATES / 'mapping.yaml')!r},
                    pricing={str(TEMPLATES / 'pricing.yaml')!r}, labels={str(SAMPLE / 'labels.csv')!r})
result = ak.check_policy(ts, {str(TEMPLATES / 'policies')!r})
inspector = RunInspector(ts, policy_result=result)
inspector
"""
CHARTS = """
from IPython.display import HTML, display
from agentops_kit.analytics.cost_breakdown import cost_breakdown
from agentops_kit.analytics.latency import latency_by_agent
from agentops_kit.charts import cost_by_week, latency_distribution
from agentops_kit.rendering import no_math
display(HTML(no_math("<p id='dollars'>$0.0027 per successful run vs $2.75</p>")))
display(cost_by_week(cost_breakdown(ts)))
display(latency_distribution(latency_by_agent(ts)))
"""
INVENTORY = f"""
from agentops_kit.widgets import InventoryExplorer
InventoryExplorer({str(ROOT / 'agentops_kit' / 'data' / 'inventory.csv')!r})
"""


def write_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(CHARTS),
                nbformat.v4.new_code_cell(INVENTORY)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


def red_cause_bar(page):
    """The centre of the bar outlined as the failing cause (plotly draws it with a 2.5 px line)."""
    box = page.evaluate("""() => {
        for (const path of document.querySelectorAll('.js-plotly-plot .barlayer .point path')) {
            if (path.style.strokeWidth === '2.5px') { path.scrollIntoView({block: 'center'});
                const r = path.getBoundingClientRect();
                return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }
        }
        return null; }""")
    assert box, "no bar outlined as the cause"
    return box


def bar_of_step(page, trace_name):
    """The centre of the first bar of the legend entry ``trace_name`` (e.g. llm)."""
    return page.evaluate("""(name) => {
        const plot = document.querySelector('.js-plotly-plot');
        const index = plot.data.findIndex(t => t.name === name);
        const path = plot.querySelectorAll('.barlayer .trace')[index].querySelector('.point path');
        path.scrollIntoView({block: 'center'}); const r = path.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }""", trace_name)


CHART_TITLES = ("What the run did, step by step", "Cost by agent × model × tool, per ISO week",
                "How long runs take, per agent", "Workflow inventory: impact vs risk",
                "Score contributions per workflow")


def chart_heights(page, timeout_s: float = 90) -> dict[str, float]:
    """{chart title: height of its SVG in px} of every chart, scrolling the notebook top to bottom (JupyterLab
    renders only the cells near the view, so the charts are measured as they come into it)."""
    import time

    found: dict[str, float] = {}
    titles = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(found) < len(CHART_TITLES):
        for step in range(0, 40):
            seen = page.evaluate("""(at) => {
                const panel = document.querySelector('.jp-WindowedPanel-outer');
                panel.scrollTop = at * panel.clientHeight / 2;
                return [...document.querySelectorAll('.js-plotly-plot')].map(p => [
                    (p.querySelector('.gtitle') || {textContent: ''}).textContent,
                    p.querySelector('svg.main-svg').getBoundingClientRect().height]); }""", step)
            for title, height in seen:
                titles.add(title)
                for known in CHART_TITLES:
                    if title.startswith(known):  # noqa: SIM102
                        found[known] = max(found.get(known, 0), height)
            page.wait_for_timeout(250)
    print("chart titles seen:", titles)  # noqa: T201
    return found


def click(page, point):
    page.mouse.move(point["x"], point["y"])
    page.mouse.click(point["x"], point["y"])


def click_until(page, where, shown, tries: int = 3) -> None:
    """Click the point ``where()`` gives until ``shown`` appears. A click that lands while plotly redraws the
    waterfall (it does after each selection, later on a loaded machine) is lost, as a user's would be."""
    for attempt in range(tries):
        click(page, where())
        try:
            shown.wait_for(timeout=10_000)
            return
        except Exception:
            if attempt == tries - 1:
                raise


def test_inspect_a_failed_run_in_jupyterlab(tmp_path):
    from playwright.sync_api import sync_playwright

    ts = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                        pricing=TEMPLATES / "pricing.yaml", labels=SAMPLE / "labels.csv")
    runs, steps = ts.runs.collect(), ts.steps.collect()
    failures = runs.filter(pl.col("outcome") == "failure").sort(["started_at", "run_id"], descending=[True, False])
    root = tmp_path / "lab"
    root.mkdir()
    write_notebook(root / "inspect.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    with jupyter_lab(root, tmp_path) as (base, token), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        try:
            page.goto(f"{base}/lab/tree/inspect.ipynb?token={token}")
            run_all(page)
            page.get_by_text(f"{runs.height} of {runs.height} runs match").wait_for(timeout=120_000)
            outcome = page.locator(".widget-dropdown", has=page.locator("label", has_text="outcome")).locator("select")
            assert outcome.locator("option:checked").inner_text() == "all"  # not blank
            outcome.select_option(label="failure")
            page.get_by_text(f"{failures.height} of {runs.height} runs match").wait_for(timeout=30_000)
            # open the second failed run of the table
            second = failures["run_id"][1]
            page.locator(".widget-hbox", has=page.locator(f"text={second}")).get_by_role("button").click()
            header = page.locator(".widget-html", has=page.locator("h3", has_text="Run")).first
            header.get_by_text(second).wait_for(timeout=30_000)
            page.locator(".widget-hbox", has=page.locator(".aok-current", has_text=second)).wait_for(timeout=10_000)
            mine = steps.filter(pl.col("run_id") == second)
            failing = mine.filter(pl.col("error").is_not_null() & (pl.col("kind") != "agent")).row(0, named=True)
            assert f"Failed at {failing['kind']} step “{failing['tool_name']}”" in header.inner_text()
            # step away from the failing step, then click its red bar on the waterfall
            page.locator(".widget-select select").select_option(index=0)
            step_view = page.locator(".aok-step")
            step_view.locator("h3", has_text="invoke_agent").wait_for(timeout=10_000)
            page.locator(".js-plotly-plot .barlayer .point path").first.wait_for(timeout=30_000)
            click_until(page, lambda: red_cause_bar(page), step_view.locator("h3", has_text=failing["name"]))
            page.wait_for_function("""() => {  // the waterfall redrawn with the chosen step's bar opaque
                const paths = [...document.querySelectorAll('.js-plotly-plot .barlayer .point path')];
                const cause = paths.find(p => p.style.strokeWidth === '2.5px');
                return cause && cause.style.opacity === '1' && paths.some(p => p.style.opacity === '0.55'); }""",
                                   timeout=30_000)
            text = step_view.inner_text()
            assert f"Error: {failing['error']}" in text and "Arguments" in text
            assert json.loads(failing["input"]) == json.loads(text.split("Arguments", 1)[1].split("Result", 1)[0])
            page.screenshot(path=str(ARTIFACTS / "run-inspector-failing-step.png"), full_page=True)
            # the LLM call's bar: its chat, role by role
            click_until(page, lambda: bar_of_step(page, "llm"), step_view.get_by_text("Input messages"))
            llm = mine.filter(pl.col("kind") == "llm").sort("started_at").row(0, named=True)
            first_user = json.loads(llm["input"])[0]["parts"][0]["content"]
            assert step_view.locator(".aok-msg.aok-user").first.inner_text().startswith("USER")
            assert first_user in step_view.inner_text()
            page.screenshot(path=str(ARTIFACTS / "run-inspector-messages.png"), full_page=True)
            # every chart: waterfall, cost, latency and the inventory's two, each taller than 200 px
            heights = chart_heights(page)
            assert set(heights) == set(CHART_TITLES) and min(heights.values()) > 200, heights
            # no dollar amount typeset as LaTeX, anywhere
            dollars = page.locator("#dollars")
            dollars.scroll_into_view_if_needed()
            page.wait_for_timeout(1000)  # let a typesetter, if one ran, replace the text
            assert dollars.inner_text() == "$0.0027 per successful run vs $2.75"
            assert page.locator("mjx-container").count() == 0
            header.scroll_into_view_if_needed()
            assert "cost $" in header.inner_text()
            page.screenshot(path=str(ARTIFACTS / "run-inspector.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "run-inspector-failure.png"), full_page=True)
            errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
            print("errors shown in the notebook:", errors)  # noqa: T201 - shown by pytest on failure
            raise
        finally:
            browser.close()
