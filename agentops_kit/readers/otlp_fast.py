"""Line-delimited OTLP/JSON through the compiled decoder (``agentops_kit/_native/otlp_columns.c``).

The decoder goes from bytes to Arrow columns with the conventions applied, without a Python object per
span. It hands back, untouched, every line it cannot read exactly as ``otlp.read_line`` would (bad JSON,
unusual types, empty ids, wrong time units...); those lines go through ``otlp.read_line`` in place, so the
rows, their order and every rejected record are the same as with the Python reader alone. Without the
compiled module (no C compiler at install time) ``available`` is False and the Python reader is used.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from .. import conventions as cv
from ..conventions import Conventions
from ..files import GZIP_MAGIC
from ..model import TABLE_SCHEMAS, Mode
from . import otlp
from .collector import STEP_ROW_SCHEMA, Collector

try:
    from .. import _otlp_columns as native
except ImportError:  # built without a C compiler: the Python reader does the work
    native = None

BLOCK = 8 << 20  # bytes of complete lines handed to the decoder at a time


def _key_lists(conv: Conventions) -> tuple | None:
    """The conventions as the decoder takes them (order: the F_* and T_* enums of otlp_columns.c)."""
    m = conv.m
    tables = [conv.approval_names, conv.approved, conv.rejected, conv.shadow, conv.outcome_values]
    if not all(text.isascii() for table in tables for text in table):
        return None  # case folding beyond ASCII: leave it to Python
    oi, op = cv.OPENINFERENCE_KIND, cv.GENAI_OPERATION_KIND
    return tuple(tuple(keys) for keys in (
        m.step_kind_attributes, m.approval.decision_attributes, m.approval.approver_attributes,
        cv.TOOL_NAME_KEYS, cv.MODEL_KEYS, cv.INPUT_TOKEN_KEYS, cv.OUTPUT_TOKEN_KEYS, cv.CACHED_TOKEN_KEYS,
        cv.COST_TOTAL_KEYS, [k for pair in cv.COST_PAIR_KEYS for k in pair], cv.ERROR_KEYS,
        m.mode.attributes, m.outcome.attributes, m.agent_attributes, m.agent_version_attributes,
        m.workflow_attributes, m.agent_fallback_attributes, cv.TOOL_INPUT_KEYS, cv.INPUT_KEYS, cv.OUTPUT_KEYS,
        ["openinference.span.kind"], ["gen_ai.operation.name"],
        cv.SESSION_KEYS, cv.PROVIDER_KEYS, cv.CACHE_WRITE_KEYS, cv.REASONING_KEYS,
        sorted(cv.STEP_KINDS), sorted(conv.approval_names), list(oi), list(oi.values()), list(op), list(op.values()),
        ["has_action_patterns"] if conv.action_patterns else [],
    ))


def available(conv: Conventions) -> bool:
    """Whether the decoder can read for these conventions (it is built, and the mapping's tables are ASCII)."""
    return native is not None and _key_lists(conv) is not None


class _ArrowColumn:
    """A decoded column as the Arrow PyCapsule interface presents it: polars takes it without pyarrow."""

    __slots__ = ("capsules",)

    def __init__(self, capsules: tuple):
        self.capsules = capsules

    def __arrow_c_array__(self, requested_schema=None) -> tuple:
        return self.capsules


def _frame(columns: dict) -> pl.DataFrame:
    return pl.DataFrame([pl.Series(values=_ArrowColumn(c)).alias(name) for name, c in columns.items()])


def _steps(raw: pl.DataFrame, conv: Conventions, file: str) -> pl.DataFrame:
    """The decoder's columns -> the collector's step rows. A column without a value in the block becomes a null
    constant, which polars keeps as one scalar instead of 16 bytes per row (short GenAI spans have no error,
    input, output, approval or most run hints: a third of the columns), and such blocks concatenate as one."""
    rows = _step_rows(raw, conv, file)
    empty = [name for name, nulls in zip(rows.columns, rows.null_count().row(0), strict=True) if nulls == rows.height]
    return rows.with_columns(pl.lit(None, STEP_ROW_SCHEMA[name]).alias(name) for name in empty)


def _step_rows(raw: pl.DataFrame, conv: Conventions, file: str) -> pl.DataFrame:
    """What Conventions does with the mapping's tables, on the decoder's columns."""
    tools = raw.filter(pl.col("kind") == "tool")["tool_name"].drop_nulls().unique().to_list()
    actions = [t for t in tools if conv.is_action(t)]
    decision = pl.col("decision_text")
    status = pl.col("status_code").replace_strict(otlp.STATUS, default=otlp.STATUS[0], return_dtype=pl.String)
    message = pl.when(pl.col("status_message") != "").then(pl.col("status_message")).otherwise(pl.lit("error"))
    return raw.with_columns(status.alias("status")).select(
        pl.col("run_id", "step_id", "parent_id"),
        pl.when((pl.col("kind") == "tool") & pl.col("tool_name").is_in(actions))
        .then(pl.lit("action")).otherwise(pl.col("kind")).alias("kind"),
        pl.col("name", "tool_name", "started_ns", "ended_ns", "status"),
        pl.when((pl.col("status") == "error") & pl.col("error").is_null())
        .then(message).otherwise(pl.col("error")).alias("error"),
        pl.col("model", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd", "input", "output"),
        pl.when(decision.is_in(list(conv.approved))).then(pl.lit("approved"))
        .when(decision.is_in(list(conv.rejected))).then(pl.lit("rejected"))
        .otherwise(decision).alias("approval_decision"),
        pl.col("approver", "attributes"),
        pl.lit(file).alias("source_file"),
        pl.col("source_line"),
        pl.col("parent_id").is_null().alias("is_root"),
        pl.col("hint_agent", "hint_agent_version", "hint_workflow"),
        pl.when(pl.col("mode_text").is_in(list(conv.red_team_modes))).then(pl.lit(Mode.RED_TEAM.value))
        .when(pl.col("mode_text").is_in(list(conv.shadow))).then(pl.lit(Mode.SHADOW.value))
        .when(pl.col("mode_text").is_not_null()).then(pl.lit(Mode.ACTIVE.value)).alias("hint_mode"),
        pl.when(pl.col("outcome_text").is_not_null())
        .then(pl.col("outcome_text").replace_strict(conv.outcome_values, default="unknown", return_dtype=pl.String))
        .alias("hint_outcome"),
        pl.col("hint_agent_fallback", "hint_session_id", "provider", "cache_write_input_tokens",
               "reasoning_output_tokens"),
    ).cast(dict(STEP_ROW_SCHEMA))


class Reader:
    """One file's blocks through the decoder. Each block's decoded rows become step rows at once (the
    decoder's wider columns are dropped block by block, never held for the whole file) and wait in
    ``pending``, handed to the collector before any row the Python reader adds (a handed-back line) and at
    the end: the order is kept."""

    def __init__(self, col: Collector, conv: Conventions, file: str):
        # a decoder per file: its buffers (about one block's output) are freed with it
        self.col, self.conv, self.file, self.spec = col, conv, file, native.make_spec(_key_lists(conv))
        self.pending: list[pl.DataFrame] = []
        self.pending_sources: list[pl.DataFrame] = []
        self.line = 1

    def decode(self, chunk) -> None:
        """Every line of ``chunk`` (complete lines, the first numbered ``self.line``)."""
        pos, size = 0, len(chunk)
        while pos < size:
            steps, sources, pos, self.line, bail = native.decode(self.spec, chunk, pos, self.line)
            if steps is not None:
                self.pending.append(_steps(_frame(steps), self.conv, self.file))
            if sources is not None:
                self.pending_sources.append(_frame(sources).cast(dict(TABLE_SCHEMAS["sources"])))
            if bail is not None:
                self.flush()
                number, start, end = bail
                otlp.read_line(self.col, self.conv, bytes(chunk[start:end]), self.file, number)

    def flush(self) -> None:
        self.col.flush()  # rows the Python reader collected so far come first
        self.col.frames += self.pending
        self.pending = []
        self.col.source_frames += self.pending_sources
        self.pending_sources = []


def read_file(col: Collector, conv: Conventions, path: Path, problems: list[str],
              advance: Callable[[int], object] | None = None) -> None:
    """A line-delimited OTLP/JSON file (plain or gzip), read block by block, never whole in memory."""
    reader = Reader(col, conv, str(path))
    with path.open("rb") as raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            _read_gzip(reader, raw, problems, advance)
        else:
            _read_plain(reader, raw, advance)
    reader.flush()


def _read_plain(reader: Reader, raw, advance) -> None:
    """Into one reused buffer (fresh 8 MB objects would cost page faults each time); the line cut at the
    end of a block is read again, by seeking, at the start of the next one."""
    raw.seek(0)
    buffer, start = bytearray(BLOCK), 0
    while True:
        size = raw.readinto(buffer)
        if not size:
            return
        end = buffer.rfind(b"\n", 0, size) + 1 if size == len(buffer) else size
        if end == 0:  # one line longer than the buffer: grow it and read the block again
            buffer.extend(bytes(len(buffer)))
            raw.seek(start)
            continue
        reader.decode(memoryview(buffer)[:end])  # a view, released before the buffer may grow
        start += end
        raw.seek(start)
        if advance is not None:
            advance(end)


def _read_gzip(reader: Reader, raw, problems: list[str], advance) -> None:
    handle, carry, reported = gzip.GzipFile(fileobj=raw), b"", 0
    while True:
        parts, size, error = [], 0, None
        try:
            while size < BLOCK:  # small reads, so that a cut gzip stream loses little
                part = handle.read1(1 << 20)
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except (EOFError, OSError, zlib.error) as exc:
            error = exc
        data = carry + b"".join(parts)
        end = data.rfind(b"\n") + 1 if size and error is None else len(data)
        reader.decode(memoryview(data)[:end])
        carry = data[end:]
        if advance is not None:
            advance(raw.tell() - reported)
            reported = raw.tell()
        if error is not None:
            problems.append(f"gzip stream is truncated or corrupt after line {reader.line - 1}: {error}")
            return
        if not size:
            return
