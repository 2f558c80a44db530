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

import narwhals as nw
import polars as pl
from pydantic import Field, model_validator

from ..config import Strict, load_model
from ..model import TOOL_CALL_KINDS, Outcome, Verdict
from ..rendering import table
from ..results import Result, records
from .definitions import active, agreement, conform_counts, engine_counts, outcome_is, production, rates
from .engine import get_engine
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


def _agent_facts(window) -> list:
    """Per agent (narwhals aggregations): the counts of definitions.py over every run of the window, and those
    the other checks read — active runs and successes, escalations handed off, fully traced runs."""
    c, act = nw.col, active(nw)
    traced = ~c("root_missing") & (c("orphan_steps") == 0) & ((c("llm_calls") + c("tool_calls")) > 0)
    handed_off = outcome_is(Outcome.ESCALATED, nw) & (c("_handoff") == 1)
    return [*engine_counts("runs", "successes", "escalations", "cost_usd", "cost_unknown_runs"),
            act.cast(nw.Int64).sum().alias("active_runs"),
            (act & outcome_is(Outcome.SUCCESS, nw)).cast(nw.Int64).sum().alias("active_successes"),
            handed_off.cast(nw.Int64).sum().alias("handoffs"), traced.cast(nw.Int64).sum().alias("traced")]


def _measure(facts: dict, agent: str, pols, policy_counts: dict, baselines, policy_test_results, shadow,
             shadow_window: str):
    """metric -> (value or None, evidence text) for one agent, from its facts (a row of the per-agent counts)."""
    out: dict[str, tuple[float | None, str]] = {}
    n = facts["runs"]
    out["completion_rate"] = (facts["completion_rate"],
                              f"{facts['active_successes']} of {facts['active_runs']} active runs succeeded")
    out["escalation_rate"] = (facts["escalation_rate"], f"{facts['escalations']} of {n} runs escalated")
    handoff, escalations = facts["handoffs"], facts["escalations"]
    out["escalation_handoff_share"] = (handoff / escalations if escalations else None,
                                       f"{handoff} of {escalations} escalations handed off through an escalation tool")
    traced = facts["traced"]
    out["fully_traced_share"] = (traced / n if n else None, f"{traced} of {n} runs fully traced")
    pairs = shadow.pairs.filter(pl.col("agent") == agent)
    agree = int(pairs["agree"].sum()) if pairs.height else 0
    out["shadow_agreement"] = (pairs.select(agreement()).item() if pairs.height else None,
                               f"{agree} of {pairs.height} shadow runs {shadow_window} agreed with the human decision")
    if any(p.name == agent for p in pols or []):
        bad, gated = policy_counts.get(agent, (0, 0))
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
    wf = facts["workflow"]
    b = base.get(wf)
    per_success = facts["cost_per_successful_run"]
    if b is None or b.hourly_cost_usd is None:
        out["cost_vs_human"] = (None, f"no human baseline with an hourly cost for workflow {wf}")
    elif per_success is None:
        out["cost_vs_human"] = (None, f"{facts['cost_unknown_runs']} runs of unknown cost, {facts['successes']} successes: "
                                      "not measurable")
    else:
        human = b.human_minutes_per_run / 60 * b.hourly_cost_usd
        out["cost_vs_human"] = (per_success / human, f"${per_success:.4f} per successful run vs ${human:.2f} human cost per task")
    return out


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def _policy_counts(eng, t, window, pols, approvals) -> dict[str, tuple[int, int]]:
    """agent -> (gated actions executed without an approval before them, gated actions) in the window."""
    from .policy_check import _evidence, _gated, unapproved_actions

    steps = t.steps.join(window.select("run_id", "agent").join(eng.frame(pl.DataFrame({"agent": [p.name for p in pols]})),
                                                                on="agent"), on="run_id")
    gated = steps.filter(nw.col("kind").is_in(TOOL_CALL_KINDS)).join(eng.frame(_gated(pols)), on=["agent", "tool_name"])
    bad = unapproved_actions(eng, steps, pols, eng.frame(_evidence(eng, steps, approvals)))
    counted = eng.collect(nw.concat([
        gated.group_by("agent").agg(nw.len().cast(nw.Int64).alias("n")).with_columns(nw.lit("gated").alias("what")),
        bad.group_by("agent").agg(nw.len().cast(nw.Int64).alias("n")).with_columns(nw.lit("bad").alias("what")),
    ]))
    found = {(r["agent"], r["what"]): int(r["n"]) for r in counted.iter_rows(named=True)}
    return {p.name: (found.get((p.name, "bad"), 0), found.get((p.name, "gated"), 0)) for p in pols}


