"""Evidence for removing an approval gate: how each gated action's approvals went, and a documented rule
(``gate_removal:`` in the readiness YAML) that says "gate can be relaxed" or "keep the gate", with the numbers.

Per gate (agent × gated action), over the evidence window (``window_weeks`` before ``as_of``; the whole
history by default), production runs only:

- ``requests`` — approval requests: the approvals store's, plus the approval steps in the traces that the
  store does not hold (same run and action);
- ``approved / rejected / edited / expired / pending`` — their state at ``as_of``; an edit is an approval
  step whose decision is one of ``edited_values`` (the approver changed what the agent proposed);
- ``p50 / p95_time_to_decision_s`` — from the request to its decision;
- ``weeks_without_rejection`` — consecutive ISO weeks, up to the week of ``as_of``, since the later of the
  first decision's week and the week after the last rejection (weeks without a request count: nothing was
  rejected in them); 0 without any decision;
- ``runs`` — the runs that requested or executed the action; ``customer_impact_errors`` — of those, the
  runs labelled customer_impact; ``policy_violations`` — every policy violation in those runs (unknown
  without policies).

The rule: decisions ≥ ``min_decisions``, weeks without rejection ≥ ``min_weeks``, rejections ≤
``max_rejections``, edits ≤ ``max_edits``, customer-impact errors ≤ ``max_customer_impact_errors`` and policy
violations ≤ ``max_policy_violations``. Every condition met: "gate can be relaxed"; any one missed or unknown:
"keep the gate", and the reasons say which.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from ..model import TOOL_CALL_KINDS, UTC_TS, ApprovalDecision, ApprovalState, StepKind
from ..rendering import esc, table
from ..results import Result, records
from .definitions import PRODUCTION, impacted_runs
from .gate_rule import GateRule

RELAX, KEEP = "gate can be relaxed", "keep the gate"
EDITED = "edited"  # a request state of the traces only: the approver changed what the agent proposed
DECISIONS = [d.value for d in ApprovalDecision]  # as text: a list of enum members would make polars build an Enum


def load_rule(source) -> GateRule | None:
    """A GateRule, a dict, or a readiness YAML file / config whose ``gate_removal:`` holds the rule."""
    from .readiness import ReadinessConfig, load_readiness

    if source is None or isinstance(source, GateRule):
        return source
    if isinstance(source, dict) and "checks" not in source:
        return GateRule.model_validate(source)
    config = source if isinstance(source, ReadinessConfig) else load_readiness(source)
    return config.gate_removal


def _requests(approvals) -> pl.DataFrame:
    """The store's requests (id, agent, run_id, action, status, requested_at, decided_at, ...)."""
    if approvals is None:
        return pl.DataFrame(schema={"agent": pl.String, "run_id": pl.String, "action": pl.String,
                                    "status": pl.String, "requested_at": UTC_TS, "decided_at": UTC_TS})
    frame = approvals if isinstance(approvals, pl.DataFrame) else approvals.requests()
    return frame.select("agent", "run_id", "action", "status",
                        pl.col("requested_at").cast(UTC_TS), pl.col("decided_at").cast(UTC_TS))


def _trace_approvals(ts, edited: list[str]) -> pl.LazyFrame:
    decision = pl.col("approval_decision").str.to_lowercase()
    return (ts.steps.filter(pl.col("kind") == StepKind.APPROVAL)
            .join(ts.runs.select("run_id", "agent"), on="run_id")
            .select("agent", "run_id",
                    pl.col("attributes").str.json_path_match('$["agentops.approval.action"]')
                    .fill_null("(not named)").alias("action"),
                    pl.when(decision.is_in(edited)).then(pl.lit(EDITED))
                    .when(decision.is_in(DECISIONS)).then(decision)
                    .otherwise(pl.lit(ApprovalState.PENDING.value)).alias("status"),
                    pl.col("started_at").alias("requested_at"),
                    pl.when(decision.is_not_null()).then(pl.coalesce("ended_at", "started_at")).alias("decided_at")))


