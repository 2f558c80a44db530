"""Plotly figures. Plotly is imported on first use so that the library and the CLI start fast.

Every figure sets its height: in JupyterLab a figure without one fills its container's height, and inside a
widget whose height is 100 % of nothing it collapses to a few pixels."""

from __future__ import annotations

import html

import polars as pl

from .model import Severity

TIER_COLOURS = {"automate first": "#1b9e77", "shadow first": "#d95f02", "not yet": "#7570b3"}


def inventory_matrix(scored: pl.DataFrame):
    """Impact vs risk: bubble size = human hours per week at stake, colour = tier."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for tier, colour in TIER_COLOURS.items():
        part = scored.filter(pl.col("tier") == tier)
        if not part.height:
            continue
        fig.add_trace(go.Scatter(
            x=part["risk_if_wrong"].to_list(), y=part["business_impact"].to_list(), mode="markers+text",
            name=tier, text=[plot_text(n) for n in part["workflow"].to_list()], textposition="top center",
            marker={"size": [max(8.0, h ** 0.5 * 4) for h in part["hours_per_week"].to_list()], "color": colour,
                    "opacity": 0.7, "line": {"width": 1, "color": "white"}},
            customdata=part.select("hours_per_week", "score").rows(),
            hovertemplate="%{text}<br>impact %{y} · risk %{x}<br>%{customdata[0]:.1f} h/week · score %{customdata[1]:.1f}<extra></extra>",
        ))
    fig.update_layout(title="Workflow inventory: impact vs risk (bubble = human hours/week at stake)",
                      xaxis={"title": "risk if wrong (1-5)", "range": [0.5, 5.5], "dtick": 1},
                      yaxis={"title": "business impact (1-5)", "range": [0.5, 5.5], "dtick": 1},
                      legend_title="tier", template="plotly_white", height=520)  # explicit: see charts' note
    return fig


def inventory_contributions(scored: pl.DataFrame):
    """What each factor adds to each workflow's score, so the ranking can be argued with."""
    import plotly.graph_objects as go

    order = scored.sort("score")
    fig = go.Figure()
    for factor in ("volume", "impact", "clarity", "data", "safety"):
        fig.add_trace(go.Bar(y=order["workflow"].to_list(), x=order[f"contrib_{factor}"].to_list(),
                             name=factor, orientation="h"))
    fig.update_layout(barmode="stack", title="Score contributions per workflow (0-100)", xaxis_title="score",
                      template="plotly_white", height=max(300, 32 * order.height + 120))
    return fig


# ---- text inside figures --------------------------------------------------------------------------------------

def plot_text(value) -> str:
    """Trace text made inert for plotly: its labels and hovertexts read a subset of HTML (escaped here), and a
    text between two dollar signs would be typeset as LaTeX (plotly decodes &#36; back to a plain $)."""
    return html.escape("" if value is None else str(value), quote=False).replace("$", "&#36;").replace("\n", "<br>")


def _seconds(value) -> str:
    if value is None:
        return "no time recorded"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _dollars(value, source) -> str:
    if value is None:
        return "cost unknown" if source == "unknown" else "no cost"
    return f"${value:.6f}" if value < 0.01 else f"${value:,.4f}"


# ---- one run as a waterfall -----------------------------------------------------------------------------------

KIND_COLOURS = {"agent": "#9e9e9e", "llm": "#7570b3", "tool": "#1b9e77", "action": "#d95f02",
                "approval": "#e7298a", "retrieval": "#66a61e", "memory": "#e6ab02", "other": "#bdbdbd"}
ERROR_COLOUR = "#d7301f"
WATERFALL_ROW_PX = 26


