"""``ingest(paths, into=STORE)``: add exports to a store, in one atomic commit.

Runs are derived from their steps, so a run touched by this ingest (new spans, late spans of a stored run, a
label that decides its outcome) is assembled again from the union of its stored steps and the new ones; its
rows leave the parts that held them (which are written anew without them) and land in the week of its start.
Only the weeks such runs could be in are read: the weeks the new spans fall in, ``LATE`` either side.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import labels as labels_mod
from ..assemble import assemble, drop_duplicates, step_frame
from ..conventions import Conventions
from ..errors import AgentOpsError
from ..files import expand_paths
from ..load import read_files
from ..mapping import Mapping, load_mapping
from ..model import TABLE_SCHEMAS, conform, empty
from ..pricing import Pricing, load_pricing, pricing_source
from ..readers import registry
from ..readers.collector import STEP_ROW_SCHEMA
from ..tableset import is_table_set
from ..weeks import iso_week
from .commit import now, publish, write_part
from .layout import FACTS_SCHEMA, TIME, UNKNOWN_WEEK, UNMATCHED, WEEK_TABLES, StoreError, read_commit, week_dir
from .lock import store_lock
from .manifest import MANIFEST_SCHEMA, plan_files
from .partitions import entries_of, locate_runs, scan, take_runs

LATE = dt.timedelta(days=7)  # how far from its run a late span may start and still find it
SCHEMAS = {**TABLE_SCHEMAS, "facts": FACTS_SCHEMA}


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


def _raw_rows(steps: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """Stored steps and their facts back into the step rows ``assemble`` takes."""
    joined = steps.drop("cost_usd", "cost_source").join(facts, on=["run_id", "step_id"], how="left")
    return joined.rename({"export_cost_usd": "cost_usd"}).select(*STEP_ROW_SCHEMA, "format", "started_at", "ended_at")


def _facts(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.rename({"cost_usd": "export_cost_usd"}).select(list(FACTS_SCHEMA))


def _candidate_weeks(doc: dict, raw: pl.DataFrame) -> list[str]:
    """The stored weeks whose runs could share a trace with the new spans."""
    stored = [w for w, parts in doc["parts"]["runs"].items() if parts]
    span = raw.select(pl.col("started_at").min().alias("lo"),
                      pl.max_horizontal(pl.col("ended_at").max(), pl.col("started_at").max()).alias("hi")).row(0)
    if span[0] is None:
        return stored
    lo, hi = span[0] - LATE, span[1] + LATE
    out = []
    for week in stored:
        info = doc["weeks"].get(week, {})
        if week == UNKNOWN_WEEK or not info.get("first"):
            out.append(week)
            continue
        first, last = dt.datetime.fromisoformat(info["first"]), dt.datetime.fromisoformat(info["last"])
        if first <= hi and last >= lo:
            out.append(week)
    return out


def _week_column() -> pl.Expr:
    return iso_week().fill_null(pl.lit(UNKNOWN_WEEK)).alias("week")


def ingest(paths, into: str | os.PathLike, mapping: str | os.PathLike | Mapping | None = None,
           pricing: str | os.PathLike | Pricing | None = None, labels=None, format: str | None = None,
           progress: bool = False, on_wait=None) -> IngestResult:
    """Add trace exports (files, folders, globs) and label files to the store ``into`` in one atomic commit.

    Files already ingested (same path, size and time, or same SHA-256) are skipped; a file whose content
    changed since it was ingested is reported in ``IngestResult.files_changed`` and not read. A span already in
    the store (same run and step id) is one step: the later copy is rejected as ``duplicate_span``. Concurrent
    ingests into one store wait for each other (``on_wait`` is told, default: a line on stderr).

    Example (in a folder made by ``agentops-kit init``)::

        >>> ak.ingest("data/sample/traces.otlp.jsonl.gz", into="store").runs_added
        616
        >>> ak.ingest("data/sample/traces.otlp.jsonl.gz", into="store").changed_nothing
        True
    """
    if format is not None and format not in registry.BY_NAME:
        raise AgentOpsError(f"unknown format {format!r}: expected one of {registry.listing()}")
    store = Path(into)
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
        written = _commit(store, doc, commit, new_exports, new_labels, mapping_obj, pricing_obj, format, progress,
                          result)
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


def _commit(store: Path, doc: dict, commit: int, exports: list[Path], label_files: list[Path], mapping: Mapping,
            pricing: Pricing, format: str | None, progress: bool, result: IngestResult) -> dict:
    """Write the parts of the new commit; the new commit document (not yet published)."""
    collectors, _ = read_files(exports, format, Conventions(mapping), progress)
    raw_new = step_frame(collectors)
    if "started_at" not in raw_new.columns:  # no step read (step_frame adds the times only to rows)
        raw_new = raw_new.with_columns(pl.lit(None, TIME).alias("started_at"), pl.lit(None, TIME).alias("ended_at"))
    sources_new = pl.concat([empty("sources"), *(f for c in collectors for f in c.source_frames)])
    rejected_rows = [r for c in collectors for r in c.rejected]
    given = pl.concat([
        pl.DataFrame([r for c in collectors for r in c.labels], schema=TABLE_SCHEMAS["labels"], orient="row"),
        *(labels_mod.load_labels(p) for p in label_files),
        scan(store, doc["parts"]["labels"].get(UNMATCHED, []), TABLE_SCHEMAS["labels"]).collect(),
    ])

    # runs this ingest touches: those of the new spans, and those new (or pending) labels name
    new_ids = raw_new.select(pl.col("run_id").unique())
    weeks = _candidate_weeks(doc, raw_new) if raw_new.height else []
    located = locate_runs(store, doc, weeks, new_ids)
    unmatched = empty("labels")
    if given.height:
        stored_ids = pl.concat([scan(store, entries_of(doc, "runs", [w]), TABLE_SCHEMAS["runs"])
                                .select("run_id", pl.lit(w).alias("week")) for w in doc["parts"]["runs"]]
                               or [pl.LazyFrame(schema={"run_id": pl.String, "week": pl.String})]).collect()
        known = pl.concat([new_ids, stored_ids.select("run_id")]).unique()
        matched, _ = labels_mod.match_runs(given, known.lazy())
        is_known = pl.col("run_id").is_in(known.get_column("run_id").implode())
        unmatched, matched = matched.filter(~is_known), matched.filter(is_known)
        located = pl.concat([located, stored_ids.join(matched.select("run_id").unique(), on="run_id", how="semi")]
                            ).unique()
        given = matched
    result.labels_unmatched = unmatched.height
    affected = located.select("run_id").unique()
    touched_weeks = sorted(set(located.get_column("week").to_list()))

    # the stored rows of those runs, out of the parts that held them
    taken, parts = {}, {}
    for table in WEEK_TABLES:
        taken[table], parts[table] = take_runs(store, doc, table, SCHEMAS[table], touched_weeks, affected, commit)

    raw_old = _raw_rows(conform(taken["steps"], "steps"), taken["facts"]) if taken["steps"].height else None
    union = pl.concat([raw_old, raw_new.select(raw_old.columns)]) if raw_old is not None else raw_new
    union, duplicates = drop_duplicates(union)
    rejected_rows += duplicates
    result.duplicate_spans = len(duplicates)
    label_rows = pl.concat([conform(taken["labels"], "labels"), given]).unique(maintain_order=True)
    if union.height:
        steps, runs = assemble(union, label_rows.filter(pl.col("run_id").is_in(union["run_id"].implode())),
                               mapping, pricing)
    else:
        steps, runs = empty("steps"), empty("runs")
    sources = pl.concat([conform(taken["sources"], "sources"), sources_new]).unique(maintain_order=True)
    frames = {"runs": runs, "steps": steps, "facts": _facts(union), "sources": sources,
              "labels": label_rows.join(runs.select("run_id"), on="run_id", how="semi")}
    result.runs_updated = affected.height
    result.runs_added = runs.height - affected.height
    result.steps_added = union.height - (raw_old.height if raw_old is not None else 0)

    # each run's rows into the week of its start
    run_week = runs.select("run_id", _week_column())
    new_doc = {**doc, "commit": commit, "parts": {t: dict(doc["parts"][t]) for t in WEEK_TABLES},
               "weeks": dict(doc["weeks"])}
    for table in WEEK_TABLES:
        new_doc["parts"][table].update(parts[table])
        frame = frames[table].join(run_week, on="run_id", how="left")
        for (week,), rows in frame.partition_by("week", as_dict=True, maintain_order=True).items():
            rows = rows.drop("week")
            entry = write_part(store, week_dir(table, week), commit, rows)
            new_doc["parts"][table].setdefault(week, []).append(entry)
    # the pending labels were all read into ``given`` above: what is still unmatched replaces them
    new_doc["parts"]["labels"][UNMATCHED] = (
        [write_part(store, week_dir("labels", UNMATCHED), commit, unmatched)] if unmatched.height else [])
    for table in WEEK_TABLES:
        new_doc["parts"][table] = {w: p for w, p in new_doc["parts"][table].items() if p}
    ranges = runs.with_columns(_week_column()).group_by("week").agg(
        pl.col("started_at").min().alias("first"), pl.max_horizontal("ended_at", "started_at").max().alias("last"))
    for week, first, last in ranges.iter_rows():
        old = new_doc["weeks"].get(week, {})
        if first is not None:
            first = min(first, dt.datetime.fromisoformat(old["first"])) if old.get("first") else first
            last = max(last, dt.datetime.fromisoformat(old["last"])) if old.get("last") else last
        new_doc["weeks"][week] = {"first": first and first.isoformat(), "last": last and last.isoformat()}
    for week in list(new_doc["weeks"]):
        runs_parts = new_doc["parts"]["runs"].get(week, [])
        if not runs_parts:
            del new_doc["weeks"][week]
        else:
            new_doc["weeks"][week]["runs"] = sum(e["rows"] for e in runs_parts)
    result.weeks_written = sorted(set(run_week.get_column("week").to_list()) | set(touched_weeks))
    rejected = pl.DataFrame(rejected_rows, schema=TABLE_SCHEMAS["rejected"], orient="row")
    result.rejected = rejected.height
    new_doc["rejected"] = doc["rejected"] + ([write_part(store, "rejected", commit, rejected)] if rejected.height else [])
    return new_doc
