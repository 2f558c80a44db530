"""What an ingest writes, whichever engine decoded the exports: the stored runs it touches taken out of their
parts, runs assembled from their old and new steps and written into the week of their start, and the commit
document that lists it all.

Runs are independent of each other, so ``write_runs`` may be given all the runs of an ingest at once (polars)
or a share of them per task (Spark, ``spark_ingest.py``): the rows written are the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import labels as labels_mod
from ..assemble import assemble, drop_duplicates
from ..mapping import Mapping
from ..model import TABLE_SCHEMAS, conform, empty
from ..pricing import Pricing
from ..readers.collector import STEP_ROW_SCHEMA
from ..weeks import iso_week
from .commit import write_part
from .layout import FACTS_SCHEMA, TIME, UNKNOWN_WEEK, UNMATCHED, WEEK_TABLES, week_dir
from .partitions import entries_of, locate_runs, scan, take_runs

LATE = dt.timedelta(days=7)  # how far from its run a late span may start and still find it
SCHEMAS = {**TABLE_SCHEMAS, "facts": FACTS_SCHEMA}
RAW_SCHEMA = pl.Schema([*STEP_ROW_SCHEMA.items(), ("format", pl.String()), ("started_at", TIME), ("ended_at", TIME)])
RAW_COLUMNS = list(RAW_SCHEMA)  # the step rows ``assemble`` takes


def raw_rows(steps: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """Stored steps and their facts back into the step rows ``assemble`` takes."""
    joined = steps.drop("cost_usd", "cost_source").join(facts, on=["run_id", "step_id"], how="left")
    return joined.rename({"export_cost_usd": "cost_usd"}).select(RAW_COLUMNS)


def _facts(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.rename({"cost_usd": "export_cost_usd"}).select(list(FACTS_SCHEMA))


def span_of(raw: pl.DataFrame) -> tuple | None:
    """(first start, last end or start) of the step rows ``raw``; None when there are none."""
    if not raw.height:
        return None
    return raw.select(pl.col("started_at").min().alias("lo"),
                      pl.max_horizontal(pl.col("ended_at").max(), pl.col("started_at").max()).alias("hi")).row(0)


def candidate_weeks(doc: dict, span: tuple) -> list[str]:
    """The stored weeks whose runs could share a trace with new spans from ``span[0]`` to ``span[1]``."""
    stored = [w for w, parts in doc["parts"]["runs"].items() if parts]
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


def week_column() -> pl.Expr:
    return iso_week().fill_null(pl.lit(UNKNOWN_WEEK)).alias("week")


def given_labels(store: Path, doc: dict, export_labels: list[tuple], label_files: list[Path]) -> pl.DataFrame:
    """The labels this ingest matches to runs: those the exports carry, the label files', and those pending."""
    return pl.concat([
        pl.DataFrame(export_labels, schema=TABLE_SCHEMAS["labels"], orient="row"),
        *(labels_mod.load_labels(p) for p in label_files),
        scan(store, doc["parts"]["labels"].get(UNMATCHED, []), TABLE_SCHEMAS["labels"]).collect(),
    ])


@dataclass
class RunPlan:
    """The stored runs an ingest assembles again, and what it took out of the store for them."""

    affected: pl.DataFrame  # run_id of the stored runs touched (late spans, new labels)
    touched_weeks: list[str]
    raw_old: pl.DataFrame  # their step rows (RAW_COLUMNS)
    sources_old: pl.DataFrame
    label_rows: pl.DataFrame  # the labels of every run assembled: stored ones and those given, matched
    unmatched: pl.DataFrame  # labels naming no run yet
    parts: dict[str, dict[str, list[dict]]]  # table -> week -> the parts left once those runs are taken out


def plan_runs(store: Path, doc: dict, commit: int, new_ids: pl.DataFrame, span: tuple | None,
              given: pl.DataFrame) -> RunPlan:
    """The stored runs this ingest touches — those of the new spans (run ids ``new_ids``, times ``span``, None
    when there are no new spans) and those the ``given`` labels (with the pending ones) name — taken out of
    their parts (written anew without them: ``commit``)."""
    weeks = candidate_weeks(doc, span) if span is not None else []
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
    affected = located.select("run_id").unique()
    touched_weeks = sorted(set(located.get_column("week").to_list()))
    taken, parts = {}, {}
    for table in WEEK_TABLES:
        taken[table], parts[table] = take_runs(store, doc, table, SCHEMAS[table], touched_weeks, affected, commit)
    raw_old = (raw_rows(conform(taken["steps"], "steps"), taken["facts"]) if taken["steps"].height
               else pl.DataFrame(schema=RAW_SCHEMA))
    label_rows = pl.concat([conform(taken["labels"], "labels"), given]).unique(maintain_order=True)
    return RunPlan(affected, touched_weeks, raw_old, conform(taken["sources"], "sources"), label_rows, unmatched,
                   parts)


