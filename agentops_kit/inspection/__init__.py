"""What the run inspector shows, as plain data: the run tree on a time axis, a step's chat messages,
and the search over runs. The widget (``widgets/run_inspector.py``) only lays these out."""
