"""Which reader a file needs, from its name and first bytes, by the rules of the reader registry."""

from __future__ import annotations

from . import registry


def detect(head: bytes, name: str) -> str | None:
    """The first format claiming the file by its leading bytes or name ending, else the first (in registry order)
    whose content rule matches the head; None when no format recognises it."""
    lower = name.lower()
    for fmt in registry.FORMATS:
        if (fmt.magic and head.startswith(fmt.magic)) or (fmt.file_endings and lower.endswith(fmt.file_endings)):
            return fmt.name
    for fmt in registry.FORMATS:
        if fmt.content is not None and fmt.content.search(head):
            return fmt.name
    return None
