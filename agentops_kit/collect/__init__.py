"""The OTLP/HTTP receiver behind ``agentops-kit collect``: agents export traces to it, it keeps them in a store.

- ``receiver.py`` runs it (``run``): spool, commits, server, and the drain on SIGTERM;
- ``server.py`` answers ``POST /v1/traces``; ``body.py`` decodes bodies and encodes answers;
- ``screen.py`` checks every span against the data model and the ``limits.py``;
- ``spool.py`` keeps accepted requests on disk (synced before the answer); ``committer.py`` moves them into
  the store.
"""

from __future__ import annotations

from .limits import Limits
from .receiver import run

__all__ = ["Limits", "run"]
