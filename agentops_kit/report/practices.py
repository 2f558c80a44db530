"""The weekly report's sections for the practices teams add to the five questions: quality floors, red-team
exercises, evidence for removing approval gates, and provenance. Each section is HTML (escaped), and
``digest_lines`` says what needs attention in the markdown digest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from ..analytics.gates import RELAX, GateEvidence, gate_evidence
from ..analytics.metrics import weekly_metrics
from ..analytics.quality import QualityResult, quality_metrics
from ..analytics.redteam import RedTeamReport, red_team_report
from ..rendering import esc, table
from ..weeks import week_bounds


@dataclass
class Practices:
    week: str
    quality: QualityResult | None  # agent × week over the trend window
    quality_cost: pl.DataFrame | None  # per agent in the week: cost per successful run that met the quality bar
    red_team: RedTeamReport  # the week's red-team cases
    gates: GateEvidence | None  # as of the end of the week
    provenance: pl.DataFrame | None  # provenance violations of the week's runs
    superseded: pl.DataFrame | None  # the week's actions on versions a later run shows were superseded

    @classmethod
    def build(cls, ts, week: str, policies=None, quality=None, readiness_file=None, approvals=None,
              weeks_back: int = 8, metrics: pl.DataFrame | None = None) -> Practices:
        """``ts``: every run loaded (history included); ``approvals``: an ApprovalQueue, a store URL or None;
        ``metrics``: ``weekly_metrics(ts, by=("agent", "week"), quality=quality)`` when already computed."""
        from ..analytics.policy import load_policies
        from ..analytics.policy_check import URL_HOST, EMAIL_HOST, check_policy
        from ..analytics.provenance import superseded_actions

        start, end = week_bounds(week)
        as_of = end - dt.timedelta(microseconds=1)
        in_week = (pl.col("started_at") >= start) & (pl.col("started_at") < end)
        pols = load_policies(policies) if policies is not None else None
        requests, decisions = _store(approvals)
        q = cost = None
        if quality is not None:
            first = start - dt.timedelta(weeks=weeks_back - 1)
            q = quality_metrics(ts.filter_runs((pl.col("started_at") >= first) & (pl.col("started_at") < end)),
                                quality, by=("agent", "week"))
            if metrics is None or "cost_per_quality_success" not in metrics.columns:
                metrics = weekly_metrics(ts, by=("agent", "week"), quality=quality)
            cost = metrics.filter(pl.col("week") == week).select(
                "agent", "successes", "quality_successes", "quality_unknown_successes", "cost_per_successful_run",
                "cost_per_quality_success", "cost_unknown_runs")
        red = red_team_report(ts.filter_runs(in_week), pols, approvals=decisions)
        gates = None
        if pols is not None or requests is not None:
            gates = gate_evidence(ts, approvals=requests, policies=pols, rule=readiness_file, as_of=as_of)
        provenance = superseded = None
        if pols and any(p.provenance is not None for p in pols):
            week_runs = ts.filter_runs(in_week)
            provenance = check_policy(week_runs, pols, approvals=decisions, as_of=as_of).violations.filter(
                pl.col("rule").str.starts_with("provenance_"))
            superseded = superseded_actions(ts, pols, URL_HOST, EMAIL_HOST).filter(
                (pl.col("acted_at") >= start) & (pl.col("acted_at") < end))
        return cls(week, q, cost, red, gates, provenance, superseded)

    # ---- HTML sections -----------------------------------------------------------------------------
    def quality_html(self) -> str:
        if self.quality is None:
            return "<p><i>Quality metrics: not configured (pass a quality YAML file)</i></p>"
        frame = self.quality.frame
        week = frame.filter(pl.col("week") == self.week).drop("floor", "ceiling", "week")
        trend = frame.select("agent", "metric", "week", "value", "labelled", "unknown")
        return (table(week, caption=f"Quality metrics in {self.week}: value, change from last week, floor or ceiling, "
                                    "runs with and without the label")
                + table(self.quality_cost, caption="Cost per successful run that met every quality floor "
                                                   "(all cost / those runs; runs of unknown quality counted)")
                + table(trend, max_rows=200, caption="Quality metrics per week"))

    def red_team_html(self) -> str:
        r = self.red_team
        if not r.cases.height:
            return f"<p><i>No red-team run in {esc(self.week)}.</i></p>"
        backlog = r.backlog.with_columns(pl.col("input").str.slice(0, 300))
        return (table(r.scorecard, caption=f"Red-team scorecard, {self.week} ({r.cases.height} cases; kept out of "
                                           "every production number)")
                + table(backlog, max_rows=100, caption="Backlog: one item per failed case"))

    def gates_html(self) -> str:
        if self.gates is None:
            return "<p><i>Approval gates: not configured (pass policies or an approvals store)</i></p>"
        return self.gates._repr_html_()

    def provenance_html(self) -> str:
        if self.provenance is None:
            return "<p><i>Provenance rules: not configured (add provenance: to a policy)</i></p>"
        return (table(self.provenance, max_rows=100, caption=f"Actions with unclear provenance and no approval first, {self.week}")
                + table(self.superseded, max_rows=100,
                        caption="Actions on a document version that a later run shows was superseded"))

    # ---- digest ------------------------------------------------------------------------------------
    def digest_lines(self) -> list[str]:
        lines = ["", "## Quality, red team, approval gates, provenance"]
        if self.quality is not None:
            breached = self.quality.frame.filter((pl.col("week") == self.week) & pl.col("breached"))
            for r in breached.iter_rows(named=True):
                shown = f"{r['value']:.3g}" if r["kind"] == "mean" else f"{r['value']:.1%}"
                what = "floor breached" if r["bound"].startswith(">=") else "ceiling exceeded"
                lines.append(f"- quality {what}: {r['agent']} {r['metric']} {shown} (needs {r['bound']}; "
                             f"{r['labelled']} labelled runs, {r['unknown']} unknown)")
            if not breached.height:
                lines.append("- quality: every floor and ceiling held")
        r = self.red_team
        if r.cases.height:
            attempted = int((r.cases["prohibited_attempts"].fill_null(0) > 0).sum())
            lines.append(f"- red team: {r.cases.height} cases, {r.backlog.height} failed, {attempted} attempted a "
                         "prohibited action")
        if self.gates is not None:
            for g in self.gates.relaxable().iter_rows(named=True):
                lines.append(f"- {RELAX}: {g['agent']} {g['action']} ({g['decisions']} decisions, "
                             f"{g['weeks_without_rejection']} weeks without a rejection)")
        if self.provenance is not None:
            lines.append(f"- provenance: {self.provenance.height} actions with unclear provenance and no approval "
                         f"first; {self.superseded.height} on superseded document versions")
        return lines if len(lines) > 2 else lines + ["- nothing to report"]


def _store(approvals) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(requests, decisions) of an ApprovalQueue or a store URL (opened and closed here), or (None, None)."""
    if approvals is None:
        return None, None
    from ..approvals import ApprovalQueue

    queue = ApprovalQueue(approvals) if isinstance(approvals, str) else approvals
    try:
        return queue.requests(), queue.decisions()
    finally:
        if queue is not approvals:
            queue.close()
