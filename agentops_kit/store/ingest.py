"""``ingest(paths, into=STORE)``: add exports to a store, in one atomic commit.

Runs are derived from their steps, so a run touched by this ingest (new spans, late spans of a stored run, a
label that decides its outcome) is assembled again from the union of its stored steps and the new ones; its
rows leave the parts that held them (which are written anew without them) and land in the week of its start.
Only the weeks such runs could be in are read: the weeks the new spans fall in, ``LATE`` either side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..assemble import step_frame
from ..conventions import Conventions
from ..errors import AgentOpsError, UsageError
from ..files import expand_paths
from ..load import read_files
from ..mapping import Mapping, load_mapping
from ..model import empty
from ..pricing import Pricing, load_pricing, pricing_source
from ..readers import registry
from ..spark_session import is_spark_session, spark_session
from ..tableset import is_table_set
from .assembly import RAW_COLUMNS, given_labels, new_commit, plan_runs, span_of, write_runs
from .commit import now, publish, write_part
from .layout import TIME, StoreError, read_commit, store_path
from .lock import store_lock
from .manifest import MANIFEST_SCHEMA, plan_files
from .partitions import scan


@dataclass
class IngestResult:
    """What one ingest did. ``changed`` lists files that differ from what was ingested under their path:
    they were not read (nothing is counted twice)."""

    store: str
    commit: int | None  # the new commit, None when nothing changed
    files_added: list[str] = field(default_factory=list)
    files_unchanged: list[tuple[str, str]] = field(default_factory=list)
    files_changed: list[tuple[str, str]] = field(default_factory=list)
    runs_added: int = 0
    runs_updated: int = 0  # stored runs assembled again with late spans or new labels
    steps_added: int = 0
    duplicate_spans: int = 0
    rejected: int = 0
    labels_unmatched: int = 0
    weeks_written: list[str] = field(default_factory=list)

    @property
    def changed_nothing(self) -> bool:
        return self.commit is None

    def text(self) -> str:
        lines = []
        if self.changed_nothing:
            lines.append(f"{self.store}: no change (every file given is already in the store)")
        else:
            lines.append(f"{self.store}: commit {self.commit}: {len(self.files_added)} file(s) added; "
                         f"runs +{self.runs_added} new, {self.runs_updated} updated; steps +{self.steps_added}; "
                         f"duplicate spans dropped {self.duplicate_spans}; rejected records {self.rejected}; "
                         f"weeks written: {', '.join(self.weeks_written) or 'none'}")
            if self.labels_unmatched:
                lines.append(f"labels naming no run yet: {self.labels_unmatched} (kept; matched again at each ingest)")
        lines += [f"unchanged: {p}: {why}" for p, why in self.files_unchanged]
        lines += [f"CHANGED: {p}: {why}" for p, why in self.files_changed]
        return "\n".join(lines)


def ingest(paths, into: str | os.PathLike, mapping: str | os.PathLike | Mapping | None = None,
           pricing: str | os.PathLike | Pricing | None = None, labels=None, format: str | None = None,
           progress: bool = False, on_wait=None, engine=None, spark_master: str | None = None) -> IngestResult:
    """Add trace exports (files, folders, globs) and label files to the store ``into`` in one atomic commit.

    Files already ingested (same path, size and time, or same SHA-256) are skipped; a file whose content
    changed since it was ingested is reported in ``IngestResult.files_changed`` and not read. A span already in
    the store (same run and step id) is one step: the later copy is rejected as ``duplicate_span``. Concurrent
    ingests into one store wait for each other (``on_wait`` is told, default: a line on stderr).

    ``engine="spark"`` (started with ``spark_master``, default ``local[*]``) or a SparkSession decodes the
    exports in Spark executors and assembles the runs there, a share of the runs per task
    (``store/spark_ingest.py``): the store written is the same. Default: polars, in this process.

    Example (in a folder made by ``agentops-kit init``)::

        >>> ak.ingest("data/sample/traces.otlp.jsonl.gz", into="store").runs_added
        616
        >>> ak.ingest("data/sample/traces.otlp.jsonl.gz", into="store").changed_nothing
        True
    """
    if format is not None and format not in registry.BY_NAME:
        raise AgentOpsError(f"unknown format {format!r}: expected one of {registry.listing()}")
    store = store_path(into)
    if store.exists() and not store.is_dir():
        raise StoreError(store, "exists and is not a folder: a store is a folder")
    read_commit(store, must_exist=False)  # a folder that is not a store is refused before any reading
    if not paths and not labels:
        raise AgentOpsError("ingest: no exports and no labels given: nothing to add")
    files = expand_paths(paths) if paths else []  # labels alone may decide the outcome of stored runs
    folder = next((p for p in files if p.is_dir() or is_table_set(p)), None)
    if folder is not None:
        raise StoreError(folder, "is a table set: a store takes exports (their steps are kept to assemble runs "
                                 "again when late spans arrive); ingest the exports the table set was made from")
    label_files = [] if labels is None else [Path(p) for p in ([labels] if isinstance(labels, (str, os.PathLike))
                                                               else labels)]
    for path in label_files:
        if not path.is_file():
            raise StoreError(path, "labels file not found")
    mapping_obj, pricing_obj = load_mapping(mapping), load_pricing(pricing)
    on_spark = _on_spark(engine)
    with store_lock(store, on_wait):
        doc = read_commit(store, must_exist=False)
        plan = plan_files([*files, *label_files], ["export"] * len(files) + ["labels"] * len(label_files),
                          scan(store, doc["manifest"], MANIFEST_SCHEMA))
        result = IngestResult(store=str(store), commit=None, files_unchanged=plan.unchanged,
                              files_changed=plan.changed)
        if not plan.new:
            return result
        commit = doc["commit"] + 1
        new_exports = [Path(e["path"]) for e in plan.new if e["kind"] == "export"]
        new_labels = [Path(e["path"]) for e in plan.new if e["kind"] == "labels"]
        if not on_spark:
            written = _commit(store, doc, commit, new_exports, new_labels, mapping_obj, pricing_obj, format,
                              progress, result)
        else:
            from .spark_ingest import commit_with_spark

            spark = engine if is_spark_session(engine) else spark_session(spark_master)  # only with work to do
            written = commit_with_spark(spark, store, doc, commit, new_exports, new_labels, mapping_obj,
                                        pricing_obj, format, result)
        at = now()
        read = pl.DataFrame([{**e, "commit": commit, "ingested_at": at} for e in plan.new], schema=MANIFEST_SCHEMA)
        written["manifest"] = doc["manifest"] + [write_part(store, "manifest", commit, read)]
        written["history"] = doc["history"] + [{
            "commit": commit, "at": at, "action": "ingest", "files": len(plan.new),
            "mapping": str(Path(mapping).resolve()) if isinstance(mapping, (str, os.PathLike)) else
            ("default conventions" if mapping is None else "a Mapping given in code"),
            "pricing": pricing_source(pricing), "runs_added": result.runs_added, "runs_updated": result.runs_updated,
            "rejected": result.rejected, "changed_files_skipped": [p for p, _ in plan.changed]}]
        written["created"] = at
        publish(store, written, doc)
        result.commit = commit
        result.files_added = [e["path"] for e in plan.new]
        return result


def _on_spark(engine) -> bool:
    """Whether ``engine`` (None, "polars", "spark" or a SparkSession) ingests on Spark."""
    name = engine.strip().lower() if isinstance(engine, str) else None
    if engine is None or name == "polars":
        return False
    if name == "spark" or is_spark_session(engine):
        return True
    raise UsageError(f"ingest engine {engine!r}: choose polars or spark (or pass a SparkSession)")


def _commit(store: Path, doc: dict, commit: int, exports: list[Path], label_files: list[Path], mapping: Mapping,
            pricing: Pricing, format: str | None, progress: bool, result: IngestResult) -> dict:
    """Write the parts of the new commit; the new commit document (not yet published)."""
    collectors, _ = read_files(exports, format, Conventions(mapping), progress)
    raw_new = step_frame(collectors)
    if "started_at" not in raw_new.columns:  # no step read (step_frame adds the times only to rows)
        raw_new = raw_new.with_columns(pl.lit(None, TIME).alias("started_at"), pl.lit(None, TIME).alias("ended_at"))
    sources_new = pl.concat([empty("sources"), *(f for c in collectors for f in c.source_frames)])
    given = given_labels(store, doc, [r for c in collectors for r in c.labels], label_files)
    plan = plan_runs(store, doc, commit, raw_new.select(pl.col("run_id").unique()), span_of(raw_new), given)
    union = pl.concat([plan.raw_old, raw_new.select(RAW_COLUMNS)])
    sources = pl.concat([plan.sources_old, sources_new]).unique(maintain_order=True)
    written = write_runs(store, commit, union, sources, plan.label_rows, mapping, pricing)
    return new_commit(store, doc, commit, plan, [written], [r for c in collectors for r in c.rejected], result)

