"""The go/no-go readiness checklist: thresholds and owners from YAML (``templates/readiness.yaml``),
evidence measured from the traces, the policy check, shadow mode and the policy tests.

Each line: area, check, agent, verdict (go | no-go | unknown — a value that cannot be measured is never a
go), measured value, threshold, evidence, owner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from ..config import Strict, load_model
from ..model import TOOL_CALL_KINDS, Outcome, Verdict
from ..rendering import table
from ..results import Result, records
from .definitions import ACTIVE, PRODUCTION, agreement, measure, outcome_is
from .gate_rule import GateRule
from .rollback import Rollback, rollback_lines

Metric = Literal["completion_rate", "shadow_agreement", "unapproved_gated_actions", "approval_coverage",
                 "policy_tests_pass", "cost_vs_human", "fully_traced_share", "escalation_rate",
                 "escalation_handoff_share"]
DESCRIPTION = {
    "completion_rate": "successful runs / runs (active runs in the window)",
    "shadow_agreement": "shadow runs where the agent's recommendation equals the human decision",
    "unapproved_gated_actions": "approval-gated actions executed without a prior approval",
    "approval_coverage": "share of approval-gated actions with an approval before them",
    "policy_tests_pass": "every policy test case passes (1) or not (0)",
    "cost_vs_human": "cost per successful run / human cost of the same task",
    "fully_traced_share": "runs with their root span, no lost parents, and LLM or tool calls recorded",
    "escalation_rate": "escalated runs / runs",
    "escalation_handoff_share": "escalated runs that handed off through an escalation tool",
}


class Check(Strict):
    area: Literal["Quality", "Safety", "Cost", "Observability", "Escalation"]
    metric: Metric
    min: float | None = None
    max: float | None = None
    owner: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.min is None) == (self.max is None):
            raise ValueError("a check sets exactly one of 'min' or 'max'")
        return self


class ReadinessConfig(Strict):
    window_weeks: int = Field(4, gt=0, le=520)
    checks: list[Check] = Field(min_length=1)
    gate_removal: GateRule | None = None  # when an approval gate may be relaxed (see gate_rule.py, gates.py)
    rollback: Rollback = Field(default_factory=dict)  # agent -> owner and plan, or "none" (rollback.py)


@dataclass
class Readiness(Result):
    lines: pl.DataFrame
    title = "Go / no-go readiness"

    def verdicts(self) -> pl.DataFrame:
        """Per agent: go only when every line is go."""
        return self.lines.group_by("agent").agg(
            pl.when((pl.col("verdict") == Verdict.GO).all()).then(pl.lit(Verdict.GO.value))
            .otherwise(pl.lit(Verdict.NO_GO.value)).alias("verdict"),
            (pl.col("verdict") != Verdict.GO).sum().alias("open_items")).sort("agent")

    def to_polars(self) -> pl.DataFrame:
        return self.lines

    def to_dict(self) -> dict:
        return {"title": self.title, "verdicts": records(self.verdicts()), "lines": records(self.lines)}

    def html(self) -> str:
        return (table(self.verdicts(), caption="verdict per agent")
                + table(self.lines.drop("definition"), max_rows=500, caption="checklist"))

    def _repr_html_(self) -> str:
        return f"<div class='agentops-readiness'><h4>{self.title}</h4>{self.html()}</div>"


def load_readiness(source) -> ReadinessConfig:
    if isinstance(source, ReadinessConfig):
        return source
    if isinstance(source, dict):
        return ReadinessConfig.model_validate(source)
    return load_model(Path(source), ReadinessConfig)


def _measure(ts, agent_runs: pl.DataFrame, agent: str, policies, approvals, baselines, policy_test_results, shadow):
    """metric -> (value or None, evidence text) for one agent."""
    from .policy_check import check_policy

    out: dict[str, tuple[float | None, str]] = {}
    # the metrics of definitions.py; completion over the active runs only (a shadow run's outcome is a
    # recommendation, not work done), escalation and cost over every run of the agent
    active = measure(agent_runs.filter(ACTIVE), "runs", "successes", "completion_rate")
    every = measure(agent_runs, "runs", "successes", "escalations", "escalation_rate", "cost_unknown_runs",
                    "cost_per_successful_run")
    n = every["runs"]
    out["completion_rate"] = (active["completion_rate"], f"{active['successes']} of {active['runs']} active runs succeeded")
    out["escalation_rate"] = (every["escalation_rate"], f"{every['escalations']} of {n} runs escalated")
    esc = agent_runs.filter(outcome_is(Outcome.ESCALATED))
    handoff: int = esc.get_column("_handoff").sum() if esc.height else 0  # type: ignore[assignment]  # sum of bools
    out["escalation_handoff_share"] = (handoff / esc.height if esc.height else None,
                                       f"{handoff} of {esc.height} escalations handed off through an escalation tool")
    traced = agent_runs.filter(~pl.col("root_missing") & (pl.col("orphan_steps") == 0)
                               & ((pl.col("llm_calls") + pl.col("tool_calls")) > 0)).height
    out["fully_traced_share"] = (traced / n if n else None, f"{traced} of {n} runs fully traced")
    pairs = shadow.pairs.filter(pl.col("agent") == agent)
    agree = int(pairs["agree"].sum()) if pairs.height else 0
    out["shadow_agreement"] = (pairs.select(agreement()).item() if pairs.height else None,
                               f"{agree} of {pairs.height} shadow runs agreed with the human decision")
    mine = [p for p in (policies or []) if p.name == agent]
    if mine:
        ids = agent_runs.select("run_id").lazy()
        sub = ts.only_runs(ids)
        result = check_policy(sub, mine, approvals=approvals)
        bad = result.violations.filter(pl.col("rule") == "unapproved_action").height
        gated = sub.steps.filter(pl.col("tool_name").is_in(mine[0].actions_require_approval)
                                 & pl.col("kind").is_in(TOOL_CALL_KINDS)).select(pl.len()).collect().item()
        out["unapproved_gated_actions"] = (bad, f"{bad} gated actions without prior approval ({gated} gated actions)")
        out["approval_coverage"] = ((gated - bad) / gated if gated else None,
                                    f"{gated - bad} of {gated} gated actions approved first")
    else:
        out["unapproved_gated_actions"] = out["approval_coverage"] = (None, "no policy for this agent")
    if policy_test_results is None:
        out["policy_tests_pass"] = (None, "no policy tests were run")
    else:
        failed = sum(not r.passed for r in policy_test_results)
        out["policy_tests_pass"] = (float(failed == 0), f"{len(policy_test_results) - failed} of {len(policy_test_results)} policy tests pass")
    base = baselines.workflows if baselines else {}
    wf = agent_runs["workflow"].mode().to_list()[0] if n else None
    b = base.get(wf)
    per_success = every["cost_per_successful_run"]
    if b is None or b.hourly_cost_usd is None:
        out["cost_vs_human"] = (None, f"no human baseline with an hourly cost for workflow {wf}")
    elif per_success is None:
        out["cost_vs_human"] = (None, f"{every['cost_unknown_runs']} runs of unknown cost, {every['successes']} successes: "
                                      "not measurable")
    else:
        human = b.human_minutes_per_run / 60 * b.hourly_cost_usd
        out["cost_vs_human"] = (per_success / human, f"${per_success:.4f} per successful run vs ${human:.2f} human cost per task")
    return out


def readiness(ts, config, policies=None, approvals=None, baselines=None, policy_tests=None,
              as_of: dt.datetime | None = None, mapping=None, quality=None) -> Readiness:
    """Evaluate the checklist per agent over the last ``window_weeks`` before ``as_of`` (default: the last run).
    ``mapping`` (the one the traces were loaded with) names the escalation tools that count as a hand-off.
    ``quality``: a quality YAML file; each of its metrics adds a line, no-go when its floor is breached.
    Red-team runs are left out.

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> ready = ak.readiness(ts, "templates/readiness.yaml", policies="templates/policies")
        >>> ready.verdicts().sort("agent").select("agent", "verdict").rows()[0]
        ('InvoiceCategorizer', 'no-go')
    """
    from ..mapping import load_mapping
    from .baseline import load_baselines
    from .policy import load_policies
    from .policy_check import require_policy_agents
    from .policy_tests import run_policy_tests
    from .shadow import shadow_report

    cfg = load_readiness(config)
    pols = load_policies(policies) if policies is not None else None
    base = load_baselines(baselines) if baselines is not None else None
    test_results = run_policy_tests(policy_tests) if policy_tests is not None else None
    if pols:  # the checklist is per agent present; policies and baselines naming none of them are typos
        require_policy_agents(ts, pols, what="readiness")
    if base is not None:
        base.require_runs(ts)
    runs = ts.runs.filter(PRODUCTION).collect()
    end = as_of or runs["started_at"].max()
    if end is None:
        end = dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(weeks=cfg.window_weeks)
    tools = load_mapping(mapping).outcome.escalation_tools
    handoffs = (ts.steps.filter(pl.col("tool_name").is_in(tools)).select("run_id").unique()
                .with_columns(pl.lit(1).alias("_handoff")).collect())
    runs = (runs.filter(pl.col("started_at").is_null() | ((pl.col("started_at") > start) & (pl.col("started_at") <= end)))
            .join(handoffs, on="run_id", how="left").with_columns(pl.col("_handoff").fill_null(0)))
    shadow = shadow_report(ts)
    rows = []
    for agent in sorted(runs["agent"].unique().to_list()):
        measured = _measure(ts, runs.filter(pl.col("agent") == agent), agent, pols, approvals, base, test_results, shadow)
        for check in cfg.checks:
            value, evidence = measured[check.metric]
            if value is None:
                verdict = Verdict.UNKNOWN
            elif check.min is not None:
                verdict = Verdict.GO if value >= check.min else Verdict.NO_GO
            else:
                verdict = Verdict.GO if value <= check.max else Verdict.NO_GO
            rows.append({"agent": agent, "area": check.area, "check": check.metric, "verdict": verdict.value,
                         "measured": None if value is None else float(value),
                         "threshold": f">= {check.min:g}" if check.min is not None else f"<= {check.max:g}",
                         "evidence": evidence, "owner": check.owner, "definition": DESCRIPTION[check.metric]})
    rows += rollback_lines(sorted(runs["agent"].unique().to_list()), cfg.rollback)
    if quality is not None:
        from .quality import readiness_lines, require_quality_names

        rows += readiness_lines(ts, runs, require_quality_names(ts, quality))
    return Readiness(pl.DataFrame(rows, schema={"agent": pl.String, "area": pl.String, "check": pl.String,
                                                "verdict": pl.String, "measured": pl.Float64, "threshold": pl.String,
                                                "evidence": pl.String, "owner": pl.String, "definition": pl.String}))
