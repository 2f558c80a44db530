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
from .gates import GateRule
from .redteam import production

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
    window_weeks: int = Field(4, gt=0)
    checks: list[Check] = Field(min_length=1)
    gate_removal: GateRule | None = None  # when an approval gate may be relaxed (see gates.py)


@dataclass
class Readiness:
    lines: pl.DataFrame

    def verdicts(self) -> pl.DataFrame:
        """Per agent: go only when every line is go."""
        return self.lines.group_by("agent").agg(
            pl.when((pl.col("verdict") == "go").all()).then(pl.lit("go")).otherwise(pl.lit("no-go")).alias("verdict"),
            (pl.col("verdict") != "go").sum().alias("open_items")).sort("agent")

    def _repr_html_(self) -> str:
        from ..rendering import table

        verdicts = table(self.verdicts(), caption="verdict per agent")
        return (f"<div class='agentops-readiness'><h4>Go / no-go readiness</h4>{verdicts}"
                f"{table(self.lines.drop('definition'), max_rows=500, caption='checklist')}</div>")


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
    n = agent_runs.height
    active = agent_runs.filter(pl.col("mode") == "active")
    succ = active.filter(pl.col("outcome") == "success").height
    out["completion_rate"] = (succ / active.height if active.height else None, f"{succ} of {active.height} active runs succeeded")
    esc = agent_runs.filter(pl.col("outcome") == "escalated")
    out["escalation_rate"] = (esc.height / n if n else None, f"{esc.height} of {n} runs escalated")
    handoff = esc.get_column("_handoff").sum() if esc.height else 0
    out["escalation_handoff_share"] = (handoff / esc.height if esc.height else None,
                                       f"{handoff} of {esc.height} escalations handed off through an escalation tool")
    traced = agent_runs.filter(~pl.col("root_missing") & (pl.col("orphan_steps") == 0)
                               & ((pl.col("llm_calls") + pl.col("tool_calls")) > 0)).height
    out["fully_traced_share"] = (traced / n if n else None, f"{traced} of {n} runs fully traced")
    pairs = shadow.pairs.filter(pl.col("agent") == agent)
    agree = int(pairs["agree"].sum()) if pairs.height else 0
    out["shadow_agreement"] = (agree / pairs.height if pairs.height else None,
                               f"{agree} of {pairs.height} shadow runs agreed with the human decision")
    mine = [p for p in (policies or []) if p.name == agent]
    if mine:
        ids = agent_runs.select("run_id").lazy()
        sub = type(ts)(runs=ts.runs.join(ids, on="run_id"), steps=ts.steps.join(ids, on="run_id"),
                       sources=ts.sources.join(ids, on="run_id"), labels=ts.labels.join(ids, on="run_id"),
                       rejected=ts.rejected)
        result = check_policy(sub, mine, approvals=approvals)
        bad = result.violations.filter(pl.col("rule") == "unapproved_action").height
        gated = sub.steps.filter(pl.col("tool_name").is_in(mine[0].actions_require_approval)
                                 & pl.col("kind").is_in(["tool", "action"])).select(pl.len()).collect().item()
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
    cost_known = agent_runs.filter(pl.col("cost_usd").is_not_null())
    base = baselines.workflows if baselines else {}
    wf = agent_runs["workflow"].mode().to_list()[0] if n else None
    b = base.get(wf)
    all_succ = agent_runs.filter(pl.col("outcome") == "success").height
    if b is None or b.hourly_cost_usd is None:
        out["cost_vs_human"] = (None, f"no human baseline with an hourly cost for workflow {wf}")
    elif cost_known.height < n or all_succ == 0:
        out["cost_vs_human"] = (None, f"{n - cost_known.height} runs of unknown cost, {all_succ} successes: not measurable")
    else:
        per_success = cost_known["cost_usd"].sum() / all_succ
        human = b.human_minutes_per_run / 60 * b.hourly_cost_usd
        out["cost_vs_human"] = (per_success / human, f"${per_success:.4f} per successful run vs ${human:.2f} human cost per task")
    return out


def readiness(ts, config, policies=None, approvals=None, baselines=None, policy_tests=None,
              as_of: dt.datetime | None = None, mapping=None, quality=None) -> Readiness:
    """Evaluate the checklist per agent over the last ``window_weeks`` before ``as_of`` (default: the last run).
    ``mapping`` (the one the traces were loaded with) names the escalation tools that count as a hand-off.
    ``quality``: a quality YAML file; each of its metrics adds a line, no-go when its floor is breached.
    Red-team runs are left out."""
    from ..mapping import load_mapping
    from .baseline import load_baselines
    from .policy import load_policies
    from .policy_tests import run_policy_tests
    from .shadow import shadow_report

    cfg = load_readiness(config)
    pols = load_policies(policies) if policies is not None else None
    base = load_baselines(baselines) if baselines is not None else None
    test_results = run_policy_tests(policy_tests) if policy_tests is not None else None
    runs = ts.runs.filter(production()).collect()
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
                verdict = "unknown"
            elif check.min is not None:
                verdict = "go" if value >= check.min else "no-go"
            else:
                verdict = "go" if value <= check.max else "no-go"
            rows.append({"agent": agent, "area": check.area, "check": check.metric, "verdict": verdict,
                         "measured": None if value is None else float(value),
                         "threshold": f">= {check.min:g}" if check.min is not None else f"<= {check.max:g}",
                         "evidence": evidence, "owner": check.owner, "definition": DESCRIPTION[check.metric]})
    if quality is not None:
        from .quality import readiness_lines

        rows += readiness_lines(ts, runs, quality)
    return Readiness(pl.DataFrame(rows, schema={"agent": pl.String, "area": pl.String, "check": pl.String,
                                                "verdict": pl.String, "measured": pl.Float64, "threshold": pl.String,
                                                "evidence": pl.String, "owner": pl.String, "definition": pl.String}))
