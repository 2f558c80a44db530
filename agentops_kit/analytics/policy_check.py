"""Evaluate policies against a TraceSet: one violation row per broken rule (per run, or per step)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import polars as pl

from ..charts import violations_by_rule
from ..model import TOOL_CALL_KINDS, UTC_TS, ApprovalDecision, Severity, StepKind
from ..rendering import table
from ..results import Result, records
from ..runs_behind import Counted, RunsBehind
from ..scope import require_named
from .engine import POLARS, get_engine
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


def _policy_frame(policies: list[Policy], now: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame([{
        "agent": p.name, "_max_runtime": p.max_runtime_seconds, "_max_tools": p.max_tool_calls,
        "_max_cost": p.max_cost_usd, "_max_retries": p.max_retries, "_retention": p.logging.retention_days,
        "_cutoff": None if p.logging.retention_days is None else now - dt.timedelta(days=p.logging.retention_days),
        "_versions": p.logging.store_retrieval_sources,
    } for p in policies], schema={"agent": pl.String, "_max_runtime": pl.Float64, "_max_tools": pl.Int64,
                                  "_max_cost": pl.Float64, "_max_retries": pl.Int64, "_retention": pl.Int64,
                                  "_cutoff": UTC_TS, "_versions": pl.Boolean})


# A violation as found on the engine: its rule, where, and the raw values its text is made of (in polars, after).
FOUND: dict[str, Any] = {"run_id": nw.String, "agent": nw.String, "rule": nw.String, "step_id": nw.String, "_n1": nw.Int64,
         "_n2": nw.Int64, "_f1": nw.Float64, "_f2": nw.Float64, "_text": nw.String, "_day": nw.Date}
DETAIL = {
    "max_runtime": pl.format("ran {} s, cap {} s", pl.col("_f1").round(1).cast(pl.String), "_f2"),
    "max_tool_calls": pl.format("{} tool calls, cap {}", "_n1", "_n2"),
    "max_cost": pl.format("cost ${}, cap ${}", pl.col("_f1").round(4), "_f2"),
    "cost_unknown": pl.lit("cost unknown: the cost cap cannot be checked"),
    "retention_exceeded": pl.format("run from {} is older than {} days", "_day", "_n2"),
    "max_retries": pl.format("{} retried {} times with the same input, cap {}", "_text", "_n1", "_n2"),
    "tool_not_allowed": pl.format("tool '{}' is not in the allowlist", "_text"),
    "unapproved_action": pl.format("'{}' executed without an approval before it", "_text"),
    "retrieval_without_version": pl.format("document '{}' retrieved without a version", "_text"),
}


def _found(frame, rule: str, **values):
    """The violations ``frame`` holds, in the one shape of FOUND (``values``: column -> expression)."""
    values.setdefault("step_id", nw.lit(None))
    return frame.select(nw.col("run_id").cast(nw.String), nw.col("agent").cast(nw.String), nw.lit(rule).alias("rule"),
                        *[(values[c] if c in values else nw.lit(None)).cast(t).alias(c)
                          for c, t in FOUND.items() if c not in ("run_id", "agent", "rule")])


def _detail() -> pl.Expr:
    chain: Any = pl
    for rule, text in DETAIL.items():
        chain = chain.when(pl.col("rule") == rule).then(text)
    return chain.otherwise(pl.lit(None, pl.String))


def _evidence(eng, steps, approvals: pl.DataFrame | None) -> pl.DataFrame:
    """(run_id, _for, _approved_at) of every approval of the checked runs: the approved approval steps (the
    action they name is read from their attributes, in polars: they are few) and the store's decisions."""
    approved = (nw.col("kind") == StepKind.APPROVAL.value) & (nw.col("approval_decision") == ApprovalDecision.APPROVED.value)
    found = eng.collect(steps.filter(approved).select("run_id", "attributes", "started_at", "ended_at"))
    evidence = found.lazy().select(
        "run_id", pl.col("attributes").str.json_path_match('$["agentops.approval.action"]').alias("_for"),
        pl.coalesce(pl.col("ended_at").cast(UTC_TS), pl.col("started_at").cast(UTC_TS)).alias("_approved_at"))
    if approvals is not None and approvals.height:
        evidence = pl.concat([evidence, approvals.lazy().filter(pl.col("decision") == ApprovalDecision.APPROVED).select(
            "run_id", pl.col("action").alias("_for"), pl.col("decided_at").alias("_approved_at"))], how="vertical_relaxed")
    return evidence.collect()


