"""Stops that follow the numbers (opt-in): the agents whose critical policy violations or error-budget breach
a check found, stopped with an audit row naming the rule and the runs that caused it.

The causes are computed from the result frames (``check_policy``'s violations, ``error_budget``'s rows and
the customer-impact runs), so the policy check, the weekly report and a notebook stop for the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..model import Severity
from .stops import Stop

SEVERITIES = tuple(s.value for s in Severity)  # most severe first
MAX_RULE = 200  # the rule is a name in the audit row (identity.MAX_NAME)


@dataclass(frozen=True)
class StopCause:
    """Why an agent is to be stopped: the ``rule`` (``policy:RULE`` or ``error_budget:TARGET``), the runs that
    broke it and a sentence for the audit row."""

    agent: str
    rule: str
    runs: tuple[str, ...]
    reason: str


@dataclass
class AutoStops:
    """What an automatic stop did: each cause with the stop now in force (``recorded_now`` False: the agent
    was already stopped, nothing was written)."""

    stopped: list[tuple[StopCause, Stop]] = field(default_factory=list)

    def to_dicts(self) -> list[dict]:
        return [{"agent": c.agent, "rule": c.rule, "runs": list(c.runs), "reason": c.reason,
                 "recorded_now": s.recorded_now, "audit_seq": s.seq, "stopped_by": s.stopped_by,
                 "stopped_at": s.stopped_at} for c, s in self.stopped]

    def lines(self) -> list[str]:
        out = []
        for cause, stop in self.stopped:
            runs = ", ".join(cause.runs[:5]) + (f" and {len(cause.runs) - 5} more" if len(cause.runs) > 5 else "")
            what = (f"stopped {cause.agent} (audit row {stop.seq})" if stop.recorded_now
                    else f"{cause.agent} was already stopped (by {stop.stopped_by} at {stop.stopped_at})")
            out.append(f"{what}: {cause.reason} — rule {cause.rule}; runs {runs or 'none named'}")
        return out


def at_least(severity: str) -> list[str]:
    """The severities as severe as ``severity`` or more."""
    if severity not in SEVERITIES:
        from .errors import InvalidRequest

        raise InvalidRequest(f"stop on severity '{severity}': expected one of {', '.join(SEVERITIES)}")
    return list(SEVERITIES[: SEVERITIES.index(severity) + 1])


def violation_causes(violations: pl.DataFrame, severity: str = "critical") -> list[StopCause]:
    """One cause per agent and rule among the violations at ``severity`` or above, with their runs."""
    found = (violations.lazy().filter(pl.col("severity").is_in(at_least(severity)))
             .group_by("agent", "rule", "severity")
             .agg(pl.col("run_id").unique().sort().alias("runs"), pl.len().alias("n"))
             .sort("agent", "rule").collect())
    return [StopCause(r["agent"], f"policy:{r['rule']}", tuple(r["runs"]),
                      f"{r['n']} {r['severity']} policy violation{'s' if r['n'] != 1 else ''} of {r['rule']} "
                      f"in {len(r['runs'])} run{'s' if len(r['runs']) != 1 else ''}")
            for r in found.iter_rows(named=True)]


def budget_causes(budgets: pl.DataFrame, impact: pl.DataFrame) -> list[StopCause]:
    """One cause per agent for each breached budget: an ``agent X`` budget stops X; a ``workflow W`` budget
    stops the agents whose customer-impact runs of W fall in its window. ``impact`` is
    ``customer_impact_errors`` over the traces the budgets were computed on."""
    causes = []
    for b in budgets.filter(pl.col("breached")).iter_rows(named=True):
        kind, _, name = b["target"].partition(" ")
        column = "agent" if kind == "agent" else "workflow"
        runs = (impact.lazy().filter((pl.col(column) == name) & (pl.col("when") > b["window_start"])
                                     & (pl.col("when") <= b["as_of"]))
                .group_by("agent").agg(pl.col("run_id").unique().sort().alias("runs")).sort("agent").collect())
        reason = (f"error budget of {b['target']} breached: {b['customer_impact_errors']} customer-impact errors, "
                  f"{b['allowed_errors']:.1f} allowed in {b['window_days']} days")
        causes += [StopCause(r["agent"], f"error_budget:{b['target']}", tuple(r["runs"]), reason)
                   for r in runs.iter_rows(named=True)]
        if kind == "agent" and not runs.height:  # breached with no labelled run in the window: still the agent
            causes.append(StopCause(name, f"error_budget:{b['target']}", (), reason))
    return causes


def merge(causes: list[StopCause]) -> list[StopCause]:
    """One cause per agent (its rules, reasons and runs together), in the order the agents first appear."""
    by_agent: dict[str, list[StopCause]] = {}
    for cause in causes:
        by_agent.setdefault(cause.agent, []).append(cause)
    merged = []
    for agent, mine in by_agent.items():
        rules = [c.rule for c in mine]
        rule = " + ".join(rules)
        if len(rule) > MAX_RULE:
            rule = f"{rules[0]} + {len(rules) - 1} more"
        runs = tuple(sorted({r for c in mine for r in c.runs}))
        merged.append(StopCause(agent, rule, runs, "; ".join(c.reason for c in mine)))
    return merged


def apply_stops(queue, causes: list[StopCause], actor: str) -> AutoStops:
    """Stop each agent the causes name: one audit row per agent, naming its rules and runs. An agent already
    stopped is left as it is (nothing written)."""
    done = AutoStops()
    for cause in merge(causes):
        done.stopped.append((cause, queue.stop_agent(cause.agent, reason=f"automatic stop: {cause.reason}",
                                                     actor=actor, rule=cause.rule, runs=list(cause.runs))))
    return done
