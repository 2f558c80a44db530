"""Text for terminals: control characters from traces or agents are shown escaped, never interpreted.

An agent-supplied string can carry ANSI colour codes, cursor moves, OSC-8 hyperlinks or bidi overrides that
would rewrite what an approver sees. Everything below is shown as a visible escape (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, zero-width and bidi formatting characters
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_UNSAFE_KEEP_LINES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value, keep_newlines: bool = False) -> str:
    """``value`` as text with every control character made visible. ``None`` becomes ``''``."""
    if value is None:
        return ""
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, str(value))


def has_unsafe(value: str) -> bool:
    return bool(_UNSAFE.search(value))
