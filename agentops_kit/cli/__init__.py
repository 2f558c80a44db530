"""The ``agentops-kit`` command. Each subcommand calls the same library functions as the notebooks.

One module per command family; importing them registers their commands on ``main``.
"""

from __future__ import annotations

from . import approvals, inventory, policy, project, redteam, report, serve, traces  # noqa: F401  (registers the commands)
from .app import main

__all__ = ["main"]
