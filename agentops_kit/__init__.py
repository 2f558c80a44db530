"""agentops-kit: the weekly review of AI agents in production, from the traces they already export."""

from .analytics.error_budget import error_budget
from .analytics.impact import customer_impact_errors
from .analytics.metrics import weekly_metrics
from .analytics.policy import Policy, load_policies
from .analytics.policy_check import check_policy
from .analytics.policy_lint import lint_policy
from .analytics.policy_tests import run_policy_tests
from .analytics.readiness import readiness
from .analytics.shadow import shadow_report
from .approvals import ApprovalQueue, require_approval
from .errors import AgentOpsError, ConfigError, InputFileError
from .inventory import InventoryError, score_inventory
from .inventory_reality import compare_with_traces
from .inventory_store import compare_scorings, save_scoring, scoring_history
from .load import load_traces
from .mapping import Mapping, load_mapping
from .pricing import Pricing, load_pricing
from .traceset import TraceSet

__all__ = [
    "AgentOpsError", "ApprovalQueue", "ConfigError", "Policy", "check_policy", "customer_impact_errors",
    "error_budget", "lint_policy", "load_policies", "readiness", "run_policy_tests", "shadow_report", "weekly_metrics", "InputFileError", "InventoryError", "Mapping", "Pricing", "TraceSet",
    "compare_scorings", "compare_with_traces", "load_mapping", "load_pricing", "load_traces", "save_scoring",
    "require_approval", "score_inventory", "scoring_history",
]
__version__ = "0.1.0"
