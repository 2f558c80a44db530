"""Lint of the policies themselves: risky or incomplete policies, before any trace is read."""

from __future__ import annotations

import fnmatch

import polars as pl

from ..model import Severity
from .policy import Policy, load_policies

# Tools that read the open web or untrusted content: an identity holding these and privileged actions can
# be steered by a prompt injection into acting.
BROWSING = ("web_search", "*browse*", "fetch_url", "http_get", "*scrape*", "read_webpage", "*crawl*", "research*")


def _is_browsing(tool: str) -> bool:
    return any(fnmatch.fnmatchcase(tool.lower(), pattern) for pattern in BROWSING)


def lint_policy(policies) -> pl.DataFrame:
    """Findings: ``agent, finding, detail, severity, file``."""
    rows = []

    def add(p: Policy, finding: str, detail: str, severity: Severity):
        rows.append({"agent": p.name, "finding": finding, "detail": detail, "severity": severity.value,
                     "file": p.source_file})

    for p in load_policies(policies):
        tools = set(p.tools_allowlist or ())
        browsing = sorted(t for t in tools | set(p.actions_require_approval) if _is_browsing(t))
        if browsing and p.actions_require_approval:
            add(p, "browsing_and_privileged_actions",
                f"one identity holds browsing/research tools {browsing} and privileged actions "
                f"{sorted(p.actions_require_approval)}: split them across agents", Severity.HIGH)
        if p.tools_allowlist is None:
            add(p, "no_tools_allowlist", "no tools_allowlist: any tool is allowed", Severity.HIGH)
        for cap in ("max_runtime_seconds", "max_tool_calls", "max_cost_usd", "max_retries"):
            if getattr(p, cap) is None:
                add(p, "missing_cap", f"{cap} is not set: nothing bounds it", Severity.MEDIUM)
        if p.outbound_domains_allowlist is None:
            add(p, "no_outbound_allowlist", "outbound_domains_allowlist is not set: any destination is allowed", Severity.MEDIUM)
        if not p.logging.trace_all_runs:
            add(p, "tracing_off", "logging.trace_all_runs is false: runs may go unreviewed", Severity.HIGH)
        if p.logging.retention_days is None:
            add(p, "no_retention", "logging.retention_days is not set", Severity.LOW)
        if tools and not p.actions_require_approval:
            add(p, "no_approval_gates", "no action requires approval", Severity.LOW)
    return pl.DataFrame(rows, schema={"agent": pl.String, "finding": pl.String, "detail": pl.String,
                                      "severity": pl.String, "file": pl.String})
