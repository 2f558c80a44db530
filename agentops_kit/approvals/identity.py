"""People and names in the approvals store: checked when given, compared in one normalised form.

The rule (README, "Who may decide"): a name is compared after
  1. Unicode NFKC (full-width and compatibility forms become plain ones),
  2. every dash — Unicode dash punctuation (category Pd: ‐ ‑ ‒ – — ― － …) and the minus sign U+2212 — becomes "-",
  3. case folding (``str.casefold``: "SVC-A" and "svc-a" are one person; "ß" equals "ss"),
  4. surrounding whitespace removed and every inner run of whitespace made one space,
  5. NFKC again (case folding can leave a non-normalised string).
A name holding a control, format (zero-width, bidi), private-use or unassigned character, or a line
separator, is refused; so is an empty name or one longer than ``MAX_IDENTITY`` characters.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidRequest

MAX_IDENTITY = 128  # people and service accounts (requested_by, approvers, policy entries)
MAX_NAME = 200      # agent, action and run ids (the store's column width)
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SPACES = re.compile(r"\s+")


def _shown(value: str, limit: int = 40) -> str:
    """A refused value quoted in an error: control characters made visible, long values cut."""
    from ..terminal import safe

    text = safe(value)
    return text if len(text) <= limit else text[:limit] + "…"


def required_name(value, what: str, limit: int = MAX_NAME) -> str:
    """``check_name`` for a name that must be given."""
    name = check_name(value, what, limit)
    if name is None:  # not reached: a required name is checked above; this tells the type checker
        raise InvalidRequest(f"{what} is required")
    return name


def check_name(value, what: str, limit: int = MAX_NAME, required: bool = True) -> str | None:
    """``value`` stripped of surrounding whitespace, or InvalidRequest saying what is wrong with it."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidRequest(f"{what} is required (it is empty)")
    for ch in text:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise InvalidRequest(f"{what} '{_shown(text)}' contains the control or invisible character "
                                 f"U+{ord(ch):04X}: names must be plain text")
    if len(text) > limit:
        raise InvalidRequest(f"{what} '{_shown(text)}' is {len(text)} characters long; at most {limit} are allowed")
    return text


def _dashes_to_hyphen(text: str) -> str:
    return "".join("-" if ch == "\u2212" or unicodedata.category(ch) == "Pd" else ch for ch in text)


def normalise(name: str) -> str:
    """The form two names are compared in (see the module docstring)."""
    text = _dashes_to_hyphen(unicodedata.normalize("NFKC", name)).casefold()
    return unicodedata.normalize("NFKC", _SPACES.sub(" ", text).strip())


def check_identity(value, what: str) -> str:
    """A person's name as given (trimmed), after checking it can be compared safely."""
    text = required_name(value, what, limit=MAX_IDENTITY)
    if len(normalise(text)) > MAX_IDENTITY:
        raise InvalidRequest(f"{what} '{_shown(text)}' is longer than {MAX_IDENTITY} characters once normalised")
    return text


def same_person(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and normalise(a) == normalise(b)