@dataclass
class Written:
    """The parts ``write_runs`` wrote, and what the commit document and the ingest's result need of them."""

    entries: dict[str, dict[str, list[dict]]] = field(default_factory=lambda: {t: {} for t in WEEK_TABLES})
    ranges: pl.DataFrame = field(default_factory=lambda: pl.DataFrame())  # week, first start, last end
    duplicates: list[tuple] = field(default_factory=list)  # rejected rows of the spans read twice
    runs: int = 0
    steps: int = 0


def write_runs(store: Path, commit: int, union: pl.DataFrame, sources: pl.DataFrame, label_rows: pl.DataFrame,
               mapping: Mapping, pricing: Pricing) -> Written:
    """Assemble the runs of the step rows ``union`` (stored ones first, then new ones in reading order) and
    write them, their steps, facts, ``sources`` and labels into the weeks of their start (parts of ``commit``)."""
    union, duplicates = drop_duplicates(union)
    if union.height:
        steps, runs = assemble(union, label_rows.filter(pl.col("run_id").is_in(union["run_id"].implode())),
                               mapping, pricing)
    else:
        steps, runs = empty("steps"), empty("runs")
    frames = {"runs": runs, "steps": steps, "facts": _facts(union), "sources": sources,
              "labels": label_rows.join(runs.select("run_id"), on="run_id", how="semi")}
    run_week = runs.select("run_id", week_column())
    written = Written(duplicates=duplicates, runs=runs.height, steps=union.height)
    for table in WEEK_TABLES:
        frame = frames[table].join(run_week, on="run_id", how="left")
        for (week,), rows in frame.partition_by("week", as_dict=True, maintain_order=True).items():
            entry = write_part(store, week_dir(table, week), commit, rows.drop("week"))
            written.entries[table].setdefault(week, []).append(entry)
    written.ranges = runs.with_columns(week_column()).group_by("week").agg(
        pl.col("started_at").min().alias("first"), pl.max_horizontal("ended_at", "started_at").max().alias("last"))
    return written


def new_commit(store: Path, doc: dict, commit: int, plan: RunPlan, written: list[Written], rejected_rows: list,
               result) -> dict:
    """The commit document listing the parts of ``plan`` and ``written`` (not yet published); the counts into
    ``result`` (an IngestResult)."""
    new_doc = {**doc, "commit": commit, "parts": {t: dict(doc["parts"][t]) for t in WEEK_TABLES},
               "weeks": dict(doc["weeks"])}
    for table in WEEK_TABLES:
        new_doc["parts"][table].update(plan.parts[table])
        for share in written:
            for week, entries in share.entries[table].items():
                new_doc["parts"][table].setdefault(week, []).extend(entries)
    # the pending labels were all read into the plan: what is still unmatched replaces them
    new_doc["parts"]["labels"][UNMATCHED] = (
        [write_part(store, week_dir("labels", UNMATCHED), commit, plan.unmatched)] if plan.unmatched.height else [])
    for table in WEEK_TABLES:
        new_doc["parts"][table] = {w: p for w, p in new_doc["parts"][table].items() if p}
    ranges = [w.ranges for w in written if w.ranges.height]
    merged = (pl.concat(ranges).group_by("week").agg(pl.col("first").min(), pl.col("last").max())
              if ranges else pl.DataFrame())
    for week, first, last in merged.iter_rows():
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
    duplicates = [d for w in written for d in w.duplicates]
    result.duplicate_spans = len(duplicates)
    result.labels_unmatched = plan.unmatched.height
    result.runs_updated = plan.affected.height
    result.runs_added = sum(w.runs for w in written) - plan.affected.height
    result.steps_added = sum(w.steps for w in written) - plan.raw_old.height
    result.weeks_written = sorted({wk for w in written for wk in w.entries["runs"]} | set(plan.touched_weeks))
    rejected = pl.DataFrame(rejected_rows + duplicates, schema=TABLE_SCHEMAS["rejected"], orient="row")
    result.rejected = rejected.height
    new_doc["rejected"] = doc["rejected"] + ([write_part(store, "rejected", commit, rejected)] if rejected.height else [])
    return new_doc
