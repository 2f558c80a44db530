"""``load_traces``: files, folders or globs of any supported export -> one canonical ``TraceSet``."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from . import labels as labels_mod
from .assemble import assemble, drop_duplicates, step_frame
from .conventions import Conventions
from .errors import AgentOpsError
from .files import (
    expand_paths,
    is_line_delimited,
    is_zstd,
    logical_name,
    read_bytes,
    read_head,
    stream_lines,
)
from .mapping import Mapping, load_mapping
from .model import TABLE_SCHEMAS, RejectReason, conform, empty
from .pricing import Pricing, load_pricing, pricing_source
from .readers import registry
from .readers.collector import Collector
from .readers.detect import detect
from .tableset import loose_table_error, table_paths
from .traceset import TABLES, TraceSet

SNIFF_BYTES = 64 * 1024


def _canonical_table(path: Path) -> str | None:
    """'runs', 'steps', ... for a canonical Parquet/CSV table file, else None."""
    name = logical_name(path)
    stem, _, ext = name.rpartition(".")
    if ext.lower() in ("parquet", "csv") and stem in TABLES:
        return stem
    return None


def _disk_size(path: Path) -> int:
    """Bytes of a file, or of the tables in a table-set folder."""
    return sum(p.stat().st_size for p in path.rglob("*.parquet")) if path.is_dir() else path.stat().st_size


def _read_file(path: Path, format: str | None, conv: Conventions, collectors: dict[str, Collector],
               tables: dict[str, list[pl.LazyFrame]], advance, table_files: dict[str, list[str]] | None = None) -> None:
    """One input file into its format's collector (or, for a table-set folder, its tables into ``tables`` and
    their files into ``table_files``)."""
    if path.is_dir():
        for name, file in table_paths(path, TABLES).items():
            tables[name].append(conform(pl.scan_parquet(file), name))
            if table_files is not None:
                table_files[name].append(str(file))
        return
    head = read_head(path)
    fmt = format or detect(head[:SNIFF_BYTES], logical_name(path))
    col = collectors.setdefault(fmt or "unknown", Collector(fmt or "unknown"))
    problems: list[str] = []
    reader = registry.BY_NAME.get(fmt) if fmt else None
    lines = reader is not None and is_line_delimited(head) and not is_zstd(path)  # zstd: read whole
    compiled = registry.module(reader.compiled) if lines and reader.compiled else None  # type: ignore[union-attr]  # lines: a reader
    if reader is None and not head and is_zstd(path) and read_bytes(path)[1]:
        problems.append(read_bytes(path)[1] or "")  # nothing could be decompressed: say why, not "unknown format"
    elif reader is None:
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


def read_files(files: list[Path], format: str | None, conv: Conventions, progress: bool = False,
               table_files: dict[str, list[str]] | None = None) -> tuple[list[Collector], dict[str, list[pl.LazyFrame]]]:
    """Every file into its format's collector (table-set folders: their tables, and their files into
    ``table_files``), with a progress bar by bytes."""
    collectors: dict[str, Collector] = {}
    tables: dict[str, list[pl.LazyFrame]] = {t: [] for t in TABLES}
    bar = None
    if progress:  # by bytes on disk, so that one large export shows progress too
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(_disk_size(p) for p in files), desc=f"reading {len(files)} file(s)",
                   unit="B", unit_scale=True, unit_divisor=1024)
    for path in files:
        counted = bar.n if bar is not None else 0
        _read_file(path, format, conv, collectors, tables, bar.update if bar is not None else None, table_files)
        if bar is not None:
            bar.update(_disk_size(path) - (bar.n - counted))  # the rest of this file
    if bar is not None:
        bar.close()
    return list(collectors.values()), tables


def load_traces(
    paths: str | os.PathLike | list,
    mapping: str | os.PathLike | Mapping | None = None,
    pricing: str | os.PathLike | Pricing | None = None,
    labels: str | os.PathLike | list | None = None,
    format: str | None = None,
    progress: bool = False,
) -> TraceSet:
    """Read trace exports into the canonical model.

    paths: files, folders (read recursively) or glob patterns; plain or compressed (gzip, zstd).
    mapping / pricing: YAML files (see templates/); the mapping defaults to the GenAI/OpenInference
    conventions, the pricing to the bundled dated list of public list prices (cost reported by the export
    always wins); ``TraceSet.priced_by`` says which list priced the calls.
    labels: one or more CSV/JSONL label files keyed by run_id.
    format: force one reader ({formats}) instead of detecting each file's format.

    Example (in a folder made by ``agentops-kit init``)::

        >>> ts = ak.load_traces("data/sample/traces.otlp.jsonl.gz", mapping="templates/mapping.yaml",
        ...                     labels="data/sample/labels.csv")
        >>> ts.runs.collect().height
        616
    """
    if format is not None and format not in registry.BY_NAME:
        raise AgentOpsError(f"unknown format {format!r}: expected one of {registry.listing()}")
    pricing_arg = pricing
    mapping, pricing = load_mapping(mapping), load_pricing(pricing)
    conv = Conventions(mapping)
    files = expand_paths(paths)
    if format in (None, "canonical"):
        loose = next((p for p in files if p.is_file() and _canonical_table(p)), None)
        if loose is not None:  # before any reading: one table alone is a set with the others missing
            raise loose_table_error(loose)
    label_files = [] if labels is None else ([labels] if isinstance(labels, (str, os.PathLike)) else list(labels))
    extra_labels = [labels_mod.load_labels(p) for p in label_files]

    table_files: dict[str, list[str]] = {t: [] for t in TABLES}
    all_cols, tables = read_files(files, format, conv, progress, table_files)
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
    priced_by = pricing_source(pricing_arg) if steps_raw.height else None  # canonical tables keep their costs
    only_sets = bool(files) and all(p.is_dir() for p in files)  # then runs, steps and sources are the files'
    return TraceSet(**lazy, inputs=[str(p) for p in files], priced_by=priced_by,
                    label_problems=label_problems.collect().lazy(),
                    files={t: table_files[t] for t in ("runs", "steps", "sources")} if only_sets else None)


if load_traces.__doc__:  # the formats, from the registry (None under python -OO)
    load_traces.__doc__ = load_traces.__doc__.replace("{formats}", registry.listing())