@dataclass
class GateEvidence(Result):
    """One row per gate: the evidence, and the verdict of the rule with its reasons."""

    frame: pl.DataFrame
    rule: GateRule | None
    as_of: dt.datetime
    title = "Evidence for removing approval gates"

    def relaxable(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("verdict") == RELAX)

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def to_dict(self) -> dict:
        return {"title": self.title, "as_of": self.as_of.isoformat(),
                "rule": None if self.rule is None else self.rule.model_dump(), "gates": records(self.frame)}

    def rule_text(self) -> str:
        return "no gate_removal rule in the readiness file: evidence only" if self.rule is None else (
            f"rule: ≥ {self.rule.min_decisions} decisions, ≥ {self.rule.min_weeks} weeks without a rejection, "
            f"≤ {self.rule.max_rejections} rejections, ≤ {self.rule.max_edits} edits, "
            f"≤ {self.rule.max_customer_impact_errors} customer-impact errors"
            + ("" if self.rule.max_policy_violations is None else f", ≤ {self.rule.max_policy_violations} policy violations")
            + (f", over the last {self.rule.window_weeks} weeks" if self.rule.window_weeks else ", over the whole history"))

    def html(self) -> str:
        return (f"<p class='agentops-lead'>as of {self.as_of:%Y-%m-%d %H:%M} UTC; {esc(self.rule_text())}</p>"
                f"{table(self.frame, max_rows=200)}")


def gate_evidence(ts, approvals=None, policies=None, rule=None, as_of: dt.datetime | None = None) -> GateEvidence:
    """Evidence per gated action, from the approvals store (an ApprovalQueue, or its ``requests()`` frame) and
    the traces; ``policies`` name the gated actions and give the policy violations of the runs around each
    gate; ``rule``: a GateRule, a dict, or the readiness YAML holding ``gate_removal:``."""
    from .policy import load_policies
    from .policy_check import check_policy

    rule = load_rule(rule)
    pols = load_policies(policies) if policies is not None else None
    edited = [v.lower() for v in (rule.edited_values if rule else GateRule.model_fields["edited_values"].default)]
    red = ts.runs.filter(~PRODUCTION).select("run_id")
    store = _requests(approvals)
    traced = _trace_approvals(ts, edited).join(store.lazy().select("run_id", "action"), on=["run_id", "action"], how="anti")
    events = pl.concat([store.lazy(), traced], how="vertical_relaxed").join(red, on="run_id", how="anti")
    if as_of is None:
        as_of = events.select(pl.max_horizontal(pl.col("requested_at").max(), pl.col("decided_at").max())).collect().item() \
            or ts.runs.select(pl.col("started_at").max()).collect().item() or dt.datetime.now(dt.timezone.utc)
    start = as_of - dt.timedelta(weeks=rule.window_weeks) if rule and rule.window_weeks else None
    decided_later = pl.col("decided_at") > as_of
    events = (events.filter(pl.col("requested_at") <= as_of)
              .with_columns(pl.when(decided_later & (pl.col("status") != ApprovalState.EXPIRED))
                            .then(pl.lit(ApprovalState.PENDING.value))
                            .otherwise(pl.col("status")).alias("status"),
                            pl.when(decided_later).then(None).otherwise(pl.col("decided_at")).alias("decided_at")))
    history = events  # the streak looks at every rejection, not only the window's
    if start is not None:
        events = events.filter(pl.col("requested_at") > start)

    gates = pl.concat([
        events.select("agent", "action"),
        pl.LazyFrame([(p.name, a) for p in pols or [] for a in p.actions_require_approval],
                     schema={"agent": pl.String, "action": pl.String}, orient="row"),
    ]).unique()
    decided = pl.col("status").is_in([*DECISIONS, EDITED])
    seconds = (pl.col("decided_at") - pl.col("requested_at")).dt.total_microseconds() / 1e6
    counts = events.group_by("agent", "action").agg(
        pl.len().alias("requests"),
        decided.sum().alias("decisions"),
        *[(pl.col("status") == s).sum().alias(s) for s in (ApprovalState.APPROVED.value, ApprovalState.REJECTED.value,
                                                            EDITED, ApprovalState.EXPIRED.value,
                                                            ApprovalState.PENDING.value)],
        seconds.filter(decided).quantile(0.5, "linear").alias("p50_time_to_decision_s"),
        seconds.filter(decided).quantile(0.95, "linear").alias("p95_time_to_decision_s"),
    )
    monday = lambda e: e.dt.truncate("1w")  # noqa: E731  (ISO weeks start on Monday)
    this_week = dt.datetime.combine(as_of.date() - dt.timedelta(days=as_of.weekday()), dt.time(), tzinfo=dt.timezone.utc)
    streak = history.group_by("agent", "action").agg(
        monday(pl.col("decided_at").filter(decided).min()).alias("_first"),
        (monday(pl.col("decided_at").filter(pl.col("status") == ApprovalState.REJECTED).max()) + pl.duration(weeks=1)).alias("_after"),
    ).with_columns(
        ((pl.lit(this_week) - pl.max_horizontal("_first", "_after")).dt.total_days() // 7 + 1)
        .clip(lower_bound=0).fill_null(0).cast(pl.Int64).alias("weeks_without_rejection")
    ).select("agent", "action", "weeks_without_rejection")

    # the runs around each gate: requested or executed the action, inside the window
    runs = ts.runs.filter(PRODUCTION & (pl.col("started_at") <= as_of)
                          & (pl.lit(True) if start is None else pl.col("started_at") > start)).select("run_id", "agent", "started_at")
    executed = (ts.steps.filter(pl.col("kind").is_in(TOOL_CALL_KINDS)).select("run_id", pl.col("tool_name").alias("action"))
                .join(runs, on="run_id").select("agent", "action", "run_id"))
    around = (pl.concat([events.select("agent", "action", "run_id").filter(pl.col("run_id").is_not_null()), executed])
              .join(gates, on=["agent", "action"], how="semi").unique())
    impact = impacted_runs(ts.labels).with_columns(pl.lit(True).alias("_impact"))
    around = around.join(impact, on="run_id", how="left")
    if pols is not None:
        ids = around.select("run_id").unique()
        sub = ts.only_runs(ids)
        decisions = store.filter(pl.col("status").is_in(DECISIONS)).select(
            "run_id", "action", pl.col("status").alias("decision"), "decided_at")
        per_run = check_policy(sub, pols, approvals=decisions, as_of=as_of, check_names=False).violations.group_by("run_id").agg(
            pl.len().alias("_violations")).lazy()
        around = around.join(per_run, on="run_id", how="left").with_columns(pl.col("_violations").fill_null(0))
    else:
        around = around.with_columns(pl.lit(None, pl.UInt32).alias("_violations"))
    around_counts = around.group_by("agent", "action").agg(
        pl.col("run_id").n_unique().alias("runs"),
        pl.col("_impact").fill_null(False).sum().alias("customer_impact_errors"),
        pl.col("_violations").sum().alias("policy_violations"))
    frame = (gates.join(counts, on=["agent", "action"], how="left").join(streak, on=["agent", "action"], how="left")
             .join(around_counts, on=["agent", "action"], how="left").collect())
    ints = ("requests", "decisions", "approved", "rejected", "edited", "expired", "pending", "weeks_without_rejection",
            "runs", "customer_impact_errors")
    frame = frame.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in ints).with_columns(
        pl.col("policy_violations").cast(pl.Int64) if pols is not None
        else pl.lit(None, pl.Int64).alias("policy_violations"))
    frame = frame.with_columns(pl.col("policy_violations").fill_null(0)) if pols is not None else frame
    verdict, reasons = _verdict(rule)
    return GateEvidence(frame.with_columns(verdict.alias("verdict"), reasons.alias("reasons")).select(
        "agent", "action", "verdict", "requests", "decisions", "approved", "rejected", "edited", "expired", "pending",
        "p50_time_to_decision_s", "p95_time_to_decision_s", "weeks_without_rejection", "runs",
        "customer_impact_errors", "policy_violations", "reasons").sort("agent", "action"), rule, as_of)


