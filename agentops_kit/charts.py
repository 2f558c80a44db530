"""Plotly figures. Plotly is imported on first use so that the library and the CLI start fast."""

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
            name=tier, text=part["workflow"].to_list(), textposition="top center",
            marker={"size": [max(8.0, h ** 0.5 * 4) for h in part["hours_per_week"].to_list()], "color": colour,
                    "opacity": 0.7, "line": {"width": 1, "color": "white"}},
            customdata=part.select("hours_per_week", "score").rows(),
            hovertemplate="%{text}<br>impact %{y} · risk %{x}<br>%{customdata[0]:.1f} h/week · score %{customdata[1]:.1f}<extra></extra>",
        ))
    fig.update_layout(title="Workflow inventory: impact vs risk (bubble = human hours/week at stake)",
                      xaxis={"title": "risk if wrong (1-5)", "range": [0.5, 5.5], "dtick": 1},
                      yaxis={"title": "business impact (1-5)", "range": [0.5, 5.5], "dtick": 1},
                      legend_title="tier", template="plotly_white")
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


# ---- analytics results -------------------------------------------------------------------------------
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
SEVERITY_COLOURS = dict(zip((s.value for s in Severity), ("#67001f", "#d6604d", "#f4a582", "#92c5de")))


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
