"""The run inspector: pick one run and see what it saw, what it called, what it cost, which rules it broke."""

from __future__ import annotations

import html

import ipywidgets as w
import polars as pl

from ..analytics.definitions import impacted_runs
from ..model import Outcome
from ..rendering import table


def _clip(text: str | None, limit: int = 400) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"… (+{len(text) - limit} chars)"


def seconds(value) -> str:
    return "–" if value is None else f"{value:.1f} s"


def timeline_figure(steps: pl.DataFrame):
    """Steps in order on a timeline (by index when the trace has no times)."""
    import plotly.graph_objects as go

    colours = {"llm": "#7570b3", "tool": "#1b9e77", "action": "#d95f02", "approval": "#e7298a",
               "retrieval": "#66a61e", "agent": "#999999", "other": "#cccccc"}
    fig = go.Figure()
    has_time = steps["started_at"].null_count() < steps.height
    t0 = steps["started_at"].min() if has_time else None
    for i, s in enumerate(steps.iter_rows(named=True)):
        if has_time and s["started_at"] is not None:
            start = (s["started_at"] - t0).total_seconds()
            length = max(((s["ended_at"] or s["started_at"]) - s["started_at"]).total_seconds(), 0.05)
        else:
            start, length = float(i), 0.8
        label = s["tool_name"] or s["model"] or s["name"] or s["kind"]
        fig.add_trace(go.Bar(y=[f"{i:02d} {label}"], x=[length], base=[start], orientation="h", showlegend=False,
                             marker_color=colours.get(s["kind"], "#cccccc"), hovertext=f"{s['kind']}: {label}"))
    fig.update_layout(title="Timeline", xaxis_title="seconds since the run started" if has_time else "step order",
                      yaxis={"autorange": "reversed"}, template="plotly_white", height=max(240, 24 * steps.height + 90))
    return fig


class RunInspector(w.VBox):
    def __init__(self, ts, policy_result=None):
        self.ts = ts
        self.runs = ts.runs.collect()
        self.violations = policy_result.violations if policy_result is not None else None
        self.impacted = set(impacted_runs(ts.labels).collect()["run_id"].to_list())
        self.agent = w.Dropdown(description="agent", options=[("all", None)] + [(a, a) for a in sorted(self.runs["agent"].unique().to_list())])
        self.outcome = w.Dropdown(description="outcome", options=[("all", None)] + [(o.value, o.value) for o in Outcome])
        self.only_violations = w.Checkbox(description="policy violation", value=False, indent=False)
        self.only_impact = w.Checkbox(description="customer impact", value=False, indent=False)
        self.run_id = w.Text(description="run id", placeholder="paste a run id")
        self.picker = w.Select(description="runs", rows=8, layout=w.Layout(width="100%"))
        self.view = w.Output()
        for control in (self.agent, self.outcome, self.only_violations, self.only_impact):
            control.observe(lambda _: self._filter(), names="value")
        self.run_id.observe(lambda _: self._paste(), names="value")
        self.picker.observe(lambda _: self.show(self.picker.value), names="value")
        super().__init__([w.HBox([self.agent, self.outcome, self.only_violations, self.only_impact]), self.run_id,
                          self.picker, self.view])
        self._filter()

    def _filter(self) -> None:
        runs = self.runs
        if self.agent.value:
            runs = runs.filter(pl.col("agent") == self.agent.value)
        if self.outcome.value:
            runs = runs.filter(pl.col("outcome") == self.outcome.value)
        if self.only_violations.value and self.violations is not None:
            runs = runs.filter(pl.col("run_id").is_in(self.violations["run_id"].unique().to_list()))
        if self.only_impact.value:
            runs = runs.filter(pl.col("run_id").is_in(list(self.impacted)))
        runs = runs.sort("started_at", descending=True, nulls_last=True).head(500)
        self.picker.options = [(f"{r['started_at']:%Y-%m-%d %H:%M} · {r['agent']} · {r['outcome']} · {r['run_id'][:16]}"
                                if r["started_at"] else f"{r['agent']} · {r['outcome']} · {r['run_id']}", r["run_id"])
                               for r in runs.iter_rows(named=True)]

    def _paste(self) -> None:
        run_id = self.run_id.value.strip()
        if run_id:
            self.show(run_id)

    def show(self, run_id: str | None) -> None:
        """Render one run into the widget: its story as HTML, then its timeline chart."""
        from IPython.display import HTML, display

        self.current = run_id
        self.view.clear_output()
        if run_id is None:
            return
        with self.view:
            display(HTML(self.render(run_id)))
            steps = self._steps(run_id)
            if steps.height:
                display(timeline_figure(steps))

    def _steps(self, run_id: str) -> pl.DataFrame:
        return (self.ts.steps.filter(pl.col("run_id") == run_id)
                .sort(["started_at", "ended_at", "step_id"], descending=[False, True, False], nulls_last=True).collect())

    def render(self, run_id: str) -> str:
        """The whole story of one run, as escaped HTML."""
        esc = html.escape
        found = self.runs.filter(pl.col("run_id") == run_id)
        if not found.height:
            return f"<p style='color:#b2182b'>No run with id <code>{esc(run_id)}</code>.</p>"
        run = found.row(0, named=True)
        steps = self._steps(run_id)
        root = steps.filter(pl.col("parent_id").is_null())
        saw = root["input"][0] if root.height else None
        sources = self.ts.sources.filter(pl.col("run_id") == run_id).collect()
        labels = self.ts.labels.filter(pl.col("run_id") == run_id).collect()
        calls = steps.filter(pl.col("kind").is_in(["tool", "action", "approval", "retrieval"])).select(
            "kind", "tool_name", "name", "status", pl.col("input").map_elements(_clip, return_dtype=pl.String).alias("parameters"),
            pl.col("output").map_elements(_clip, return_dtype=pl.String).alias("result"), "approval_decision", "approver")
        cost = steps.filter(pl.col("cost_source") != "none").group_by("kind", "model").agg(
            pl.len().alias("steps"), pl.col("cost_usd").sum(), pl.col("cost_source").unique().str.join(", "))
        broke = (self.violations.filter(pl.col("run_id") == run_id).select("rule", "severity", "detail", "step_id")
                 if self.violations is not None else None)
        cost_text = "unknown" if run["cost_usd"] is None else f"${run['cost_usd']:.5f}"
        return (
            f"<h3>Run <code>{esc(run_id)}</code></h3>"
            f"<p><b>{esc(run['agent'])}</b> {esc(run['agent_version'] or '')} · workflow {esc(run['workflow'])} · "
            f"{esc(run['mode'])} · <b>{esc(run['outcome'])}</b>"
            f"{' (' + esc(run['error_type']) + ')' if run['error_type'] else ''} · "
            f"{seconds(run['duration_s'])} · cost {cost_text}</p>"
            f"<h4>What it saw</h4><pre style='white-space:pre-wrap'>{esc(_clip(saw, 2000) or '–')}</pre>"
            f"<h4>Sources it used</h4>{table(sources.drop('run_id'), caption='retrieved documents and versions')}"
            f"<h4>What it called</h4>{table(calls, max_rows=200, caption='tool calls, approvals and retrievals, in order')}"
            f"<h4>What it cost</h4>{table(cost, caption='by step kind and model')}"
            f"<h4>Policy rules it broke</h4>{table(broke, caption='violations') if broke is not None else '<p><i>no policy given</i></p>'}"
            f"<h4>Labels</h4>{table(labels.drop('run_id'), caption='labels')}"
        )