def _verdict(rule: GateRule | None) -> tuple[pl.Expr, pl.Expr]:
    if rule is None:
        return pl.lit(None, pl.String), pl.lit("no gate_removal rule in the readiness file")
    checks = [  # (column, comparison, bound, words)
        ("decisions", ">=", rule.min_decisions, "decisions"),
        ("weeks_without_rejection", ">=", rule.min_weeks, "weeks without a rejection"),
        ("rejected", "<=", rule.max_rejections, "rejections"),
        ("edited", "<=", rule.max_edits, "edits"),
        ("customer_impact_errors", "<=", rule.max_customer_impact_errors, "customer-impact errors"),
    ]
    if rule.max_policy_violations is not None:
        checks.append(("policy_violations", "<=", rule.max_policy_violations, "policy violations"))
    parts, oks = [], []
    for column, op, bound, words in checks:
        ok = pl.col(column) >= bound if op == ">=" else pl.col(column) <= bound
        ok = ok.fill_null(False)  # unknown never relaxes a gate
        sign = "≥" if op == ">=" else "≤"
        shown = pl.col(column).cast(pl.String).fill_null("unknown")
        parts.append(pl.format("{} {} ({} {}: {})", pl.lit(words), shown, pl.lit(sign), pl.lit(bound),
                               pl.when(ok).then(pl.lit("met")).otherwise(pl.lit("NOT met"))))
        oks.append(ok)
    all_ok = pl.all_horizontal(oks)
    return (pl.when(all_ok).then(pl.lit(RELAX)).otherwise(pl.lit(KEEP)),
            pl.concat_str(parts, separator="; "))