def waterfall(rows: pl.DataFrame, title: str = "What the run did, step by step"):
    """The run as a tree on a time axis (rows from ``inspection.run_tree.waterfall_rows``): one bar per step,
    children indented under their parent; failed steps in red, the failing cause outlined; approval waits
    hatched. Each bar carries its ``step_id`` as customdata, so a click can open the step."""
    import plotly.graph_objects as go

    n = rows.height
    timed = rows["offset_s"].drop_nulls()
    span = max(float((rows["offset_s"] + rows["duration_s"].fill_null(0)).max() or 0), 0.001) if timed.len() else float(n)
    fig = go.Figure()
    frame = rows.with_columns(
        pl.when(pl.col("is_error")).then(pl.lit("error")).otherwise(pl.col("kind")).alias("_group"),
        pl.col("offset_s").fill_null(0.0).alias("_base"),
        pl.max_horizontal(pl.col("duration_s").fill_null(0.0), pl.lit(span * 0.004)).alias("_width"),
    )
    order = [k for k in KIND_COLOURS if k in frame["_group"].to_list()] + (["error"] if rows["is_error"].any() else [])
    for group in order:
        part = frame.filter(pl.col("_group") == group)
        texts, hovers = [], []
        for r in part.iter_rows(named=True):
            facts = [_seconds(r["duration_s"])]
            if r["tokens"] is not None:
                facts.append(f"{r['tokens']:,} tok")
            if r["cost_usd"] is not None or r["cost_source"] == "unknown":
                facts.append(_dollars(r["cost_usd"], r["cost_source"]))
            if r["kind"] == "approval":
                facts[0] = (f"waited {_seconds(r['duration_s'])} for approval"
                            + (f", {r['approval_decision']}" if r["approval_decision"] else "")
                            + (f" by {r['approver']}" if r["approver"] else ""))
            if r["is_cause"]:
                facts.insert(0, "✖ cause")
            texts.append(plot_text(" · ".join(facts)))
            hover = [f"<b>{plot_text(r['label'])}</b> ({plot_text(r['kind'])})", plot_text(r["name"]),
                     f"starts at {_seconds(r['offset_s'])} · takes {_seconds(r['duration_s'])}"]
            if r["error"]:
                hover.append(f"error: {plot_text(r['error'][:300])}")
            if r["orphan"]:
                hover.append("its parent span never arrived")
            hovers.append("<br>".join(hover))
        colour = ERROR_COLOUR if group == "error" else KIND_COLOURS[group]
        fig.add_trace(go.Bar(
            y=part["row"].to_list(), x=part["_width"].to_list(), base=part["_base"].to_list(), orientation="h",
            name=group, customdata=part["step_id"].to_list(), text=texts, textposition="outside", width=0.7,
            cliponaxis=False, hovertext=hovers, hoverinfo="text",
            marker={"color": colour,
                    "line": {"color": ["#000000" if c else colour for c in part["is_cause"].to_list()],
                             "width": [2.5 if c else 0.5 for c in part["is_cause"].to_list()]},
                    "pattern": {"shape": ["/" if k == "approval" else "" for k in part["kind"].to_list()]}},
        ))
    ticks = [plot_text("\u2003" * d + ("└ " if d else "") + (label or "")[:48])
             for d, label in zip(rows["depth"].to_list(), rows["label"].to_list(), strict=True)]
    fig.update_layout(
        title=title, template="plotly_white", barmode="overlay", bargap=0.25, clickmode="event",
        height=max(260, WATERFALL_ROW_PX * n + 130), margin={"l": 10, "r": 30, "t": 70, "b": 50},
        xaxis={"title": "seconds since the run started" if timed.len() else "no times recorded: step order",
               "range": [0, span * 1.45], "zeroline": True},
        yaxis={"tickvals": rows["row"].to_list(), "ticktext": ticks, "autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom"},
    )
    return fig


# ---- cost and latency across agents ---------------------------------------------------------------------------

