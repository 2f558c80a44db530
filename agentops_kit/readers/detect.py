"""Which reader a file needs, from its first bytes."""

from __future__ import annotations

import re

FORMATS = ("otlp", "otel_sdk", "langfuse", "langsmith", "tau_bench", "canonical")

_RULES = (
    ("otlp", re.compile(rb'"resourceSpans"\s*:')),
    ("canonical", re.compile(rb'^\s*\{\s*"record"\s*:\s*"(run|step|source|label)"')),
    ("tau_bench", re.compile(rb'"traj"\s*:|"task_id"\s*:[^{}]*"reward"', re.S)),
    ("otel_sdk", re.compile(rb'"context"\s*:\s*\{[^{}]*"span_id"', re.S)),
    ("langfuse", re.compile(rb'"observations"\s*:|"parentObservationId"\s*:|"type"\s*:\s*"GENERATION"')),
    ("langsmith", re.compile(rb'"run_type"\s*:|"dotted_order"\s*:|"parent_run_id"\s*:|^\s*\{\s*"post"\s*:')),
)


def detect(head: bytes, name: str) -> str | None:
    if head[:4] == b"PAR1":
        return "canonical"
    if name.lower().endswith((".csv", ".parquet")):
        return "canonical"
    for fmt, pattern in _RULES:
        if pattern.search(head):
            return fmt
    return None
