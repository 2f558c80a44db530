"""The receiver's limits: what one request, one span and one value may hold, and how much may wait unwritten."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what ``collect`` accepts. A request beyond ``max_request_bytes`` (as sent, and again once
    decompressed) is answered 413; a span beyond the others is rejected alone (a partial success)."""

    max_request_bytes: int = 20 * MIB  # the OpenTelemetry Collector's default for its OTLP/HTTP receiver
    max_attributes: int = 1024  # per resource, scope, span, event or link (the SDK's own default is 128)
    max_string_chars: int = 4 * MIB  # one attribute value, name or key: room for a long prompt
    max_depth: int = 16  # nesting of array and key-value list values
    max_events: int = 1024  # per span
    max_links: int = 1024  # per span
    # spans, attributes, events, links and nested values in one request: a small protobuf body can stand for
    # millions of them (two bytes each), and each costs some 400 bytes once decoded in Python
    max_values: int = 250_000
    max_pending_bytes: int = 512 * MIB  # spooled but not yet committed: beyond it, 503 until the store catches up
    max_in_flight: int = 16  # requests being read, decoded or written at once (each body is in memory): beyond, 429

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"limit {name} must be a positive integer, got {value!r}")
