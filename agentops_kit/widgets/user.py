"""Who is at the keyboard, for the widgets that act as someone (approvals, the stop button)."""

from __future__ import annotations

import getpass
import os


def current_user() -> str:
    """The person at the keyboard: JupyterHub's user, else $AGENTOPS_USER, else the OS user."""
    return os.environ.get("JUPYTERHUB_USER") or os.environ.get("AGENTOPS_USER") or getpass.getuser()
