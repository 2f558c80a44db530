"""Evaluate policies against a TraceSet: one violation row per broken rule (per run, or per step)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

import polars as pl

from ..charts import violations_by_rule
from ..model import TOOL_CALL_KINDS, ApprovalDecision, Severity, StepKind
from ..rendering import table
from ..results import Result, records
from ..runs_behind import Counted, RunsBehind
from ..scope import require_named
from .policy import Policy, load_policies

SEVERITY = {"unapproved_action": Severity.CRITICAL, "tool_not_allowed": Severity.HIGH, "outbound_domain": Severity.HIGH,
            "max_runtime": Severity.HIGH, "max_tool_calls": Severity.MEDIUM, "max_cost": Severity.MEDIUM,
            "retrieval_without_version": Severity.MEDIUM, "max_retries": Severity.LOW, "cost_unknown": Severity.LOW,
            "retention_exceeded": Severity.LOW, "provenance_no_documents": Severity.HIGH,
            "provenance_unversioned": Severity.HIGH, "provenance_stale": Severity.HIGH}
SEVERITY_ORDER = tuple(s.value for s in Severity)  # most severe first
VIOLATION_SCHEMA = {"run_id": pl.String, "agent": pl.String, "rule": pl.String, "detail": pl.String,
                    "severity": pl.String, "step_id": pl.String}
URL_HOST = r"https?://([A-Za-z0-9.-]+)"
EMAIL_HOST = r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"


@dataclass
class PolicyResult(Result):
    violations: pl.DataFrame
    policies: list[Policy] = field(default_factory=list)
    runs_checked: int = 0
    superseded: pl.DataFrame | None = None  # actions on document versions a later run shows were superseded
    title = "Policy check"

    @property
    def ok(self) -> bool:
        return self.violations.height == 0

    def summary(self) -> pl.DataFrame:
        return self.violations.group_by("agent", "rule", "severity").agg(
            pl.len().alias("violations"), pl.col("run_id").n_unique().alias("runs")).sort("agent", "rule")

    def counted(self) -> Counted:
        """The runs behind each count of ``summary()`` (violations, and the distinct runs among them)."""
        return counted_violations(self.violations)

    def runs_behind(self) -> list[RunsBehind]:
        """Every count of ``summary()`` with the runs it counts (``runs_behind.py``)."""
        return self.counted().all_behind(self.summary())

    def to_polars(self) -> pl.DataFrame:
        return self.violations

    def to_dict(self) -> dict:
        out = {"runs_checked": self.runs_checked, "violations": records(self.violations)}
        if self.superseded is not None:
            out["superseded"] = records(self.superseded)
        return out

    def _superseded_html(self) -> str:
        return "" if self.superseded is None else table(
            self.superseded, max_rows=200, caption="actions on a document version a later run shows was superseded")

    def html(self) -> str:
        lead = f"<p class='agentops-lead'>{self.violations.height} violations in {self.runs_checked} runs</p>"
        if self.ok:
            return f"{lead}<p>All runs inside their policies.</p>{self._superseded_html()}"
        return (lead + table(self.summary(), max_rows=500, caption="by agent and rule")
                + table(self.violations, max_rows=500, caption="violations") + self._superseded_html())

    def _repr_html_(self) -> str:
        head = f"<h4>Policy check — {self.violations.height} violations in {self.runs_checked} runs</h4>"
        if self.ok:
            return f"<div class='agentops-policy'>{head}<p>All runs inside their policies.</p>{self._superseded_html()}</div>"
        return f"<div class='agentops-policy'>{head}{table(self.summary(), max_rows=500)}{self._superseded_html()}</div>"

    def figure(self):
        return violations_by_rule(self.violations)


def counted_violations(violations: pl.DataFrame, section: str = "Policy violations") -> Counted:
    """Violations counted per agent, rule and severity (``violations``), with the distinct runs among them (``runs``)."""
    return Counted(section, violations.lazy(), ("agent", "rule", "severity"), {"violations": None, "runs": None},
                   distinct=("runs",))


def _policy_frame(policies: list[Policy]) -> pl.DataFrame:
    return pl.DataFrame([{
        "agent": p.name, "_max_runtime": p.max_runtime_seconds, "_max_tools": p.max_tool_calls,
        "_max_cost": p.max_cost_usd, "_max_retries": p.max_retries, "_retention": p.logging.retention_days,
        "_versions": p.logging.store_retrieval_sources,
    } for p in policies], schema={"agent": pl.String, "_max_runtime": pl.Float64, "_max_tools": pl.Int64,
                                  "_max_cost": pl.Float64, "_max_retries": pl.Int64, "_retention": pl.Int64,
                                  "_versions": pl.Boolean})


def _v(frame: pl.LazyFrame, rule: str, detail: pl.Expr, step: pl.Expr | None = None) -> pl.LazyFrame:
    return frame.select("run_id", "agent", pl.lit(rule).alias("rule"), detail.alias("detail"),
                        pl.lit(SEVERITY[rule].value).alias("severity"),
                        (step if step is not None else pl.lit(None, pl.String)).alias("step_id"))


def _domain_allowed(domain: str, allowed: list[str]) -> bool:
    domain = domain.lower().rstrip(".")
    return any(domain == a.lower() or domain.endswith("." + a.lower()) for a in allowed)


def require_policy_agents(ts, policies, what: str = "policy check") -> list[Policy]:
    """The policies, once every agent they name has runs in the traces loaded (NothingToShow naming the
    policy file and what the traces hold otherwise)."""
    policies = load_policies(policies)
    require_named(ts, what, agents={p.name: p.source_file for p in policies})
    return policies


def check_policy(ts, policies, approvals: pl.DataFrame | None = None, as_of: dt.datetime | None = None,
                 check_names: bool = True) -> PolicyResult:
    """Evaluate every run of the agents the policies name. A policy naming an agent with no run in the traces
    loaded (a typo, most often) raises NothingToShow listing the agents and workflows the traces hold;
    ``check_names=False`` is for callers that evaluate a chosen subset of runs on purpose (gate evidence).

    approvals: optional approval decisions from an ApprovalQueue (``queue.decisions()``), used as evidence
    beside the approval steps in the traces. as_of: the time retention is measured from (default: now).

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> result = ak.check_policy(ts, "templates/policies")
        >>> result.runs_checked, int((result.violations["rule"] == "max_runtime").sum())
        (616, 5)
    """
    policies = require_policy_agents(ts, policies) if check_names else load_policies(policies)
    pf = _policy_frame(policies).lazy()
    runs = ts.runs.join(pf, on="agent", how="inner")
    steps = ts.steps.join(runs.select("run_id", "agent"), on="run_id", how="inner")
    parts = []
    secs = pl.col("duration_s").round(1).cast(pl.String)
    parts.append(_v(runs.filter(pl.col("duration_s") > pl.col("_max_runtime")), "max_runtime",
                    pl.format("ran {} s, cap {} s", secs, pl.col("_max_runtime"))))
    parts.append(_v(runs.filter(pl.col("tool_calls") > pl.col("_max_tools")), "max_tool_calls",
                    pl.format("{} tool calls, cap {}", "tool_calls", "_max_tools")))
    parts.append(_v(runs.filter(pl.col("cost_usd") > pl.col("_max_cost")), "max_cost",
                    pl.format("cost ${}, cap ${}", pl.col("cost_usd").round(4), "_max_cost")))
    parts.append(_v(runs.filter(pl.col("_max_cost").is_not_null() & pl.col("cost_usd").is_null()), "cost_unknown",
                    pl.lit("cost unknown: the cost cap cannot be checked")))
    now = as_of or dt.datetime.now(dt.timezone.utc)
    parts.append(_v(runs.filter(pl.col("started_at") < pl.lit(now) - pl.duration(days=pl.col("_retention"))),
                    "retention_exceeded", pl.format("run from {} is older than {} days", pl.col("started_at").dt.date(), "_retention")))
    tools = steps.filter(pl.col("kind").is_in(TOOL_CALL_KINDS))
    retries = (tools.group_by("run_id", "agent", "tool_name", "input").agg(pl.len().alias("_n"))
               .group_by("run_id", "agent").agg((pl.col("_n") - 1).max().alias("_retries"),
                                                pl.col("tool_name").sort_by("_n").last().alias("_tool"))
               .join(pf.select("agent", "_max_retries"), on="agent").filter(pl.col("_retries") > pl.col("_max_retries")))
    parts.append(_v(retries, "max_retries", pl.format("{} retried {} times with the same input, cap {}", "_tool", "_retries", "_max_retries")))

    allowed = pl.DataFrame([(p.name, t) for p in policies if p.tools_allowlist is not None
                            for t in {*p.tools_allowlist, *p.actions_require_approval}],
                           schema={"agent": pl.String, "tool_name": pl.String}, orient="row").lazy()
    listed = [p.name for p in policies if p.tools_allowlist is not None]
    off_list = tools.filter(pl.col("agent").is_in(listed)).join(allowed, on=["agent", "tool_name"], how="anti")
    parts.append(_v(off_list, "tool_not_allowed", pl.format("tool '{}' is not in the allowlist", "tool_name"), pl.col("step_id")))

    gated = pl.DataFrame([(p.name, t) for p in policies for t in p.actions_require_approval],
                         schema={"agent": pl.String, "tool_name": pl.String}, orient="row").lazy()
    gated_steps = tools.join(gated, on=["agent", "tool_name"], how="inner")
    approved = (pl.col("kind") == StepKind.APPROVAL) & (pl.col("approval_decision") == ApprovalDecision.APPROVED)
    evidence = ts.steps.filter(approved).select(
        "run_id", pl.col("attributes").str.json_path_match('$["agentops.approval.action"]').alias("_for"),
        pl.coalesce("ended_at", "started_at").alias("_approved_at"))
    if approvals is not None and approvals.height:
        evidence = pl.concat([evidence, approvals.lazy().filter(pl.col("decision") == ApprovalDecision.APPROVED).select(
            "run_id", pl.col("action").alias("_for"), pl.col("decided_at").alias("_approved_at"))], how="vertical_relaxed")
    def covered(candidates: pl.LazyFrame) -> pl.LazyFrame:
        """(run_id, step_id) of the candidate calls with an approval for them (or for none named) before them."""
        return (candidates.join(evidence, on="run_id", how="inner")
                .filter((pl.col("_approved_at") <= pl.col("started_at")) | pl.col("started_at").is_null())
                .filter(pl.col("_for").is_null() | (pl.col("_for") == pl.col("tool_name")))
                .select("run_id", "step_id").unique())

    unapproved = gated_steps.join(covered(gated_steps), on=["run_id", "step_id"], how="anti")
    parts.append(_v(unapproved, "unapproved_action",
                    pl.format("'{}' executed without an approval before it", "tool_name"), pl.col("step_id")))

    if any(p.logging.store_retrieval_sources for p in policies):
        need = pf.filter(pl.col("_versions")).select("agent")
        missing = (ts.sources.filter(pl.col("version").is_null()).join(steps.select("run_id", "step_id", "agent"),
                   on=["run_id", "step_id"]).join(need, on="agent"))
        parts.append(_v(missing, "retrieval_without_version",
                        pl.format("document '{}' retrieved without a version", "document_id"), pl.col("step_id")))

    superseded = None
    if any(p.provenance is not None for p in policies):
        from .provenance import provenance_violations, superseded_actions

        found = provenance_violations(steps, ts.sources, ts.steps, policies, covered, URL_HOST, EMAIL_HOST)
        parts.append(found.select("run_id", "agent", "rule", "detail",
                                  pl.col("rule").replace_strict(SEVERITY, return_dtype=pl.String).alias("severity"), "step_id"))
        superseded = superseded_actions(ts, policies, URL_HOST, EMAIL_HOST)
    violations = pl.concat([p.cast(VIOLATION_SCHEMA) for p in parts]).collect()  # type: ignore[arg-type]
    violations = pl.concat([violations, _outbound(tools, policies)])
    order = {name: rank for rank, name in enumerate(SEVERITY_ORDER)}
    violations = violations.with_columns(pl.col("severity").replace_strict(order, return_dtype=pl.Int8).alias("_o")) \
        .sort("_o", "agent", "rule", "run_id", "step_id", nulls_last=True).drop("_o")
    return PolicyResult(violations, policies, runs.select(pl.len()).collect().item(), superseded)


def _outbound(tools: pl.LazyFrame, policies: list[Policy]) -> pl.DataFrame:
    limits = {p.name: p.outbound_domains_allowlist for p in policies if p.outbound_domains_allowlist is not None}
    if not limits:
        return pl.DataFrame(schema=VIOLATION_SCHEMA)
    hosts = (tools.filter(pl.col("agent").is_in(list(limits)))
             .select("run_id", "agent", "step_id", "tool_name",
                     pl.concat_list(pl.col("input").fill_null("").str.extract_all(URL_HOST),
                                    pl.col("input").fill_null("").str.extract_all(EMAIL_HOST)).alias("_hits"))
             .explode("_hits").filter(pl.col("_hits").is_not_null()).collect())
    rows = []
    for r in hosts.iter_rows(named=True):  # only the few calls that name a host
        host = re.sub(r"^(https?://|.*@)", "", r["_hits"]).lower()
        if not _domain_allowed(host, limits[r["agent"]]):
            rows.append({"run_id": r["run_id"], "agent": r["agent"], "rule": "outbound_domain",
                         "detail": f"'{r['tool_name']}' contacts {host}, outside {json.dumps(limits[r['agent']])}",
                         "severity": SEVERITY["outbound_domain"].value, "step_id": r["step_id"]})
    return pl.DataFrame(rows, schema=VIOLATION_SCHEMA)
