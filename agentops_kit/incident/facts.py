"""What the traces hold about one run, gathered once for its postmortem: the run row, its steps in tree order
(the run inspector's waterfall rows), its policy violations, approvals and labels."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..analytics.policy import Policy
from ..analytics.policy_check import check_policy
from ..errors import UsageError
from ..inspection.run_tree import FailureCause, failure_cause, waterfall_rows
from ..model import StepKind
from ..store.layout import UNKNOWN_WEEK
from ..weeks import iso_week


@dataclass
class RunFacts:
    run: dict  # the run's row of ts.runs
    rows: pl.DataFrame  # its steps in tree order (waterfall_rows)
    sources: pl.DataFrame
    labels: pl.DataFrame
    violations: pl.DataFrame | None  # None: no policy names the run's agent (not checked, not "none")
    policy: Policy | None
    trace_approvals: pl.DataFrame  # approval steps in the traces
    store_approvals: pl.DataFrame | None  # decisions the approvals store holds for the run (None: not consulted)
    cause: FailureCause | None
    inputs: list[str]
    labels_given: bool

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    @property
    def agent(self) -> str | None:
        return self.run["agent"]


def run_facts(ts, run_id: str, policy: Policy | None, approvals: pl.DataFrame | None = None,
              labels_given: bool = True) -> RunFacts:
    """The facts of run ``run_id`` in ``ts``; UsageError naming what the traces hold when it is not there."""
    ids = pl.LazyFrame({"run_id": [run_id]})
    one = ts.only_runs(ids)
    runs = one.runs.collect()
    if not runs.height:
        total = ts.runs.select(pl.len()).collect().item()
        near = ts.runs.filter(pl.col("run_id").str.starts_with(run_id[:8])).select("run_id").head(3).collect()
        hint = f"; runs starting like it: {', '.join(near['run_id'])}" if near.height and len(run_id) >= 8 else ""
        hint += _other_week(ts, run_id)
        raise UsageError(f"run {run_id!r} is not in the traces given ({total} runs in {', '.join(one.inputs)}){hint}")
    rows = waterfall_rows(one.steps)
    violations = None
    if policy is not None:
        violations = check_policy(one, [policy], check_names=False).violations
    trace_approvals = rows.filter(pl.col("kind") == StepKind.APPROVAL).select(
        "step_id", "offset_s", "started_at", "ended_at", "approval_decision", "approver",
        pl.col("attributes").str.json_path_match('$["agentops.approval.action"]').alias("action"))
    store = None
    if approvals is not None:
        store = approvals.filter(pl.col("run_id") == run_id)
    return RunFacts(
        run=runs.row(0, named=True), rows=rows, sources=one.sources.collect(), labels=one.labels.collect(),
        violations=violations, policy=policy, trace_approvals=trace_approvals, store_approvals=store,
        cause=failure_cause(rows), inputs=list(ts.inputs), labels_given=labels_given)


def _other_week(ts, run_id: str) -> str:
    """Where a store read for some weeks holds the run in a week not read (its ``whole`` lists every stored run)."""
    if ts.whole is None or ts.whole is ts:
        return ""
    found = ts.whole.runs.filter(pl.col("run_id") == run_id).select(iso_week()).collect()
    if not found.height:
        return ""
    week = found.item()
    if ts.runs.filter(iso_week().eq_missing(week)).head(1).collect().height:
        return ""  # that week was read: the run was left out by something else (a filter of agents)
    return (f"; the store holds it in week {week or UNKNOWN_WEEK}, which was not read: add that week to --weeks "
            "(or read every week)")


def latest_impacted_run(ts) -> str:
    """The most recent run labelled customer_impact = true: where a postmortem usually starts."""
    from ..analytics.definitions import impacted_runs

    found = (ts.runs.join(impacted_runs(ts.labels), on="run_id", how="semi")
             .sort("started_at", nulls_last=True).select("run_id").tail(1).collect())
    if not found.height:
        raise UsageError("no run is labelled customer_impact = true in the labels given: name the run (run_id=..., "
                         "or --run)")
    return found.item()
