"""agentops-kit: the weekly review of AI agents in production, from the traces they already export."""

from .errors import AgentOpsError, ConfigError, InputFileError
from .load import load_traces
from .mapping import Mapping, load_mapping
from .pricing import Pricing, load_pricing
from .traceset import TraceSet

__all__ = [
    "AgentOpsError", "ConfigError", "InputFileError", "Mapping", "Pricing", "TraceSet",
    "load_mapping", "load_pricing", "load_traces",
]
__version__ = "0.1.0"
