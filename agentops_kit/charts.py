"""Plotly figures. Plotly is imported on first use so that the library and the CLI start fast."""

from __future__ import annotations

import polars as pl

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