def cost_by_week(breakdown: pl.DataFrame, top: int = 12):
    """Known cost per week stacked by agent · model or tool (from ``analytics.cost_breakdown``), and under it
    the calls whose cost is unknown, as their own bars and counts. Beyond the ``top`` costliest series the rest
    is one "other" series, named with how many it holds."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = breakdown.with_columns(pl.format("{} · {}", "agent", "item").alias("series"))
    weeks = frame["week"].unique().sort().to_list()
    ranked = (frame.group_by("series").agg(pl.col("cost_usd").sum()).sort(["cost_usd", "series"], descending=[True, False])
              ["series"].to_list())
    keep = set(ranked[:top])
    rest = len(ranked) - len(keep)
    frame = frame.with_columns(pl.when(pl.col("series").is_in(list(keep))).then(pl.col("series"))
                               .otherwise(pl.lit(f"other ({rest} series)")).alias("series"))
    known = frame.group_by("week", "series").agg(pl.col("cost_usd").sum(), pl.col("steps").sum())
    unknown = (frame.filter(pl.col("unknown_cost_steps") > 0).with_columns(pl.format("{} · {}", "agent", "item").alias("series"))
               .group_by("week", "series").agg(pl.col("unknown_cost_steps").sum()))
    total_unknown = int(frame["unknown_cost_steps"].sum() or 0)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.1,
                        subplot_titles=("known cost (USD)",
                                        f"calls of unknown cost: {total_unknown} (no price for their model)"))
    for series in [s for s in ranked[:top]] + ([f"other ({rest} series)"] if rest else []):
        part = known.filter(pl.col("series") == series).sort("week")
        fig.add_trace(go.Bar(x=part["week"].to_list(), y=part["cost_usd"].to_list(), name=plot_text(series),
                             customdata=part["steps"].to_list(), legendgroup="known",
                             hovertemplate=plot_text(series) + "<br>%{x}: &#36;%{y:.4f} over %{customdata} calls"
                             "<extra></extra>"), row=1, col=1)
    for series in unknown["series"].unique().sort().to_list():
        part = unknown.filter(pl.col("series") == series).sort("week")
        fig.add_trace(go.Bar(x=part["week"].to_list(), y=part["unknown_cost_steps"].to_list(),
                             name=plot_text(f"unknown: {series}"), marker={"pattern": {"shape": "x"}},
                             text=part["unknown_cost_steps"].to_list(), textposition="outside", legendgroup="unknown",
                             hovertemplate=plot_text(series) + "<br>%{x}: %{y} calls of unknown cost<extra></extra>"),
                      row=2, col=1)
    if not total_unknown:
        fig.add_annotation(text="none: every call's cost is known", xref="x2 domain", yref="y2 domain", x=0.5, y=0.5,
                           showarrow=False, font={"color": "#555"})
    fig.update_layout(barmode="stack", template="plotly_white", height=620,
                      title="Cost by agent × model × tool, per ISO week", legend={"font": {"size": 10}})
    fig.update_xaxes(categoryorder="array", categoryarray=weeks)
    fig.update_yaxes(title_text="USD", tickprefix="&#36;", row=1, col=1)
    fig.update_yaxes(title_text="calls", rangemode="tozero", row=2, col=1)
    return fig


def latency_distribution(stats: pl.DataFrame):
    """Run duration per agent as boxes (from ``analytics.latency_by_agent``): whiskers at p5 and p95, the box
    from p25 to p75, the line at the median; each agent's label counts its runs and those of unknown duration."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in stats.iter_rows(named=True):
        label = plot_text(f"{r['agent']} ({r['runs']} runs" + (f", {r['unknown_duration_runs']} of unknown duration"
                                                             if r["unknown_duration_runs"] else "") + ")")
        if r["p50"] is None:
            continue
        fig.add_trace(go.Box(name=label, x=[label], q1=[r["p25"]], median=[r["p50"]], q3=[r["p75"]],
                             lowerfence=[r["p05"]], upperfence=[r["p95"]], boxpoints=False, showlegend=False))
        fig.add_trace(go.Scatter(x=[label, label], y=[r["min"], r["max"]], mode="markers", showlegend=False,
                                 marker={"symbol": "line-ew-open", "size": 14, "color": "#555"},
                                 hovertemplate="%{y:.2f} s (min / max)<extra></extra>"))
    fig.update_layout(title="How long runs take, per agent (box p25–p75, whiskers p5–p95, ticks min and max)",
                      yaxis_title="seconds", template="plotly_white", height=440)
    return fig


# ---- analytics results -------------------------------------------------------------------------------
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
SEVERITY_COLOURS = dict(zip((s.value for s in Severity), ("#67001f", "#d6604d", "#f4a582", "#92c5de"), strict=True))


def _text(values) -> list[str]:
    """Names from traces as plotly text: escaped, since plotly reads a few HTML tags (links among them) in it."""
    return [html.escape(str(v)) for v in values]


