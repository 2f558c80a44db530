"""Keeping a store in shape: merge small parts (``compact``), drop old weeks (``prune``), say what it holds (``info``).

Each change is one commit, like an ingest: under the store's lock, published at once, written in its history.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import polars as pl

from ..errors import UsageError
from ..model import TABLE_SCHEMAS
from ..weeks import week_bounds
from .commit import now, publish, write_part
from .layout import UNKNOWN_WEEK, UNMATCHED, WEEK_TABLES, read_commit, store_path, week_dir, weeks_of
from .lock import store_lock
from .objstore import read_store_commit, store_location
from .partitions import checked_paths, scan

_AGE = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


def parse_age(text: str) -> dt.timedelta:
    """``90d`` or ``13w`` as a time span; UsageError otherwise."""
    match = _AGE.match(str(text))
    if not match or int(match[1]) < 1:
        raise UsageError(f"age {text!r}: expected a number of days or weeks such as 90d or 13w")
    return dt.timedelta(days=int(match[1]) * (7 if match[2] == "w" else 1))


def compact(store: str | os.PathLike, on_wait=None) -> dict:
    """Merge the parts of each week of each table (and of the rejected records and the manifest of files
    ingested) into one file. Returns what was merged."""
    path = store_path(store)
    read_commit(path)  # a path that is not a store is refused before the lock (which would make the folder)
    with store_lock(path, on_wait):
        doc = read_commit(path)
        commit = doc["commit"] + 1
        new = {**doc, "commit": commit, "parts": {t: dict(doc["parts"][t]) for t in WEEK_TABLES}}
        merged = files_before = 0
        for table in WEEK_TABLES:
            for week, parts in doc["parts"][table].items():
                if len(parts) < 2:
                    continue
                frame = pl.read_parquet(checked_paths(path, parts), hive_partitioning=False, glob=False)
                new["parts"][table][week] = [write_part(path, week_dir(table, week), commit, frame)]
                merged += 1
                files_before += len(parts)
        for listing in ("rejected", "manifest"):  # one part per ingest: merged likewise
            if len(doc[listing]) > 1:
                frame = pl.read_parquet(checked_paths(path, doc[listing]), hive_partitioning=False, glob=False)
                new[listing] = [write_part(path, listing, commit, frame)]
                merged += 1
                files_before += len(doc[listing])
        if not merged:
            return {"commit": None, "partitions_merged": 0, "files_before": 0}
        at = now()
        new["created"] = at
        new["history"] = doc["history"] + [{"commit": commit, "at": at, "action": "compact",
                                            "partitions_merged": merged, "files_before": files_before}]
        publish(path, new, doc)
    return {"commit": commit, "partitions_merged": merged, "files_before": files_before}


def prune(store: str | os.PathLike, older_than: dt.timedelta, reason: str, today: dt.datetime | None = None,
          on_wait=None) -> dict:
    """Drop the weeks that ended more than ``older_than`` ago (runs, steps, sources and labels with them), and
    record it in the store's history with ``reason``. The manifest of ingested files stays, so ingesting the
    same exports again does not bring the dropped weeks back."""
    path = store_path(store)
    cutoff = ((today or dt.datetime.now(dt.timezone.utc)) - older_than).replace(microsecond=0)
    read_commit(path)  # a path that is not a store is refused before the lock (which would make the folder)
    with store_lock(path, on_wait):
        doc = read_commit(path)
        old = [w for w in weeks_of(doc) if w != UNKNOWN_WEEK and week_bounds(w)[1] <= cutoff]
        if not old:
            return {"commit": None, "weeks": [], "runs": 0, "cutoff": cutoff.isoformat()}
        commit = doc["commit"] + 1
        runs = sum(e["rows"] for w in old for e in doc["parts"]["runs"].get(w, []))
        new = {**doc, "commit": commit,
               "parts": {t: {w: p for w, p in doc["parts"][t].items() if w not in old} for t in WEEK_TABLES},
               "weeks": {w: v for w, v in doc["weeks"].items() if w not in old}}
        at = now()
        new["created"] = at
        new["history"] = doc["history"] + [{"commit": commit, "at": at, "action": "prune", "weeks": old,
                                            "runs": runs, "cutoff": cutoff.isoformat(), "reason": reason}]
        publish(path, new, doc)
    return {"commit": commit, "weeks": old, "runs": runs, "cutoff": cutoff.isoformat()}


def info(store: str | os.PathLike) -> dict:
    """What the store holds: weeks and their runs, size, files ingested, rejected records, prunes (a folder, or a
    URL on object storage); StoreError naming a part the commit lists that is missing or changed."""
    path = store_location(store)
    doc = read_store_commit(path)
    for table in WEEK_TABLES:  # every part the commit lists is there, with its size: else one line naming it
        checked_paths(path, [e for parts in doc["parts"][table].values() for e in parts])
    rejected = scan(path, doc["rejected"], TABLE_SCHEMAS["rejected"])
    reasons = dict(rejected.group_by("reason_code").agg(pl.len()).sort("reason_code").collect().iter_rows())
    files = sum(len(p) for t in WEEK_TABLES for w, p in doc["parts"][t].items()) + len(doc["rejected"])
    return {
        "store": str(path), "commit": doc["commit"], "updated": doc["created"],
        "weeks": {w: doc["weeks"].get(w, {}).get("runs", 0) for w in weeks_of(doc)},
        "runs": sum(e["rows"] for parts in doc["parts"]["runs"].values() for e in parts),
        "steps": sum(e["rows"] for parts in doc["parts"]["steps"].values() for e in parts),
        "bytes": sum(e["bytes"] for t in WEEK_TABLES for parts in doc["parts"][t].values() for e in parts)
        + sum(e["bytes"] for e in doc["rejected"]),
        "part_files": files,
        "files_ingested": sum(e["rows"] for e in doc["manifest"]),
        "rejected": sum(reasons.values()), "rejected_reasons": reasons,
        "labels_unmatched": sum(e["rows"] for e in doc["parts"]["labels"].get(UNMATCHED, [])),
        "prunes": [h for h in doc["history"] if h.get("action") == "prune"],
        "history": doc["history"],  # every ingest (files, mapping, pricing), compaction and prune
    }


def info_text(facts: dict) -> str:
    weeks = facts["weeks"]
    shown = ", ".join(f"{w} ({n})" for w, n in weeks.items()) or "none"
    lines = [
        f"store: {facts['store']}   commit {facts['commit']} ({facts['updated']})",
        f"weeks: {len(weeks)}: {shown}",
        f"runs: {facts['runs']}   steps: {facts['steps']}   size: {facts['bytes'] / 1e6:.1f} MB in "
        f"{facts['part_files']} Parquet files",
        f"files ingested: {facts['files_ingested']}",
        f"rejected records: {facts['rejected']}" + ("  [" + ", ".join(
            f"{k}: {v}" for k, v in facts["rejected_reasons"].items()) + "]" if facts["rejected_reasons"] else ""),
        f"labels naming no run yet: {facts['labels_unmatched']}",
    ]
    lines += [f"pruned at {p['at']}: {len(p['weeks'])} week(s) ({', '.join(p['weeks'])}), {p['runs']} runs, "
              f"ended before {p['cutoff']} ({p['reason']})" for p in facts["prunes"]]
    return "\n".join(lines)
