"""The kit's version: the one place it is written. ``pyproject.toml`` reads it from here (``dynamic``); the
front door (``ak.__version__``) and ``agentops-kit --version`` import it."""

__version__ = "0.1.0"