def _covered(candidates, evidence):
    """(run_id, step_id) of the candidate calls with an approval for them (or for none named) before them."""
    return (candidates.join(evidence, on="run_id", how="inner")
            .filter((nw.col("_approved_at") <= nw.col("started_at")) | nw.col("started_at").is_null())
            .filter(nw.col("_for").is_null() | (nw.col("_for") == nw.col("tool_name")))
            .select("run_id", "step_id").unique())


def _gated(policies: list[Policy], agents: list[str] | None = None) -> pl.DataFrame:
    return pl.DataFrame([(p.name, t) for p in policies if agents is None or p.name in agents
                         for t in p.actions_require_approval],
                        schema={"agent": pl.String, "tool_name": pl.String}, orient="row")


def unapproved_actions(eng, steps, policies: list[Policy], evidence):
    """The gated calls among ``steps`` (carrying their run's agent) executed without an approval before them."""
    tools = steps.filter(nw.col("kind").is_in(TOOL_CALL_KINDS))
    gated_steps = tools.join(eng.frame(_gated(policies)), on=["agent", "tool_name"], how="inner")
    return gated_steps.join(_covered(gated_steps, evidence), on=["run_id", "step_id"], how="anti")


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
                 check_names: bool = True, engine=None) -> PolicyResult:
    """Evaluate every run of the agents the policies name. A policy naming an agent with no run in the traces
    loaded (a typo, most often) raises NothingToShow listing the agents and workflows the traces hold;
    ``check_names=False`` is for callers that evaluate a chosen subset of runs on purpose (gate evidence).

    approvals: optional approval decisions from an ApprovalQueue (``queue.decisions()``), used as evidence
    beside the approval steps in the traces. as_of: the time retention is measured from (default: now).
    engine: where the runs are checked — ``"polars"`` (default), ``"duckdb"``, ``"spark"``, a DuckDB connection
    or a SparkSession (``engine.py``); the provenance rules run on polars.

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> result = ak.check_policy(ts, "templates/policies")
        >>> result.runs_checked, int((result.violations["rule"] == "max_runtime").sum())
        (616, 5)
    """
    policies = require_policy_agents(ts, policies) if check_names else load_policies(policies)
    eng = get_engine(engine)
    now = as_of or dt.datetime.now(dt.timezone.utc)
    found, evidence = _check(eng, eng.tables(ts), policies, approvals, now)
    runs_checked = int(found.pop("runs_checked"))
    parts = [found.pop("violations")]
    superseded = None
    if any(p.provenance is not None for p in policies):
        from .provenance import provenance_violations, superseded_actions

        on_polars = POLARS.tables(ts)
        pf = POLARS.frame(_policy_frame(policies, now).select("agent"))
        steps = on_polars.steps.join(on_polars.runs.join(pf, on="agent").select("run_id", "agent"), on="run_id")
        mine = nw.from_native(evidence.lazy())
        found_p = provenance_violations(steps.to_native(), ts.sources, ts.steps, policies,
                                        lambda c: _covered(nw.from_native(c), mine).to_native(), URL_HOST, EMAIL_HOST)
        parts.append(found_p.select("run_id", "agent", "rule", "detail",
                                    pl.col("rule").replace_strict(SEVERITY, return_dtype=pl.String).alias("severity"),
                                    "step_id").collect())
        superseded = superseded_actions(ts, policies, URL_HOST, EMAIL_HOST)
    parts.append(found.pop("outbound"))
    violations = pl.concat([p.cast(VIOLATION_SCHEMA) for p in parts])  # type: ignore[arg-type]
    order = {name: rank for rank, name in enumerate(SEVERITY_ORDER)}
    violations = violations.with_columns(pl.col("severity").replace_strict(order, return_dtype=pl.Int8).alias("_o")) \
        .sort("_o", "agent", "rule", "run_id", "step_id", nulls_last=True).drop("_o")
    return PolicyResult(violations, policies, runs_checked, superseded)


