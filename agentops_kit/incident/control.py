"""The control change an incident ends in, made concrete: candidate policy changes that would have caught the
run, each measured against the agent's other runs (how many more it would flag), the one proposed as a
unified diff of the policy file, and the run itself as a policy test case that fails until a policy catches it.

A candidate only counts when checking the run with it finds a rule the policy as it is does not: it is
verified with the policy checker, not assumed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import yaml

from ..analytics.policy import Policy, load_policy
from ..analytics.policy_check import SEVERITY, SEVERITY_ORDER, check_policy
from ..errors import AgentOpsError
from ..model import TOOL_CALL_KINDS, StepKind

CASE_STEP_FIELDS = ("step_id", "parent_id", "kind", "name", "tool_name", "started_at", "ended_at", "status",
                    "error", "model", "input_tokens", "output_tokens", "cost_usd", "input", "output",
                    "approval_decision", "approver")
KEPT_ATTRIBUTES = ("agentops.approval.action",)  # the one attribute the policy check reads


@dataclass(frozen=True)
class Candidate:
    key: str  # the policy key changed
    value: object  # its new value
    rule: str  # the rule that would then flag the run
    why: str  # in words
    other_runs_flagged: int | None = None  # other runs of the agent it would newly flag (None: not measured)
    other_runs: int = 0


def below(value: float) -> float:
    """A round cap just under ``value`` (two significant digits): 650.3 -> 650, 0.0834 -> 0.083, 0.08 -> 0.079."""
    step = 10 ** (math.floor(math.log10(value)) - 1)
    capped = math.floor(value / step) * step
    if capped >= value:
        capped -= step
    return float(f"{capped:.12g}")


def candidates(facts, policy: Policy) -> list[Candidate]:
    """Changes of ``policy`` that would make the run break a rule; verified and measured by ``measure``."""
    run, rows = facts.run, facts.rows
    out = []
    gated = set(policy.actions_require_approval)
    for tool in rows.filter((pl.col("kind") == StepKind.ACTION) & pl.col("tool_name").is_not_null())["tool_name"].unique(
            maintain_order=True):
        if tool not in gated:
            out.append(Candidate("actions_require_approval", [*policy.actions_require_approval, tool], "unapproved_action",
                                 f"require a human approval before '{tool}'"))
    tools = rows.filter(pl.col("kind").is_in(TOOL_CALL_KINDS))
    if tools.height:
        repeats = tools.group_by("tool_name", "input").len()["len"].max()
        if isinstance(repeats, int) and repeats > 1 and (policy.max_retries is None or policy.max_retries >= repeats - 1):
            out.append(Candidate("max_retries", repeats - 2, "max_retries",
                                 f"at most {repeats - 2} retries of a call with the same input (the run made {repeats - 1})"))
    calls = run.get("tool_calls")
    if calls and (policy.max_tool_calls is None or policy.max_tool_calls >= calls):
        out.append(Candidate("max_tool_calls", calls - 1, "max_tool_calls",
                             f"at most {calls - 1} tool calls per run (the run made {calls})"))
    duration = run.get("duration_s")
    if duration and duration > 1 and (policy.max_runtime_seconds is None or policy.max_runtime_seconds >= duration):
        cap = below(duration)
        out.append(Candidate("max_runtime_seconds", int(cap) if cap == int(cap) else cap, "max_runtime",
                             f"at most {cap:g} s per run (the run took {duration:.1f} s)"))
    cost = run.get("cost_usd")
    if cost and (policy.max_cost_usd is None or policy.max_cost_usd >= cost):
        cap = below(cost)
        out.append(Candidate("max_cost_usd", cap, "max_cost", f"at most ${cap:g} per run (the run cost ${cost:.4g})"))
    return out


def changed(policy: Policy, candidate: Candidate) -> Policy:
    return policy.model_copy(update={candidate.key: candidate.value})


def rules(ts, policy: Policy) -> set[str]:
    return set(check_policy(ts, [policy], check_names=False).violations["rule"].to_list())


def measure(ts, facts, policy: Policy, found: list[Candidate]) -> list[Candidate]:
    """The candidates that make the policy find a new rule on the run, each with the number of the agent's
    other runs in ``ts`` it would newly flag: the most severe rule first (an approval gate before a cap), then
    the fewest other runs flagged (the most specific change)."""
    one = ts.only_runs(pl.LazyFrame({"run_id": [facts.run_id]}))
    now = rules(one, policy)
    others = ts.only_runs(ts.runs.filter((pl.col("agent") == facts.agent) & (pl.col("run_id") != facts.run_id))
                          .select("run_id"))
    n_others = others.runs.select(pl.len()).collect().item()
    before = check_policy(others, [policy], check_names=False).violations if n_others else None
    kept = []
    for c in found:
        proposed = changed(policy, c)
        if not rules(one, proposed) - now:
            continue
        flagged = 0
        if before is not None:
            after = check_policy(others, [proposed], check_names=False).violations
            old = set(before.filter(pl.col("rule") == c.rule)["run_id"].to_list())
            flagged = len(set(after.filter(pl.col("rule") == c.rule)["run_id"].to_list()) - old)
        kept.append(Candidate(c.key, c.value, c.rule, c.why, flagged, n_others))
    rank = {name: i for i, name in enumerate(SEVERITY_ORDER)}
    return sorted(kept, key=lambda c: (rank[SEVERITY[c.rule].value], c.other_runs_flagged))


# ---- the policy file, changed -------------------------------------------------------------------------

def _flow(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def policy_text(old_text: str | None, policy: Policy, candidate: Candidate, note: str) -> str:
    """The policy file with the candidate applied, its comments and layout kept where the key is written on one
    line; otherwise (or for a new file) the policy written out whole."""
    target = changed(policy, candidate)
    want = target.model_dump(exclude_none=True, exclude_defaults=True, exclude={"source_file"})
    if old_text is not None:
        line = re.compile(rf"^(?P<indent>[ \t]+){re.escape(candidate.key)}:[ \t]*(?P<value>[^#\n]*?)"
                          rf"(?P<comment>[ \t]*#[^\n]*)?$", re.M)
        hit = line.search(old_text)
        if hit and hit.group("value").strip() and (not hit.group("value").strip().startswith("[")
                                                   or hit.group("value").strip().endswith("]")):
            new = old_text[:hit.start("value")] + _flow(candidate.value) + old_text[hit.end("value"):]
        else:
            name = re.compile(r"^(?P<indent>[ \t]+)name:[^\n]*$", re.M).search(old_text)
            new = None
            if name and not hit:
                new = (old_text[:name.end()] + f"\n{name.group('indent')}{candidate.key}: {_flow(candidate.value)}"
                       f"   # {note}" + old_text[name.end():])
        if new is not None and _same(new, want):
            return new
    return yaml.safe_dump({"agent": want}, sort_keys=False, allow_unicode=True)


def _same(text: str, want: dict) -> bool:
    """Whether ``text``, read as every policy file is (config.py), is the policy wanted."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            loaded = load_policy(path)
        except AgentOpsError:  # the in-place edit is not a valid policy: the whole file is written instead
            return False
    return loaded.model_dump(exclude_none=True, exclude_defaults=True, exclude={"source_file"}) == want


