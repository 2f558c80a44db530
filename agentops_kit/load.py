"""``load_traces``: files, folders or globs of any supported export -> one canonical ``TraceSet``."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from . import labels as labels_mod
from .assemble import assemble, drop_duplicates, step_frame
from .conventions import Conventions
from .errors import AgentOpsError, InputFileError
from .files import (
    expand_paths,
    is_line_delimited,
    logical_name,
    read_bytes,
    read_head,
    stream_lines,
)
from .mapping import Mapping, load_mapping
from .model import TABLE_SCHEMAS, RejectReason, conform, empty
from .pricing import Pricing, load_pricing
from .readers import registry
from .readers.collector import Collector
from .readers.detect import detect
from .traceset import TABLES, TraceSet

SNIFF_BYTES = 64 * 1024


def _canonical_table(path: Path) -> str | None:
    """'runs', 'steps', ... for a canonical Parquet/CSV table file, else None."""
    name = logical_name(path)
    stem, _, ext = name.rpartition(".")
    if ext.lower() in ("parquet", "csv") and stem in TABLES:
        return stem
    return None


def _scan_table(path: Path, table: str) -> pl.LazyFrame:
    """A canonical table file, lazily for Parquet; InputFileError naming the file (and the line and column of a
    CSV cell) when it cannot be read as that table."""
    schema = TABLE_SCHEMAS[table]
    if path.suffix.lower() == ".parquet":
        try:
            found = pl.read_parquet_schema(path)
        except Exception as exc:  # polars raises several error types for a file that is not Parquet
            raise InputFileError(str(path), f"cannot be read as the Parquet {table} table: {exc}") from None
        wrong = [f"{c} is {t}, expected {schema[c]}" for c, t in found.items() if c in schema and not _castable(t, schema[c])]
        if wrong:
            raise InputFileError(str(path), f"not the canonical {table} table: {'; '.join(wrong)}")
        return conform(pl.scan_parquet(path), table)
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except Exception as exc:
        raise InputFileError(str(path), f"cannot be read as the CSV {table} table: {exc}") from None
    typed = raw.select(_parse_cell(c, schema[c]) for c in raw.columns if c in schema)
    for column in typed.columns:
        bad = raw.with_row_index("_line", offset=2).filter(pl.col(column).is_not_null() & typed[column].is_null())
        if bad.height:
            line, value = bad.row(0, named=True)["_line"], bad[column][0]
            raise InputFileError(str(path), f"line {line}, column {column}: {value!r} is not {_TYPE_WORDS.get(schema[column].base_type(), schema[column])}")
    return conform(typed.lazy(), table)


_TYPE_WORDS = {pl.Datetime: "a timestamp", pl.Int64: "a whole number", pl.Float64: "a number", pl.Boolean: "true or false"}


def _parse_cell(column: str, dtype: pl.DataType) -> pl.Expr:
    """A CSV text column as its canonical type; null where a cell cannot be read (checked by the caller)."""
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return col.str.to_datetime(time_zone="UTC", strict=False)
    if dtype == pl.Boolean:
        return col.str.to_lowercase().replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)
    return col.cast(dtype, strict=False)


def _castable(found: pl.DataType, wanted: pl.DataType) -> bool:
    """Whether a Parquet column of type ``found`` can stand for a canonical column of type ``wanted``."""
    if found == wanted or found == pl.Null or wanted == pl.String:
        return True
    if found.is_numeric() and wanted.is_numeric():
        return True
    return found.is_temporal() and wanted.is_temporal()


def _read_file(path: Path, format: str | None, conv: Conventions, collectors: dict[str, Collector],
               tables: dict[str, list[pl.LazyFrame]], advance) -> None:
    """One input file into its format's collector (or, for a canonical table file, into ``tables``)."""
    table = _canonical_table(path)
    if table is not None and format in (None, "canonical"):
        tables[table].append(_scan_table(path, table))
        return
    head = read_head(path)
    fmt = format or detect(head[:SNIFF_BYTES], logical_name(path))
    col = collectors.setdefault(fmt or "unknown", Collector(fmt or "unknown"))
    problems: list[str] = []
    reader = registry.BY_NAME.get(fmt) if fmt else None
    lines = reader is not None and is_line_delimited(head)
    compiled = registry.module(reader.compiled) if lines and reader.compiled else None
    if reader is None:
        col.reject(str(path), RejectReason.UNKNOWN_FORMAT,
                   "cannot tell which export format this is; pass format= (or --input-format) to choose a reader")
    elif compiled is not None and compiled.available(conv):
        compiled.read_file(col, conv, path, problems, advance)  # compiled, block by block
    elif lines and reader.read_lines:
        read_lines = registry.function(reader.read_lines)
        read_lines(col, conv, stream_lines(path, problems, advance), str(path))  # never the whole file in memory
    else:
        data, problem = read_bytes(path)
        registry.function(reader.read)(col, conv, data, str(path))
        del data
        problems += [problem] if problem else []
    for problem in problems:
        col.reject(str(path), RejectReason.TRUNCATED_FILE, problem)