def _check(eng, t, policies: list[Policy], approvals, now: dt.datetime) -> tuple[dict, pl.DataFrame]:
    """The rules on the engine: {"violations", "outbound", "runs_checked"} and the approval evidence."""
    pf = eng.frame(_policy_frame(policies, now))
    runs = t.runs.join(pf, on="agent", how="inner")
    steps = t.steps.join(runs.select("run_id", "agent"), on="run_id", how="inner")
    tools = steps.filter(nw.col("kind").is_in(TOOL_CALL_KINDS))
    c = nw.col
    parts = [
        _found(runs.filter(c("duration_s") > c("_max_runtime")), "max_runtime", _f1=c("duration_s"), _f2=c("_max_runtime")),
        _found(runs.filter(c("tool_calls") > c("_max_tools")), "max_tool_calls", _n1=c("tool_calls"), _n2=c("_max_tools")),
        _found(runs.filter(c("cost_usd") > c("_max_cost")), "max_cost", _f1=c("cost_usd"), _f2=c("_max_cost")),
        _found(runs.filter(~c("_max_cost").is_null() & c("cost_usd").is_null()), "cost_unknown"),
        _found(runs.filter(c("started_at") < c("_cutoff")), "retention_exceeded", _n2=c("_retention"),
               _day=c("started_at").dt.date()),
    ]
    per_input = tools.group_by("run_id", "agent", "tool_name", "input").agg(nw.len().alias("_n"))
    top = per_input.group_by("run_id", "agent").agg(c("_n").max().alias("_top"))
    retries = (per_input.join(top, on=["run_id", "agent"]).filter(c("_n") == c("_top"))
               .group_by("run_id", "agent").agg(c("tool_name").min().alias("_tool"), c("_top").max().alias("_top"))
               .join(pf.select("agent", "_max_retries"), on="agent").filter(c("_top") - 1 > c("_max_retries")))
    parts.append(_found(retries, "max_retries", _text=c("_tool"), _n1=c("_top") - 1, _n2=c("_max_retries")))

    listed = [p.name for p in policies if p.tools_allowlist is not None]
    if listed:
        allowed = pl.DataFrame([(p.name, t) for p in policies if p.tools_allowlist is not None
                                for t in {*p.tools_allowlist, *p.actions_require_approval}],
                               schema={"agent": pl.String, "tool_name": pl.String}, orient="row")
        off_list = tools.filter(c("agent").is_in(listed)).join(eng.frame(allowed), on=["agent", "tool_name"], how="anti")
        parts.append(_found(off_list, "tool_not_allowed", _text=c("tool_name"), step_id=c("step_id")))

    evidence = _evidence(eng, steps, approvals)
    if any(p.actions_require_approval for p in policies):
        unapproved = unapproved_actions(eng, steps, policies, eng.frame(evidence))
        parts.append(_found(unapproved, "unapproved_action", _text=c("tool_name"), step_id=c("step_id")))

    if any(p.logging.store_retrieval_sources for p in policies):
        need = pf.filter(c("_versions")).select("agent")
        missing = (t.sources.filter(c("version").is_null()).join(steps.select("run_id", "step_id", "agent"),
                   on=["run_id", "step_id"]).join(need, on="agent"))
        parts.append(_found(missing, "retrieval_without_version", _text=c("document_id"), step_id=c("step_id")))

    found = eng.collect(nw.concat(parts))
    violations = found.select("run_id", "agent", "rule", _detail().alias("detail"),
                              pl.col("rule").replace_strict(SEVERITY, return_dtype=pl.String).alias("severity"), "step_id")
    limits = {p.name: p.outbound_domains_allowlist for p in policies if p.outbound_domains_allowlist is not None}
    naming = (c("input").str.contains("://", literal=True) | c("input").str.contains("@", literal=True))
    calls = eng.collect(tools.filter(c("agent").is_in(list(limits)) & naming)
                        .select("run_id", "agent", "step_id", "tool_name", "input")) if limits else None
    return {"violations": violations, "outbound": _outbound(calls, limits),
            "runs_checked": eng.collect(runs.select(nw.len().alias("n")))["n"][0]}, evidence


def _outbound(calls: pl.DataFrame | None, limits: dict[str, list[str]]) -> pl.DataFrame:
    """outbound_domain violations of the tool calls whose input names a URL or an e-mail address."""
    if calls is None or not calls.height:
        return pl.DataFrame(schema=VIOLATION_SCHEMA)
    hosts = (calls.select("run_id", "agent", "step_id", "tool_name",
                          pl.concat_list(pl.col("input").fill_null("").str.extract_all(URL_HOST),
                                         pl.col("input").fill_null("").str.extract_all(EMAIL_HOST)).alias("_hits"))
             .explode("_hits").filter(pl.col("_hits").is_not_null()))
    rows = []
    for r in hosts.iter_rows(named=True):  # only the few calls that name a host
        host = re.sub(r"^(https?://|.*@)", "", r["_hits"]).lower()
        if not _domain_allowed(host, limits[r["agent"]]):
            rows.append({"run_id": r["run_id"], "agent": r["agent"], "rule": "outbound_domain",
                         "detail": f"'{r['tool_name']}' contacts {host}, outside {json.dumps(limits[r['agent']])}",
                         "severity": SEVERITY["outbound_domain"].value, "step_id": r["step_id"]})
    return pl.DataFrame(rows, schema=VIOLATION_SCHEMA)
