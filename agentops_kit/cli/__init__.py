"""The ``agentops-kit`` command. Each subcommand calls the same library functions as the notebooks.

One module per command family; importing them registers their commands on ``main``.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers the commands)
    approvals,
    init,
    inventory,
    policy,
    project,
    redteam,
    report,
    serve,
    store,
    traces,
)
from .app import main

__all__ = ["main"]
