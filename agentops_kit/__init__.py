"""agentops-kit: the weekly review of AI agents in production, from the traces they already export."""

from __future__ import annotations

# name -> module: imported on first use, so that `import agentops_kit` stays quick (a load of traces
# need not pay for SQLAlchemy, plotly or the widgets)
_EXPORTS = {
    "error_budget": "analytics.error_budget",
    "customer_impact_errors": "analytics.impact",
    "weekly_metrics": "analytics.metrics",
    "gate_evidence": "analytics.gates",
    "quality_metrics": "analytics.quality",
    "red_team_report": "analytics.redteam",
    "Policy": "analytics.policy",
    "load_policies": "analytics.policy",
    "check_policy": "analytics.policy_check",
    "lint_policy": "analytics.policy_lint",
    "run_policy_tests": "analytics.policy_tests",
    "readiness": "analytics.readiness",
    "shadow_report": "analytics.shadow",
    "ApprovalQueue": "approvals",
    "require_approval": "approvals",
    "AgentOpsError": "errors",
    "ConfigError": "errors",
    "InputFileError": "errors",
    "InventoryError": "inventory",
    "score_inventory": "inventory",
    "compare_with_traces": "inventory_reality",
    "compare_scorings": "inventory_store",
    "save_scoring": "inventory_store",
    "scoring_history": "inventory_store",
    "load_traces": "load",
    "Mapping": "mapping",
    "load_mapping": "mapping",
    "Pricing": "pricing",
    "load_pricing": "pricing",
    "TraceSet": "traceset",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentops_kit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"
