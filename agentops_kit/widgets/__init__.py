"""ipywidgets UIs for JupyterLab: thin views over the library (ipywidgets is imported on first use)."""

from .approvals_widget import ApprovalsWidget
from .inventory_explorer import InventoryExplorer
from .run_inspector import RunInspector
from .runs_behind_links import RunsBehindLinks
from .stop_control import StopControl
from .user import current_user

__all__ = ["ApprovalsWidget", "InventoryExplorer", "RunInspector", "RunsBehindLinks", "StopControl", "current_user"]
