"""Reading week partitions: the files of some weeks, lazily, and taking some runs out of them for a rewrite."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .commit import write_part
from .layout import COMMIT, StoreError, part_path, week_dir
from .objstore import ObjectStore, checked_urls


def checked_paths(store: Path | ObjectStore, entries: list[dict]) -> list[str]:
    """The files of ``entries`` (paths, or URLs for a store on object storage), each checked to be there with
    the size the commit lists."""
    if isinstance(store, ObjectStore):
        return checked_urls(store, entries)
    paths = []
    for entry in entries:
        path = part_path(store, entry)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise StoreError(path, f"is missing: the store's {COMMIT} lists it (a partition was deleted or moved "
                                   "by hand; restore it, or `agentops-kit store prune` the weeks it held)") from None
        if size != entry["bytes"]:
            raise StoreError(path, f"has {size} bytes, the store's {COMMIT} lists {entry['bytes']}: it was "
                                   "changed after it was written (restore it from a backup)")
        paths.append(str(path))
    return paths


def scan(store: Path | ObjectStore, entries: list[dict], schema: pl.Schema) -> pl.LazyFrame:
    """The files of ``entries`` as one lazy frame (an empty frame of ``schema`` when there are none)."""
    if not entries:
        return pl.LazyFrame(schema=schema)
    options = (store.storage_options or None) if isinstance(store, ObjectStore) else None
    return pl.scan_parquet(checked_paths(store, entries), schema=schema, hive_partitioning=False, glob=False,
                           storage_options=options)


def entries_of(doc: dict, table: str, weeks) -> list[dict]:
    parts = doc["parts"][table]
    return [e for w in weeks for e in parts.get(w, [])]


def locate_runs(store: Path, doc: dict, weeks, ids: pl.DataFrame) -> pl.DataFrame:
    """(run_id, week) of the runs of ``ids`` stored in ``weeks``."""
    found = []
    for week in weeks:
        entries = doc["parts"]["runs"].get(week, [])
        if entries:
            hits = (pl.scan_parquet(checked_paths(store, entries), hive_partitioning=False, glob=False).select("run_id")
                    .join(ids.lazy(), on="run_id", how="semi").collect())
            found.append(hits.with_columns(pl.lit(week).alias("week")))
    return pl.concat(found) if found else pl.DataFrame(schema={"run_id": pl.String, "week": pl.String})


def take_runs(store: Path, doc: dict, table: str, schema: pl.Schema, weeks, ids: pl.DataFrame,
              commit: int) -> tuple[pl.DataFrame, dict[str, list[dict]]]:
    """The rows of runs ``ids`` in ``table`` over ``weeks``, and each week's parts with those rows gone: parts
    holding none stay as they are, the others are written anew without them (or dropped when emptied)."""
    taken, parts = [], {}
    for week in weeks:
        kept = []
        for entry in doc["parts"][table].get(week, []):
            path = checked_paths(store, [entry])[0]
            if not pl.scan_parquet(path, hive_partitioning=False, glob=False).select("run_id").join(ids.lazy(), on="run_id", how="semi").head(1).collect().height:
                kept.append(entry)
                continue
            frame = pl.read_parquet(path, hive_partitioning=False, glob=False)
            inside = frame.join(ids, on="run_id", how="semi")
            if inside.height == 0:
                kept.append(entry)
                continue
            taken.append(inside)
            rest = frame.join(ids, on="run_id", how="anti")
            if rest.height:
                kept.append(write_part(store, week_dir(table, week), commit, rest))
        parts[week] = kept
    return (pl.concat(taken) if taken else pl.DataFrame(schema=schema)), parts