def unified_diff(old_text: str | None, new_text: str, path: str) -> str:
    old = [] if old_text is None else old_text.splitlines(keepends=True)
    lines = list(difflib.unified_diff(old, new_text.splitlines(keepends=True),
                                      fromfile="/dev/null" if old_text is None else path, tofile=path))
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


# ---- the run as a policy test case ---------------------------------------------------------------------

def _iso(value) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return value


def test_case(facts, expect: list[str]) -> dict:
    """The run's steps and sources as a case of the policy test format (``analytics/policy_tests.py``)."""
    steps = []
    for row in facts.rows.iter_rows(named=True):  # one run's steps: a postmortem's worth, not a hot path
        step: dict[str, Any] = {k: _iso(row[k]) for k in CASE_STEP_FIELDS if row.get(k) is not None}
        try:
            attrs = orjson.loads(row.get("attributes") or "{}")
        except orjson.JSONDecodeError:
            attrs = {}
        kept = {k: attrs[k] for k in KEPT_ATTRIBUTES if isinstance(attrs, dict) and k in attrs}
        if kept:
            step["attributes"] = kept
        steps.append(step)
    run = {k: facts.run[k] for k in ("workflow", "mode", "outcome") if facts.run.get(k)}
    case = {"name": f"incident run {facts.run_id} is caught", "run": run, "steps": steps}
    sources = [{k: v for k, v in s.items() if k != "run_id" and v is not None} for s in facts.sources.iter_rows(named=True)]
    if sources:
        case["sources"] = sources
    case["expect"] = sorted(expect)
    return case


def test_file_text(policy_ref: str, case: dict, facts, proposal: str) -> str:
    head = (f"# Generated by `agentops-kit incident new` from run {facts.run_id} ({facts.agent}): the run as a policy\n"
            f"# test case. It expects what the policy finds once the control change is made ({proposal}),\n"
            f"# so `agentops-kit policy test` fails on it until a policy catches the run.\n")
    body = yaml.safe_dump({"policy": policy_ref, "cases": [case]}, sort_keys=False, allow_unicode=True, width=120)
    return head + body