def readiness(ts, config, policies=None, approvals=None, baselines=None, policy_tests=None,
              as_of: dt.datetime | None = None, mapping=None, quality=None, engine=None) -> Readiness:
    """Evaluate the checklist per agent over the last ``window_weeks`` before ``as_of`` (default: the last run).
    ``mapping`` (the one the traces were loaded with) names the escalation tools that count as a hand-off.
    ``quality``: a quality YAML file; each of its metrics adds a line, no-go when its floor is breached.
    Red-team runs are left out. ``engine``: where the runs are measured (``engine.py``: polars by default,
    DuckDB, Spark); quality lines read labels in polars.

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
    eng = get_engine(engine)
    t = eng.tables(ts)
    production_runs = t.runs.filter(production(nw))
    end = as_of or eng.collect(production_runs.select(nw.col("started_at").max()))["started_at"][0]
    if end is None:
        end = dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(weeks=cfg.window_weeks)
    tools = load_mapping(mapping).outcome.escalation_tools
    at = nw.col("started_at")
    window = production_runs.filter(at.is_null() | ((at > start) & (at <= end)))
    if tools:
        handoffs = (t.steps.filter(nw.col("tool_name").is_in(list(tools))).select("run_id").unique()
                    .with_columns(nw.lit(1).cast(nw.Int64).alias("_handoff")))
        window = window.join(handoffs, on="run_id", how="left").with_columns(nw.col("_handoff").fill_null(0))
    else:
        window = window.with_columns(nw.lit(0).cast(nw.Int64).alias("_handoff"))
    facts = conform_counts(eng.collect(window.group_by("agent").agg(*_agent_facts(window))),
                           "runs", "successes", "escalations", "cost_usd", "cost_unknown_runs", "active_runs",
                           "active_successes", "handoffs", "traced")
    workflows = (eng.collect(window.group_by("agent", "workflow").agg(nw.len().alias("_n")))
                 .sort(["agent", "_n", "workflow"], descending=[False, True, False], nulls_last=True)
                 .group_by("agent", maintain_order=True).agg(pl.col("workflow").first()))
    facts = (facts.with_columns(rates("escalation_rate", "cost_per_successful_run"))
             .with_columns(pl.when(pl.col("active_runs") > 0).then(pl.col("active_successes") / pl.col("active_runs"))
                           .alias("completion_rate"))  # RATES' completion_rate, over the active runs
             .join(workflows, on="agent", how="left"))
    # the window's shadow runs, as every other line counts the window's runs: the same answer from a store read
    # for the window as from every run in memory (counting all shadow runs loaded depended on what was loaded)
    shadow = shadow_report(ts, engine=eng)
    first, last = _utc(start), _utc(end)  # the pairs' times are UTC; an engine may hand back naive ones
    shadow.pairs = shadow.pairs.filter(pl.col("started_at").is_null()
                                       | ((pl.col("started_at") > first) & (pl.col("started_at") <= last)))
    shadow_window = f"of the {cfg.window_weeks} weeks to {last:%Y-%m-%d %H:%M} UTC"
    policy_counts = _policy_counts(eng, t, window, pols, approvals) if pols else {}
    rows = []
    for agent_facts in facts.filter(pl.col("agent").is_not_null()).sort("agent").iter_rows(named=True):
        agent = agent_facts["agent"]
        measured = _measure(agent_facts, agent, pols, policy_counts, base, test_results, shadow, shadow_window)
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
    rows += rollback_lines(sorted(facts["agent"].drop_nulls().unique().to_list()), cfg.rollback)
    if quality is not None:
        from .quality import readiness_lines, require_quality_names

        runs = eng.collect(window.select("run_id"))  # quality reads labels, in polars
        rows += readiness_lines(ts, runs, require_quality_names(ts, quality))
    return Readiness(pl.DataFrame(rows, schema={"agent": pl.String, "area": pl.String, "check": pl.String,
                                                "verdict": pl.String, "measured": pl.Float64, "threshold": pl.String,
                                                "evidence": pl.String, "owner": pl.String, "definition": pl.String}))
