"""WeeklyReview: everything the weekly report shows, computed once from the traces and the config files,
rendered as HTML sections (for the notebook and its HTML export), a markdown digest and a PNG chart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..analytics.error_budget import error_budget
from ..analytics.impact import customer_impact_errors
from ..analytics.metrics import weekly_metrics
from ..analytics.policy_check import SEVERITY_ORDER, check_policy
from ..analytics.readiness import readiness
from ..analytics.redteam import production
from ..load import load_traces
from ..rendering import esc, money, pct, signed, table
from ..traceset import TraceSet
from ..weeks import iso_week, week_bounds
from .practices import Practices


@dataclass
class WeeklyReview:
    ts: TraceSet
    week: str
    metrics: pl.DataFrame  # agent × week over the trend window
    headline: pl.DataFrame  # agent rows of the week
    budgets: pl.DataFrame | None
    violations: pl.DataFrame | None
    impact: pl.DataFrame
    slowest: pl.DataFrame
    most_expensive: pl.DataFrame
    cost_breakdown: pl.DataFrame
    readiness: pl.DataFrame | None
    readiness_changes: pl.DataFrame | None
    rejected: pl.DataFrame
    summary: dict = field(default_factory=dict)
    practices: Practices | None = None  # quality floors, red team, approval gates, provenance (practices.py)

    # ---- building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, traces, week: str | None = None, mapping=None, pricing=None, labels=None, policies=None,
              readiness_file=None, error_budget_file=None, baselines=None, policy_tests=None, agents=None,
              weeks_back: int = 8, quality_file=None, approvals_db=None) -> WeeklyReview:
        ts = load_traces(traces, mapping=mapping, pricing=pricing, labels=labels)
        if agents:
            ts = ts.filter_runs(pl.col("agent").is_in(list(agents)))
        if week is None:
            week = ts.runs.select(iso_week().max()).collect().item()
            if week is None:
                raise ValueError("no run has a start time: pass the week to report on")
        start, end = week_bounds(week)
        metrics = weekly_metrics(ts, by=("agent", "week"), baselines=baselines, quality=quality_file)
        first = week_bounds(week)[0] - dt.timedelta(weeks=weeks_back - 1)
        window = [w for w in metrics["week"].unique().to_list() if first <= week_bounds(w)[0] <= start]
        metrics = metrics.filter(pl.col("week").is_in(window)).sort("agent", "week")
        headline = metrics.filter(pl.col("week") == week)
        in_week = (pl.col("started_at") >= start) & (pl.col("started_at") < end) & production()
        week_ts = ts.filter_runs(in_week)
        as_of = end - dt.timedelta(microseconds=1)
        budgets = error_budget(ts, error_budget_file, as_of=as_of) if error_budget_file else None
        violations = check_policy(week_ts, policies, as_of=as_of).violations if policies else None
        runs = week_ts.runs.collect()
        cols = ["run_id", "agent", "started_at", "outcome", "duration_s", "cost_usd", "tool_calls"]
        ready = changes = None
        if readiness_file:
            kw = dict(policies=policies, baselines=baselines, policy_tests=policy_tests, mapping=mapping, quality=quality_file)
            now = readiness(ts, readiness_file, as_of=as_of, **kw)
            before = readiness(ts, readiness_file, as_of=as_of - dt.timedelta(weeks=1), **kw)
            ready = now.lines
            changes = now.verdicts().join(before.verdicts().select("agent", verdict_last_week="verdict"),
                                          on="agent", how="left").select("agent", "verdict", "verdict_last_week", "open_items")
        steps = week_ts.steps.filter(pl.col("cost_usd").is_not_null() & (pl.col("cost_source") != "none"))
        breakdown = pl.concat([
            steps.filter(pl.col("kind") == "llm").group_by(pl.col("model").alias("item"))
            .agg(pl.col("cost_usd").sum(), pl.len().alias("calls")).with_columns(pl.lit("model").alias("by")),
            steps.filter(pl.col("kind").is_in(["tool", "action"])).group_by(pl.col("tool_name").alias("item"))
            .agg(pl.col("cost_usd").sum(), pl.len().alias("calls")).with_columns(pl.lit("tool").alias("by")),
        ]).select("by", "item", "calls", "cost_usd").sort("cost_usd", descending=True).collect()
        return cls(
            ts=ts, week=week, metrics=metrics, headline=headline, budgets=budgets, violations=violations,
            impact=customer_impact_errors(week_ts),
            slowest=runs.sort("duration_s", descending=True, nulls_last=True).head(10).select(cols),
            most_expensive=runs.sort("cost_usd", descending=True, nulls_last=True).head(10).select(cols),
            cost_breakdown=breakdown, readiness=ready, readiness_changes=changes,
            rejected=ts.rejected.collect(), summary=ts.summary(),
            practices=Practices.build(ts, week, policies=policies, quality=quality_file, readiness_file=readiness_file,
                                      approvals=approvals_db, weeks_back=weeks_back, metrics=metrics),
        )

    # ---- HTML sections -----------------------------------------------------------------------------
    def headline_html(self) -> str:
        cards = []
        budget = {} if self.budgets is None else {r["target"].removeprefix("agent "): r for r in self.budgets.iter_rows(named=True)}
        for r in self.headline.iter_rows(named=True):
            b = budget.get(r["agent"])
            budget_text = "no budget set" if b is None else (
                f"<span class='{'agentops-bad' if b['breached'] else 'agentops-good'}'>{pct(b['consumed'])} of the {b['window_days']}-day error budget</span>")
            cps = r["cost_per_successful_run"]
            cards.append(
                f"<div class='agentops-kpi'><div><b>{esc(r['agent'])}</b> — {r['runs']} runs</div>"
                f"<div class='v'>{pct(r['completion_rate'])}</div><div class='d'>completion "
                f"{signed(r.get('completion_rate_wow'))} w/w</div>"
                f"<div>escalation {pct(r['escalation_rate'])} <span class='d'>{signed(r.get('escalation_rate_wow'))}</span></div>"
                f"<div>customer-impact errors {r['customer_impact_errors']} · {budget_text}</div>"
                f"<div>time saved {hours(r['time_saved_hours'])}</div>"
                f"<div>cost / successful run {'unknown' if cps is None else money(cps)}"
                f"{unknown_note(r['cost_unknown_runs'])}</div></div>")
        return f"<h3>Week {esc(self.week)}</h3><div class='agentops-kpis'>{''.join(cards)}</div>"

    def section(self, name: str) -> str:
        frames = {
            "headline_table": (self.headline.select(
                "agent", "runs", "completion_rate", "completion_rate_wow", "escalation_rate", "escalation_rate_wow",
                "customer_impact_errors", "time_saved_hours", "cost_usd", "cost_unknown_runs",
                "cost_per_successful_run", "cost_per_successful_run_wow", "time_saved_formula"), "Headline numbers per agent"),
            "error_budget": (None if self.budgets is None else self.budgets.drop("window_start", "as_of"),
                             f"Error budgets over the window that ends with {self.week}"),
            "violations": (None if self.violations is None else self.violations, "Policy violations this week"),
            "impact": (self.impact, "Customer-impact errors this week"),
            "slowest": (self.slowest, "Slowest runs"),
            "expensive": (self.most_expensive, "Most expensive runs"),
            "cost_breakdown": (self.cost_breakdown, "Cost by model and tool"),
            "readiness": (None if self.readiness is None else self.readiness.drop("definition"), "Go / no-go checklist"),
            "readiness_changes": (self.readiness_changes, "Go / no-go against last week"),
            "rejected": (self.rejected, "Rejected input records"),
        }
        frame, caption = frames[name]
        if frame is None:
            return f"<p><i>{esc(caption)}: not configured</i></p>"
        return table(frame, caption=caption)

    # ---- figures -----------------------------------------------------------------------------------
    def trend_figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=3, subplot_titles=("completion rate", "escalation rate", "cost per successful run (USD)"))
        for i, agent in enumerate(self.metrics["agent"].unique(maintain_order=True).to_list()):
            part = self.metrics.filter(pl.col("agent") == agent)
            for col, y in enumerate(("completion_rate", "escalation_rate", "cost_per_successful_run"), start=1):
                fig.add_trace(go.Scatter(x=part["week"].to_list(), y=part[y].to_list(), name=agent, legendgroup=agent,
                                         showlegend=col == 1, mode="lines+markers", line={"color": _colour(i)}), row=1, col=col)
        fig.update_layout(title=f"Trends over the last {self.metrics['week'].n_unique()} weeks", template="plotly_white", height=380)
        fig.update_yaxes(tickformat=".0%", row=1, col=1)
        fig.update_yaxes(tickformat=".0%", row=1, col=2)
        return fig

    def cost_figure(self):
        import plotly.graph_objects as go

        fig = go.Figure()
        for by in ("model", "tool"):
            part = self.cost_breakdown.filter(pl.col("by") == by)
            fig.add_trace(go.Bar(x=part["item"].to_list(), y=part["cost_usd"].to_list(), name=f"by {by}"))
        fig.update_layout(title=f"Cost in {self.week} by model and tool (USD)", template="plotly_white", height=360)
        return fig

    def headline_figure(self):
        import plotly.graph_objects as go

        h = self.headline
        fig = go.Figure()
        for col, name in (("completion_rate", "completion"), ("escalation_rate", "escalation"),
                          ("customer_impact_rate", "customer impact")):
            fig.add_trace(go.Bar(x=h["agent"].to_list(), y=h[col].to_list(), name=name,
                                 text=[pct(v) for v in h[col].to_list()], textposition="outside"))
        fig.update_layout(title=f"Agents in {self.week}", barmode="group", template="plotly_white", height=420,
                          width=900, yaxis={"tickformat": ".0%", "range": [0, 1.05]})
        return fig

    # ---- things to send ----------------------------------------------------------------------------
    def digest(self) -> str:
        lines = [f"# Weekly agent review — {self.week}", ""]
        budgets = {} if self.budgets is None else {r["target"].removeprefix("agent "): r for r in self.budgets.iter_rows(named=True)}
        for r in self.headline.iter_rows(named=True):
            cps = r["cost_per_successful_run"]
            b = budgets.get(r["agent"])
            parts = [f"completion {pct(r['completion_rate'])} ({signed(r.get('completion_rate_wow')) or 'n/a'} w/w)",
                     f"escalation {pct(r['escalation_rate'])}",
                     f"customer-impact errors {r['customer_impact_errors']}"
                     + ("" if b is None else f" ({pct(b['consumed'])} of the {b['window_days']}-day budget)"),
                     "time saved " + ("n/a" if r["time_saved_hours"] is None else f"{r['time_saved_hours']:.1f} h"),
                     "cost/success " + ("unknown" if cps is None else money(cps)) + unknown_note(r["cost_unknown_runs"])]
            lines.append(f"- **{r['agent']}** ({r['runs']} runs): " + "; ".join(parts))
        lines += ["", "## Breaches"]
        breaches = []
        if self.budgets is not None:
            breaches += [f"- error budget breached: {r['target']} ({r['customer_impact_errors']} errors, "
                         f"{r['allowed_errors']:.1f} allowed in {r['window_days']} days)" for r in self.budgets.filter(pl.col("breached")).iter_rows(named=True)]
        if self.violations is not None and self.violations.height:
            breaches += [f"- {line}" for line in violation_lines(self.violations)]
        lines += breaches or ["- none"]
        lines += ["", "## Go / no-go"]
        if self.readiness_changes is None:
            lines.append("- readiness not configured")
        else:
            open_checks = self.readiness.filter(pl.col("verdict") != "go").group_by("agent").agg(
                pl.format("{} ({})", "check", "verdict").alias("open"))
            open_by_agent = {r["agent"]: r["open"] for r in open_checks.iter_rows(named=True)}
            for r in self.readiness_changes.iter_rows(named=True):
                change = "" if r["verdict_last_week"] in (None, r["verdict"]) else f" (was {r['verdict_last_week']})"
                still_open = open_by_agent.get(r["agent"])
                why = f" — open: {', '.join(still_open)}" if still_open else ""
                lines.append(f"- {r['agent']}: {r['verdict']}{change}{why}")
        if self.practices is not None:
            lines += self.practices.digest_lines()
        if self.summary.get("rejected"):
            lines += ["", f"{self.summary['rejected']} input records were rejected; see the report."]
        return "\n".join(lines) + "\n"

    def write_digest(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.digest())
        return path

    def write_headline_png(self, path: str | Path) -> Path:
        path = Path(path)
        self.headline_figure().write_image(path, format="png", scale=1)
        return path


def violation_lines(violations: pl.DataFrame) -> list[str]:
    """One line per agent: how many policy violations, by severity, most severe first."""
    counts = violations.group_by("agent", "severity").len()
    lines = []
    for agent in sorted(counts["agent"].unique().to_list()):
        mine = dict(counts.filter(pl.col("agent") == agent).select("severity", "len").iter_rows())
        parts = [f"{mine[s]} {s}" for s in SEVERITY_ORDER if s in mine]  # check_policy uses no other severity
        total = sum(mine.values())
        lines.append(f"{agent}: {total} policy violation{'s' if total != 1 else ''} ({', '.join(parts)})")
    return lines


def hours(value) -> str:
    return "–" if value is None else f"{value:.1f} h"


def unknown_note(count: int) -> str:
    return f" ({count} runs of unknown cost)" if count else ""


def _colour(i: int) -> str:
    return ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")[i % 6]