def _groups(frame: pl.DataFrame, dims: list[str]) -> pl.Series:
    """One label per row: the values of ``dims`` joined, or "all runs" without any."""
    if not dims:
        return pl.Series("group", ["all runs"] * frame.height)
    return frame.select(pl.concat_str([pl.col(d).cast(pl.String).fill_null("–") for d in dims], separator=" / ")
                        .alias("group")).to_series()


def metrics_trend(metrics: pl.DataFrame, by: list[str]):
    """Completion, escalation and cost per successful run, week by week: a line per group of the other dimensions."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = metrics.with_columns(_groups(metrics, [d for d in by if d != "week"])).sort("group", "week")
    fig = make_subplots(rows=1, cols=3, subplot_titles=("completion rate", "escalation rate",
                                                        "cost per successful run (USD)"))
    for i, group in enumerate(frame["group"].unique(maintain_order=True).to_list()):
        part = frame.filter(pl.col("group") == group)
        for col, y in enumerate(("completion_rate", "escalation_rate", "cost_per_successful_run"), start=1):
            fig.add_trace(go.Scatter(x=part["week"].to_list(), y=part[y].to_list(), name=_text([group])[0],
                                     legendgroup=str(i), showlegend=col == 1, mode="lines+markers",
                                     line={"color": PALETTE[i % len(PALETTE)]}), row=1, col=col)
    fig.update_layout(title="Week by week", template="plotly_white", height=380)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return fig


def metrics_bars(metrics: pl.DataFrame, by: list[str]):
    """Completion, escalation and customer-impact rates side by side, per group."""
    import plotly.graph_objects as go

    groups = _text(_groups(metrics, by).to_list())
    fig = go.Figure()
    for col, name in (("completion_rate", "completion"), ("escalation_rate", "escalation"),
                      ("customer_impact_rate", "customer impact")):
        fig.add_trace(go.Bar(x=groups, y=metrics[col].to_list(), name=name))
    fig.update_layout(title="Rates per group", barmode="group", template="plotly_white", height=420,
                      yaxis={"tickformat": ".0%", "range": [0, 1.05]})
    return fig


def violations_by_rule(violations: pl.DataFrame):
    """Policy violations per rule, stacked by severity."""
    import plotly.graph_objects as go

    counts = violations.group_by("rule", "severity").len().sort("rule")
    fig = go.Figure()
    for severity, colour in SEVERITY_COLOURS.items():
        part = counts.filter(pl.col("severity") == severity)
        if part.height:
            fig.add_trace(go.Bar(x=_text(part["rule"]), y=part["len"].to_list(), name=severity,
                                 marker={"color": colour}))
    fig.update_layout(title="Policy violations by rule", barmode="stack", template="plotly_white", height=380,
                      yaxis_title="violations", legend={"traceorder": "normal"})
    return fig


def error_budget_consumed(budgets: pl.DataFrame):
    """The share of each error budget spent; past the line at 100 % the budget is breached."""
    import plotly.graph_objects as go

    colours = ["#b2182b" if b else "#1b7837" for b in budgets["breached"].to_list()]
    fig = go.Figure(go.Bar(y=_text(budgets["target"]), x=budgets["consumed"].to_list(), orientation="h",
                           marker={"color": colours}))
    fig.add_vline(x=1.0, line_dash="dash", line_color="#444")
    fig.update_layout(title="Error budget consumed", template="plotly_white", xaxis={"tickformat": ".0%"},
                      height=max(240, 48 * budgets.height + 140))
    return fig


def shadow_confusion(confusion: pl.DataFrame):
    """Runs by the agent's recommendation (rows) and the human's decision (columns)."""
    import plotly.graph_objects as go

    decisions = [c for c in confusion.columns if c != "recommendation"]
    z = confusion.select(decisions).rows() if decisions else []
    fig = go.Figure(go.Heatmap(z=z, x=_text(decisions), y=_text(confusion["recommendation"]), colorscale="Greens",
                               texttemplate="%{z}", hovertemplate="agent %{y} · human %{x}: %{z} runs<extra></extra>"))
    fig.update_layout(title="Shadow mode: agent recommendation vs human decision", template="plotly_white",
                      xaxis_title="human decision", yaxis_title="agent recommendation", height=420)
    return fig
