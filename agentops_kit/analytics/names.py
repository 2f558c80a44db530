"""Every name a configuration file gives (a policy's agent, a budget's agent or workflow, a baseline's
workflow, a quality metric's agent or workflow), checked against the traces loaded before anything is computed: the weekly report runs this
before its notebook starts, so that a typo is one line and exit 2, not a failed cell."""

from __future__ import annotations

from .baseline import load_baselines
from .error_budget import require_budget_names
from .policy_check import require_policy_agents
from .quality import require_quality_names


def require_config_names(ts, policies=None, error_budget_file=None, baselines=None, quality=None) -> None:
    """NothingToShow, naming the entry and what the traces hold, for the first name that has no run."""
    if policies is not None:
        require_policy_agents(ts, policies)
    if error_budget_file is not None:
        require_budget_names(ts, error_budget_file)
    if baselines is not None:
        load_baselines(baselines).require_runs(ts)
    if quality is not None:
        require_quality_names(ts, quality)
