"""What a request's hashes cover: its parameters (what will run), and what the agent said about them."""

from __future__ import annotations

import hashlib
import json

from .audit import canonical
from .errors import InvalidRequest


def to_json(value, what: str) -> str:
    """The stored text of a value; InvalidRequest when it is not plain JSON (NaN and infinities included)."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} must be JSON-serialisable: {exc}") from None


def params_hash_of_text(text: str) -> str:
    return hashlib.sha256(canonical(json.loads(text)).encode()).hexdigest()


def params_hash(params) -> str:
    """SHA-256 of the parameters' canonical JSON, computed from their stored form (so a tuple and a list, or a
    dict built in another order, hash alike, and 42 and 42.0 do not)."""
    return params_hash_of_text(to_json(params, "params"))


def content_hash(before: str | None, after: str | None, sources: str, uncertainty: str | None) -> str:
    """SHA-256 over what the agent said about the call (its before/after claim, sources, uncertainty)."""
    payload = canonical({"before": before, "after": after, "sources": sources, "uncertainty": uncertainty})
    return hashlib.sha256(payload.encode()).hexdigest()
