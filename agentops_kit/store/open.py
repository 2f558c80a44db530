"""``open_store(STORE, weeks=..., agents=...)``: a lazy ``TraceSet`` over only the week partitions asked for."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from ..errors import UsageError
from ..model import TABLE_SCHEMAS, conform
from ..traceset import TraceSet
from ..weeks import parse_week, week_of, week_range
from .layout import COMMIT, UNKNOWN_WEEK, UNMATCHED, weeks_of
from .objstore import ObjectStore, read_store_commit, store_location
from .partitions import checked_paths, entries_of, scan


def _weeks(doc: dict, weeks: Iterable[str] | str | None) -> list[str]:
    stored = weeks_of(doc)
    if weeks is None:
        return stored
    asked = [weeks] if isinstance(weeks, str) else list(weeks)
    for week in asked:
        if week != UNKNOWN_WEEK:
            parse_week(week)
    return [w for w in asked if w in stored]


def _frames(store: Path | ObjectStore, doc: dict, weeks: list[str], pending_labels: bool) -> dict[str, pl.LazyFrame]:
    frames = {t: conform(scan(store, entries_of(doc, t, weeks), TABLE_SCHEMAS[t]), t)
              for t in ("runs", "steps", "sources", "labels")}
    if pending_labels:  # labels naming no stored run: shown as label problems of the whole store
        pending = scan(store, entries_of(doc, "labels", [UNMATCHED]), TABLE_SCHEMAS["labels"])
        frames["labels"] = pl.concat([frames["labels"], pending])
    frames["rejected"] = conform(scan(store, doc["rejected"], TABLE_SCHEMAS["rejected"]), "rejected")
    return frames


def _priced_by(doc: dict) -> str | None:
    sources = list(dict.fromkeys(h["pricing"] for h in doc["history"] if h.get("action") == "ingest"))
    return "; ".join(sources) or None


def open_store(store: str | os.PathLike, weeks: Iterable[str] | str | None = None,
               agents: Iterable[str] | str | None = None) -> TraceSet:
    """The runs of ``weeks`` (ISO weeks such as ``2026-W47``; default: every week) in the store, lazily: only the
    Parquet files of those weeks are scanned, and only when a frame is collected. ``agents`` keeps the runs of
    those agents (and their steps, sources and labels). Rejected records are those of every ingest. ``store`` is a
    folder, a ``file://`` URL or a store copied to object storage, by its URL (``s3://bucket/path/store``: see
    ``objstore.py``).

    Example (in a folder made by ``agentops-kit init``)::

        >>> result = ak.ingest("data/sample/traces.otlp.jsonl.gz", into="store")
        >>> ak.open_store("store", weeks=["2026-W47"]).runs.collect().height
        92
        >>> ak.open_store("store", weeks=["2026-W46", "2026-W47"], agents=["SocAlertTriage"]).summary()["agents"]
        {'SocAlertTriage': ...}
    """
    path = store_location(store)
    doc = read_store_commit(path)
    chosen = _weeks(doc, weeks)
    frames = _frames(path, doc, chosen, pending_labels=weeks is None)
    ts = TraceSet(runs=frames["runs"], steps=frames["steps"], sources=frames["sources"], labels=frames["labels"],
                  rejected=frames["rejected"], inputs=[str(path)], priced_by=_priced_by(doc),
                  # the live files of this commit, which DuckDB and Spark scan themselves (analytics/engine.py)
                  files={t: checked_paths(path, entries_of(doc, t, chosen)) for t in ("runs", "steps", "sources")})
    ts.partitions = {week: _week_part(path, doc, week) for week in chosen}
    whole = None
    if weeks is not None:  # names in policies and budgets are checked against every run stored (their runs table)
        every = conform(scan(path, entries_of(doc, "runs", weeks_of(doc)), TABLE_SCHEMAS["runs"]), "runs")
        none = {t: pl.LazyFrame(schema=TABLE_SCHEMAS[t]) for t in ("steps", "sources", "labels", "rejected")}
        whole = TraceSet(runs=every, steps=none["steps"], sources=none["sources"], labels=none["labels"],
                         rejected=none["rejected"], inputs=[str(path)], priced_by=ts.priced_by)
        ts.whole = whole
    if agents is not None:
        names = [agents] if isinstance(agents, str) else list(agents)
        if not all(isinstance(n, str) for n in names):
            raise UsageError(f"agents {agents!r}: expected agent names")
        ts = ts.filter_runs(pl.col("agent").is_in(names))  # its week partitions filtered alike
        ts.whole = whole or ts.whole
    for part in (ts.partitions or {}).values():
        part.whole = ts.whole or ts
    ts.inputs = [f"{path} ({COMMIT} commit {doc['commit']}"
                 + (f", weeks {', '.join(chosen) or 'none'}" if weeks is not None else "") + ")"]
    return ts


def _week_part(store: Path | ObjectStore, doc: dict, week: str) -> TraceSet:
    """The runs of one week partition, with their steps, sources and labels (the rejected records are the
    store's, as in every TraceSet of it)."""
    frames = _frames(store, doc, [week], pending_labels=False)
    return TraceSet(runs=frames["runs"], steps=frames["steps"], sources=frames["sources"], labels=frames["labels"],
                    rejected=frames["rejected"], inputs=[str(store)], priced_by=_priced_by(doc),
                    files={t: checked_paths(store, entries_of(doc, t, [week])) for t in ("runs", "steps", "sources")})


def store_files(store: str | os.PathLike, table: str, weeks: Iterable[str] | str | None = None) -> list[str]:
    """The live Parquet files of ``table`` (runs, steps, sources, labels, rejected) for ``weeks`` (default:
    every week), from the store's current commit, each checked to be there: for DuckDB, Spark or pandas
    (``duckdb.read_parquet(files, hive_partitioning=True)`` adds the ``week`` column). A store read by its URL
    gives the parts' URLs."""
    path = store_location(store)
    doc = read_store_commit(path)
    if table == "rejected":
        return checked_paths(path, doc["rejected"])
    if table not in ("runs", "steps", "sources", "labels"):
        raise UsageError(f"table {table!r}: expected runs, steps, sources, labels or rejected")
    return checked_paths(path, entries_of(doc, table, _weeks(doc, weeks)))


def store_weeks(store: str | os.PathLike) -> list[str]:
    """The weeks holding runs in the store, in order."""
    return weeks_of(read_store_commit(store_location(store)))


def parse_weeks(spec: str) -> list[str]:
    """``2026-W40..2026-W47`` (every week from one to the other) or ``2026-W44,2026-W46``; UsageError otherwise."""
    weeks = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        first, dots, last = part.partition("..")
        if dots:
            if parse_week(first) > parse_week(last):
                raise UsageError(f"weeks {part!r}: the first week comes after the last")
            weeks += week_range([first.strip(), last.strip()])
        else:
            parse_week(part)
            weeks.append(part)
    if not weeks:
        raise UsageError(f"weeks {spec!r}: expected ISO weeks such as 2026-W40..2026-W47 or 2026-W44,2026-W46")
    return list(dict.fromkeys(weeks))


def trend_window(store: str | os.PathLike, week: str | None, weeks_back: int) -> tuple[str | None, list[str]]:
    """The week a review shows (default: the last week with runs in the store) and the ``weeks_back`` weeks
    ending with it: the only weeks the review reads."""
    if week is None:
        dated = [w for w in store_weeks(store) if w != UNKNOWN_WEEK]
        if not dated:
            return None, []
        week = dated[-1]
    monday = parse_week(week)
    return week, [week_of(monday - dt.timedelta(weeks=n)) for n in range(weeks_back - 1, -1, -1)]


__all__ = ["open_store", "parse_weeks", "store_files", "store_weeks", "trend_window", "UNKNOWN_WEEK"]