def load_traces(
    paths: str | os.PathLike | list,
    mapping: str | os.PathLike | Mapping | None = None,
    pricing: str | os.PathLike | Pricing | None = None,
    labels: str | os.PathLike | list | None = None,
    format: str | None = None,
    progress: bool = False,
) -> TraceSet:
    """Read trace exports into the canonical model.

    paths: files, folders (read recursively) or glob patterns; plain or gzip-compressed.
    mapping / pricing: YAML files (see templates/); defaults follow the GenAI/OpenInference conventions
    and price nothing (cost reported by the export is still used).
    labels: one or more CSV/JSONL label files keyed by run_id.
    format: force one reader ({formats}) instead of detecting each file's format.
    """
    if format is not None and format not in registry.BY_NAME:
        raise AgentOpsError(f"unknown format {format!r}: expected one of {registry.listing()}")
    mapping, pricing = load_mapping(mapping), load_pricing(pricing)
    conv = Conventions(mapping)
    files = expand_paths(paths)
    label_files = [] if labels is None else ([labels] if isinstance(labels, (str, os.PathLike)) else list(labels))
    extra_labels = [labels_mod.load_labels(p) for p in label_files]

    collectors: dict[str, Collector] = {}
    tables: dict[str, list[pl.LazyFrame]] = {t: [] for t in TABLES}
    bar = None
    if progress:  # by bytes on disk, so that one large export shows progress too
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(p.stat().st_size for p in files), desc=f"reading {len(files)} file(s)",
                   unit="B", unit_scale=True, unit_divisor=1024)
    for path in files:
        counted = bar.n if bar is not None else 0
        _read_file(path, format, conv, collectors, tables, bar.update if bar is not None else None)
        if bar is not None:
            bar.update(path.stat().st_size - (bar.n - counted))  # the rest of this file
    if bar is not None:
        bar.close()

    all_cols = list(collectors.values())
    steps_raw, duplicates = drop_duplicates(step_frame(all_cols))
    if duplicates:
        all_cols[0].rejected.extend(duplicates)
    export_labels = pl.DataFrame([r for c in all_cols for r in c.labels], schema=TABLE_SCHEMAS["labels"], orient="row")
    given = pl.concat([export_labels, *extra_labels, *(t.collect() for t in tables["labels"])])
    tables["labels"] = []
    run_ids = pl.concat([steps_raw.lazy().select("run_id"), *(t.select("run_id") for t in tables["runs"])])
    labels_frame, id_problems = labels_mod.match_runs(given, run_ids)
    label_problems = pl.concat([id_problems.lazy(), labels_mod.value_problems(labels_frame.lazy(), mapping.outcome.label)])
    if steps_raw.height:
        steps, runs = assemble(steps_raw, labels_frame, mapping, pricing)
    else:
        steps, runs = empty("steps"), empty("runs")
    sources = pl.concat([empty("sources"), *(f for c in all_cols for f in c.source_frames)])  # flushed above
    rejected = pl.DataFrame([r for c in all_cols for r in c.rejected], schema=TABLE_SCHEMAS["rejected"], orient="row")
    frames = {"runs": runs, "steps": steps, "sources": sources, "labels": labels_frame, "rejected": rejected}
    lazy = {
        name: pl.concat([frames[name].lazy(), *tables[name]], how="vertical") if tables[name] else frames[name].lazy()
        for name in TABLES
    }
    return TraceSet(**lazy, inputs=[str(p) for p in files], label_problems=label_problems.collect().lazy())


if load_traces.__doc__:  # the formats, from the registry (None under python -OO)
    load_traces.__doc__ = load_traces.__doc__.replace("{formats}", registry.listing())
