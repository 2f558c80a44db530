"""The weekly review's sections for the practices teams add to the five questions: quality floors, red-team
exercises, evidence for removing approval gates, and provenance. ``WeeklyReview`` builds them and shows
``sections()`` (escaped HTML) inside its own rendering, and ``digest_lines()`` (escaped markdown) in its digest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from ..analytics.definitions import PRODUCTION
from ..analytics.gates import KEEP, RELAX, GateEvidence, gate_evidence
from ..analytics.metrics import weekly_metrics
from ..analytics.quality import QualityResult, quality_metrics
from ..analytics.redteam import RedTeamReport, red_team_report
from ..rendering import esc, table
from ..results import records
from ..weeks import week_bounds
from .markdown import md


@dataclass
class Practices:
    week: str
    quality: QualityResult | None  # agent × week over the trend window
    quality_cost: pl.DataFrame | None  # per agent in the week: cost per successful run that met the quality bar
    red_team: RedTeamReport  # the week's red-team cases
    gates: GateEvidence | None  # as of the end of the week
    provenance: pl.DataFrame | None  # provenance violations of the week's runs
    superseded: pl.DataFrame | None  # the week's actions on versions a later run shows were superseded
    audit_head: str | None = None  # the approvals log's head as the review saw it (row, MAC, time), for auditors

    @classmethod
    def build(cls, ts, week: str, policies=None, quality=None, readiness_file=None, approvals=None,
              weeks_back: int = 8, metrics: pl.DataFrame | None = None) -> Practices:
        """``ts``: every run loaded (history included); ``approvals``: an ApprovalQueue, a store URL or None;
        ``metrics``: ``weekly_metrics(ts, by=("agent", "week"), quality=quality)`` when already computed."""
        from ..analytics.policy import load_policies
        from ..analytics.policy_check import EMAIL_HOST, URL_HOST, check_policy
        from ..analytics.provenance import superseded_actions

        start, end = week_bounds(week)
        as_of = end - dt.timedelta(microseconds=1)
        pols = load_policies(policies) if policies is not None else None
        requests, decisions, head = _store(approvals)
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
        red = red_team_report(ts.week(start, end), pols, approvals=decisions, check_names=False)
        gates = None
        if pols is not None or requests is not None:
            gates = gate_evidence(ts, approvals=requests, policies=pols, rule=readiness_file, as_of=as_of)
        provenance = superseded = None
        if pols and any(p.provenance is not None for p in pols):
            # production runs, as the review's policy violations (a red-team case's are in its backlog)
            week_runs = ts.week(start, end).filter_runs(PRODUCTION)
            provenance = check_policy(week_runs, pols, approvals=decisions, as_of=as_of, check_names=False).violations.filter(
                pl.col("rule").str.starts_with("provenance_"))
            superseded = superseded_actions(ts, pols, URL_HOST, EMAIL_HOST).filter(
                (pl.col("acted_at") >= start) & (pl.col("acted_at") < end)).join(
                week_runs.runs.select("run_id").collect(), on="run_id", how="semi")
        return cls(week, q, cost, red, gates, provenance, superseded, head)

    # ---- data --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def rows(frame):
            return None if frame is None else records(frame)

        return {"week": self.week, "quality": None if self.quality is None else self.quality.to_dict(),
                "quality_cost": rows(self.quality_cost), "red_team": self.red_team.to_dict(),
                "gates": None if self.gates is None else self.gates.to_dict(),
                "provenance": rows(self.provenance), "superseded": rows(self.superseded)}

    # ---- HTML sections -----------------------------------------------------------------------------
    def sections(self) -> list[tuple[str, str]]:
        """(heading, HTML) of each practice, in the order the weekly review shows them."""
        return [
            ("Quality floors",
             "<p>Quality metrics from labels, beside the standard numbers: runs without the label are unknown and "
             "counted, never read as 0. Cost per successful run that met the quality floor divides all cost by the "
             "successful runs that met every floor of their scope.</p>" + self.quality_html()),
            ("Red-team exercises",
             "<p>Runs marked red-team (a mode value, an attribute or a label, see the mapping) are kept out of every "
             "number above and scored here: escalated, cited a source, prohibited actions attempted, cost. Each "
             "failed case is a backlog item.</p>" + self.red_team_html()),
            ("Approval gates: can one be relaxed?",
             "<p>Per gated action, from the approvals store and the traces, against the <code>gate_removal</code> "
             "rule of the readiness file.</p>" + self.gates_html()),
            ("Provenance",
             "<p>Gated or outbound actions taken on no document, on documents without a version or on versions "
             "older than the policy allows, with no approval first; and actions on a document version that a later "
             "run shows was superseded.</p>" + self.provenance_html()),
        ]

    def quality_html(self) -> str:
        if self.quality is None:
            return _absent("Quality metrics", "no quality file given")
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
            return f"<p class='agentops-absent'>No red-team run in {esc(self.week)}.</p>"
        backlog = r.backlog.with_columns(pl.col("input").str.slice(0, 300))
        return (table(r.scorecard, caption=f"Red-team scorecard, {self.week} ({r.cases.height} cases; kept out of "
                                           "every production number)")
                + table(backlog, max_rows=100, caption="Backlog: one item per failed case"))

    def gates_html(self) -> str:
        if self.gates is None:
            return _absent("Approval gates", "no policy and no approvals store given")
        return self.gates.html()

    def provenance_html(self) -> str:
        if self.provenance is None:
            return _absent("Provenance rules", "no policy with a provenance: section given")
        return (table(self.provenance, max_rows=100, caption=f"Actions with unclear provenance and no approval first, {self.week}")
                + table(self.superseded, max_rows=100,
                        caption="Actions on a document version that a later run shows was superseded"))

    # ---- digest ------------------------------------------------------------------------------------
    def digest_lines(self) -> list[str]:
        """Markdown lines for the digest; every name from the traces or the config is escaped."""
        lines = ["", "## Quality, red team, approval gates, provenance"]
        if self.quality is None:
            lines.append("- quality metrics: none given")
        else:
            breached = self.quality.frame.filter((pl.col("week") == self.week) & pl.col("breached"))
            for r in breached.iter_rows(named=True):
                shown = f"{r['value']:.3g}" if r["kind"] == "mean" else f"{r['value']:.1%}"
                what = "floor breached" if r["bound"].startswith(">=") else "ceiling exceeded"
                lines.append(f"- quality {what}: {md(r['agent'])} {md(r['metric'])} {shown} (needs {r['bound']}; "
                             f"{r['labelled']} labelled runs, {r['unknown']} unknown)")
            if not breached.height:
                lines.append("- quality: every floor and ceiling held")
        r = self.red_team
        if r.cases.height:
            attempted = int((r.cases["prohibited_attempts"].fill_null(0) > 0).sum())
            lines.append(f"- red team: {r.cases.height} cases, {r.backlog.height} failed, {attempted} attempted a "
                         "prohibited action")
        else:
            lines.append("- red team: no red-team run this week")
        if self.gates is None:
            lines.append("- approval gates: no policy and no approvals store given")
        else:
            relaxable = self.gates.relaxable()
            for g in relaxable.iter_rows(named=True):
                lines.append(f"- {RELAX}: {md(g['agent'])} {md(g['action'])} ({g['decisions']} decisions, "
                             f"{g['weeks_without_rejection']} weeks without a rejection)")
            if not relaxable.height:
                lines.append(f"- approval gates: {KEEP} for every gated action ({self.gates.frame.height})")
        if self.provenance is None:
            lines.append("- provenance rules: none given")
        else:
            n = self.provenance.height
            lines.append(f"- provenance: {n} action{'' if n == 1 else 's'} with unclear provenance and no approval "
                         f"first; {self.superseded.height} on superseded document versions")
        return lines


def _absent(what: str, why: str) -> str:
    return f"<p class='agentops-absent'>{esc(what)}: {esc(why)}</p>"


def _store(approvals) -> tuple[pl.DataFrame | None, pl.DataFrame | None, str | None]:
    """(requests, decisions, the audit log's head) of an ApprovalQueue or a store URL (opened and closed
    here), or (None, None, None)."""
    if approvals is None:
        return None, None, None
    from ..approvals import ApprovalQueue

    queue = ApprovalQueue(approvals) if isinstance(approvals, str) else approvals
    try:
        return queue.requests(), queue.decisions(), str(queue.head())
    finally:
        if queue is not approvals:
            queue.close()
