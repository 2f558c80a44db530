"""agentops-kit: the weekly review of AI agents in production, from the traces they already export."""

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
    "AgentOpsError", "ApprovalQueue", "ConfigError", "InputFileError", "InventoryError", "Mapping", "Pricing", "TraceSet",
    "compare_scorings", "compare_with_traces", "load_mapping", "load_pricing", "load_traces", "save_scoring",
    "require_approval", "score_inventory", "scoring_history",
]
__version__ = "0.1.0"
