"""agentops-kit: the weekly review of AI agents in production, from the traces they already export.

The front door — ``import agentops_kit as ak`` — offers what a user needs; ``help(ak.NAME)`` shows each
with a short example (run as it is in a folder made by ``agentops-kit init``):

- reading traces: ``load_traces``, ``TraceSet``; the trace store: ``ingest``, ``open_store``
- the weekly review's numbers: ``weekly_metrics``, ``error_budget``, ``check_policy``, ``readiness``,
  ``shadow_report``, and all of them at once: ``WeeklyReview``
- before automating: ``score_inventory``
- approvals: ``ApprovalQueue``, ``require_approval``; the kill switch: ``guard`` (raises
  ``ak.AgentStopped`` for a stopped agent)
- in a notebook: ``show``; and ``AgentOpsError``, the root of every error the kit raises on purpose.

Public modules, for what the front door leaves out (their names are kept stable):
``agentops_kit.errors`` (the errors), ``agentops_kit.widgets`` (the JupyterLab widgets),
``agentops_kit.charts`` (plotly figures), ``agentops_kit.approvals`` (the queue, its errors and the
demo seeding), ``agentops_kit.analytics.policy`` / ``.policy_lint`` / ``.policy_tests`` (policy files,
their lint and tests), ``agentops_kit.analytics.impact``, ``agentops_kit.analytics.gates`` (evidence for
removing an approval gate), ``agentops_kit.analytics.quality`` (quality metrics and their floors),
``agentops_kit.analytics.redteam`` (the red-team report), ``agentops_kit.inventory`` (scoring and its
error), ``agentops_kit.inventory_store`` and ``agentops_kit.inventory_reality`` (scorings over time,
estimate vs traces), ``agentops_kit.mapping`` and ``agentops_kit.pricing`` (the two config files of a load),
``agentops_kit.report`` (the weekly report and what the notebooks share), ``agentops_kit.scope`` (what a
set of traces holds; ``NothingToShow``), ``agentops_kit.tracing_defaults`` (``ak.tracing``: OpenTelemetry set up
for agent code) and ``agentops_kit.incident`` (postmortems that end in a control change). Every other module is internal: it may change without notice.
"""

from __future__ import annotations

# written once, in version.py (the CLI, below the front door, reads it there too)
from .version import __version__ as __version__

# name -> module: imported on first use, so that `import agentops_kit` stays quick (a load of traces
# need not pay for SQLAlchemy, plotly or the widgets)
FRONT_DOOR = {
    "load_traces": "load",
    "ingest": "store",
    "open_store": "store",
    "TraceSet": "traceset",
    "weekly_metrics": "analytics.metrics",
    "error_budget": "analytics.error_budget",
    "check_policy": "analytics.policy_check",
    "readiness": "analytics.readiness",
    "shadow_report": "analytics.shadow",
    "WeeklyReview": "report.review",
    "score_inventory": "inventory",
    "ApprovalQueue": "approvals",
    "require_approval": "approvals",
    "guard": "approvals",
    "show": "rendering",
    "AgentOpsError": "errors",
}

# Still reachable as ``ak.NAME`` (code written against the first release uses them; ``tracing`` is the agent
# side's), but not part of the front door: their home is the public module named here.
_ALSO = {
    "customer_impact_errors": "analytics.impact",
    "gate_evidence": "analytics.gates",
    "quality_metrics": "analytics.quality",
    "red_team_report": "analytics.redteam",
    "Policy": "analytics.policy",
    "load_policies": "analytics.policy",
    "lint_policy": "analytics.policy_lint",
    "run_policy_tests": "analytics.policy_tests",
    "AgentStopped": "approvals",
    "ConfigError": "errors",
    "InputFileError": "errors",
    "InventoryError": "inventory",
    "compare_with_traces": "inventory_reality",
    "compare_scorings": "inventory_store",
    "save_scoring": "inventory_store",
    "scoring_history": "inventory_store",
    "Mapping": "mapping",
    "load_mapping": "mapping",
    "Pricing": "pricing",
    "load_pricing": "pricing",
    "tracing": "tracing_defaults",
}

PUBLIC_MODULES = (
    "agentops_kit", "agentops_kit.errors", "agentops_kit.widgets", "agentops_kit.charts", "agentops_kit.approvals",
    "agentops_kit.analytics.policy", "agentops_kit.analytics.policy_lint", "agentops_kit.analytics.policy_tests",
    "agentops_kit.analytics.impact", "agentops_kit.analytics.gates", "agentops_kit.analytics.quality",
    "agentops_kit.analytics.redteam", "agentops_kit.inventory", "agentops_kit.inventory_store",
    "agentops_kit.inventory_reality", "agentops_kit.mapping", "agentops_kit.pricing", "agentops_kit.report",
    "agentops_kit.scope", "agentops_kit.analytics.cost_breakdown", "agentops_kit.analytics.latency",
    "agentops_kit.tracing_defaults", "agentops_kit.incident", "agentops_kit.store",
)


def __getattr__(name: str):
    module = FRONT_DOOR.get(name) or _ALSO.get(name)
    if module is None:
        raise AttributeError(f"module 'agentops_kit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *FRONT_DOOR} - set(_ALSO))


__all__ = sorted(FRONT_DOOR)
