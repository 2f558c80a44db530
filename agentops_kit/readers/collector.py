"""What every reader writes into: step rows, run-level facts, sources, labels and rejected records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from ..model import TABLE_SCHEMAS, RejectReason

# Hidden per-step columns resolved from attributes by the mapping; the run takes its root's value,
# else the first one seen in the run.
RUN_HINTS = ("agent", "agent_version", "workflow", "mode", "outcome", "agent_fallback", "session_id")

STEP_FIELDS = (
    "run_id", "step_id", "parent_id", "kind", "name", "tool_name", "started_ns", "ended_ns",
    "status", "error", "model", "input_tokens", "output_tokens", "cached_input_tokens",
    "cost_usd", "input", "output", "approval_decision", "approver", "attributes",
    "source_file", "source_line", "is_root",
) + tuple("hint_" + h for h in RUN_HINTS) + ("provider", "cache_write_input_tokens", "reasoning_output_tokens")
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
                "reasoning_output_tokens")
_TYPES = {
    "started_ns": pl.Int64, "ended_ns": pl.Int64, **dict.fromkeys(TOKEN_FIELDS, pl.Int64),
    "cost_usd": pl.Float64, "source_line": pl.Int64, "is_root": pl.Boolean,
}
STEP_ROW_SCHEMA = pl.Schema({f: _TYPES.get(f, pl.String) for f in STEP_FIELDS})


def rows_to_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=STEP_ROW_SCHEMA, orient="row")


def to_text(value: Any) -> str | None:
    """Any attribute value as text: strings as they are, everything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


@dataclass
class Collector:
    """Accumulates rows (one tuple per step, to keep the hot path to one append)."""

    format: str
    steps: list[tuple] = field(default_factory=list)
    sources: list[tuple] = field(default_factory=list)
    labels: list[tuple] = field(default_factory=list)
    rejected: list[tuple] = field(default_factory=list)
    frames: list = field(default_factory=list)  # step rows already turned into polars frames
    source_frames: list = field(default_factory=list)  # source rows already turned into polars frames
    chunk_rows: int = 20_000

    def flush(self) -> None:
        """Move accumulated step and source rows into polars frames, so Python objects do not pile up."""
        if self.steps:
            self.frames.append(rows_to_frame(self.steps))
            self.steps = []
        if self.sources:
            self.source_frames.append(pl.DataFrame(self.sources, schema=TABLE_SCHEMAS["sources"], orient="row"))
            self.sources = []

    def reject(self, file, reason_code, reason, line=None, index=None, record_id=None):
        code = RejectReason(reason_code).value  # a code outside the vocabulary is the reader's bug: it stops here
        self.rejected.append((str(file), line, index, to_text(record_id), code, reason))  # an id may be anything

    def label(self, run_id: str, name: str, value: Any, source: str) -> None:
        if value is None:
            return
        self.labels.append((run_id, str(name), to_text(value), to_text(source)))

    def source(self, run_id: str, step_id: str, document_id, version, score) -> None:
        self.sources.append((run_id, step_id, None if document_id is None else str(document_id),
                             None if version is None else str(version), score))
