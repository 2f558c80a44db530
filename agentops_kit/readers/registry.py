"""Every trace format the kit reads, in one table.

Format detection (``detect.py``), loading (``load.py``), the command line's ``--input-format`` choices and
the ``load_traces`` docstring are all derived from ``FORMATS``: adding a format is adding one entry here
(and its reader module). Readers are named ``"module:function"`` inside ``agentops_kit.readers`` and imported
on first use, so that the command line starts without loading polars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import import_module


@dataclass(frozen=True)
class Format:
    name: str
    description: str  # one line, for help texts
    read: str  # a whole document: (collector, conventions, data: bytes, file: str)
    # detection: a file is claimed first by its name or leading bytes, else by the first content rule (in table
    # order) found in its first 64 KiB
    content: re.Pattern[bytes] | None = None
    file_endings: tuple[str, ...] = ()
    magic: bytes | None = None
    read_lines: str | None = None  # line-delimited files, streamed: (collector, conventions, lines, file: str)
    # the quick path for line-delimited files: a module with available(conventions) and
    # read_file(collector, conventions, path, problems, advance)
    compiled: str | None = None


FORMATS: tuple[Format, ...] = (
    Format("otlp", "OpenTelemetry OTLP/JSON, as the Collector's file exporter writes it",
           content=re.compile(rb'"resourceSpans"\s*:'),
           read="otlp:read", read_lines="otlp:read_lines", compiled="otlp_fast"),
    Format("otlp_proto", "OpenTelemetry OTLP/protobuf, as the Collector's file exporter writes it (format: proto): "
                         "size-prefixed messages, plain or zstd/gzip-compressed",
           # a 4-byte big-endian size below 16 MiB (text never starts with a NUL byte), then a request
           # (protobuf field 1), a zstd frame, a gzip member or JSON (the exporter frames compressed JSON too)
           content=re.compile(rb"\A\x00[\x00-\xff]{3}(?:\x0a|\{|\x28\xb5\x2f\xfd|\x1f\x8b)"),
           read="otlp_proto:read"),
    Format("canonical", "the kit's own JSONL records, or a table-set folder written by ingest (read whole, "
                        "through its manifest.json)",
           content=re.compile(rb'^\s*\{\s*"record"\s*:\s*"(run|step|source|label)"'),
           file_endings=(".csv", ".parquet"), magic=b"PAR1",
           read="canonical:read", read_lines="canonical:read_lines"),
    Format("tau_bench", "tau-bench trajectories",
           content=re.compile(rb'"traj"\s*:|"task_id"\s*:[^{}]*"reward"', re.S), read="taubench:read"),
    Format("otel_sdk", "the OpenTelemetry Python SDK's span JSON (console exporter)",
           content=re.compile(rb'"context"\s*:\s*\{[^{}]*"span_id"', re.S), read="otel_sdk:read"),
    Format("langfuse", "Langfuse exports: traces with their observations",
           content=re.compile(rb'"observations"\s*:|"parentObservationId"\s*:|"type"\s*:\s*"GENERATION"'),
           read="langfuse:read"),
    Format("langsmith", "LangSmith run exports, or the SDK's post/patch batches",
           content=re.compile(rb'"run_type"\s*:|"dotted_order"\s*:|"parent_run_id"\s*:|^\s*\{\s*"post"\s*:'),
           read="langsmith:read"),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
BY_NAME = {f.name: f for f in FORMATS}


@cache
def module(name: str):
    """A reader module of this package, imported on first use."""
    return import_module(f"{__package__}.{name}")


@cache
def function(reference: str):
    """The reader a ``"module:function"`` reference names (the module imported on first use)."""
    module_name, _, name = reference.partition(":")
    return getattr(module(module_name), name)


def listing() -> str:
    """The format names, for messages and help texts."""
    return ", ".join(NAMES)
