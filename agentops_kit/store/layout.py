"""Where a store keeps what, and its commit document: the one file that says which Parquet files are live.

A store folder ``STORE`` holds::

    STORE/store.json                       the commit: every live file, by table and week
    STORE/runs/week=2026-W47/part-….parquet
    STORE/steps/week=2026-W47/…            the steps of those runs (partitioned by their run's week)
    STORE/facts/week=2026-W47/…            per step, what re-assembling its run needs beyond the steps table
    STORE/sources/week=…, labels/week=…
    STORE/labels/week=unmatched/…          labels naming no run yet: matched again at every ingest
    STORE/rejected/part-….parquet          records set aside by every ingest, with file and line
    STORE/manifest/part-….parquet          the files each ingest read: path, size, modification time, SHA-256
    STORE/.lock                            held by the one ingest or housekeeping at work

Any engine reads the store from the files ``store.json`` lists (DuckDB:
``read_parquet([...], hive_partitioning = true)``); a file on disk that the commit does not list is a
leftover of a killed write or a replaced part, never data.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse
from urllib.request import url2pathname

import polars as pl

from ..errors import InputFileError
from ..model import UTC_TS
from ..readers.collector import RUN_HINTS

COMMIT = "store.json"
FORMAT = "agentops-kit trace store"
VERSION = 1
LOCK = ".lock"
UNKNOWN_WEEK = "unknown"  # runs without a start time
UNMATCHED = "unmatched"  # labels partition: labels naming no run yet
WEEK_TABLES = ("runs", "steps", "facts", "sources", "labels")
DIRS = (*WEEK_TABLES, "rejected", "manifest")

# per step, beside the canonical steps table: the columns ``assemble`` reads that the canonical steps do not
# keep (exact times, the root flag, the run hints the mapping resolved, the cost the export reported)
FACTS_SCHEMA = pl.Schema({
    "run_id": pl.String, "step_id": pl.String, "started_ns": pl.Int64, "ended_ns": pl.Int64,
    "is_root": pl.Boolean, **{"hint_" + h: pl.String for h in RUN_HINTS},
    "export_cost_usd": pl.Float64, "format": pl.String,
})
TIME = UTC_TS


class StoreError(InputFileError):
    """A store folder that cannot be read or written as one: the message names the file and what is wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(str(path), problem)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+$")


def store_path(store: str | os.PathLike) -> Path:
    """The folder of ``store`` that a write (ingest, compact, prune, the receiver) works in: a path, or a
    ``file://`` URL (``file:///data/store``). A URL on object storage is refused in one line: a store is written
    with ``rename(2)`` and a POSIX lock, which object storage has not (it is read there: ``objstore.py``)."""
    text = os.fspath(store)
    scheme, sep, _ = text.partition("://")
    if not sep or not _SCHEME.match(scheme):
        return Path(text)
    if scheme.lower() == "file":
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise StoreError(text, f"a file:// URL names host {parsed.netloc!r}: give a path on this machine "
                                   "(file:///data/store)")
        return Path(url2pathname(parsed.path))
    how = (f", under the folder's lock so that no ingest commits between the two copies (`flock STORE/.lock sh -c "
           f"'aws s3 sync STORE {text} --exclude {COMMIT} --exclude \".*\" && aws s3 cp STORE/{COMMIT} "
           f"{text}/{COMMIT}'`)" if scheme.lower() in ("s3", "s3a") else "")
    raise StoreError(text, f"a store on object storage is read by its URL, not written (a commit is a rename and "
                           f"writers take turns on a file lock): ingest, compact or prune into a local folder, then "
                           f"copy it up, the parts first and {COMMIT} last{how}")


def empty_commit() -> dict:
    return {"format": FORMAT, "version": VERSION, "commit": 0, "created": None,
            "parts": {t: {} for t in WEEK_TABLES}, "rejected": [], "weeks": {}, "manifest": [], "history": []}


def is_ours(name: str) -> bool:
    """Names a store writes at its top level (so a folder of only these is a store, or a store's leftovers)."""
    return name in (COMMIT, LOCK, *DIRS) or (name.startswith(".store-") and name.endswith(".tmp"))


def read_commit(store: Path, must_exist: bool = True) -> dict:
    """The store's current commit, checked for shape; StoreError naming what is wrong."""
    path = store / COMMIT
    if not store.exists():
        if must_exist:
            raise StoreError(store, "no such store folder (a store is made by `agentops-kit ingest EXPORTS "
                                    "--into STORE`)")
        return empty_commit()
    if not store.is_dir():
        raise StoreError(store, "is a file, not a store folder")
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        foreign = sorted(p.name for p in store.iterdir() if not is_ours(p.name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise StoreError(store, f"is not a store: it has no {COMMIT} and holds {shown} (give a new or empty "
                                    "folder, or one made by `agentops-kit ingest --into`)") from None
        if must_exist:
            raise StoreError(store, f"is not a store yet: it has no {COMMIT} (nothing was ingested into it; "
                                    "run `agentops-kit ingest EXPORTS --into STORE`)") from None
        return empty_commit()
    except OSError as exc:
        raise StoreError(path, f"cannot be read ({exc.strerror or exc})") from None
    return commit_doc(path, text)


def commit_doc(path: str | os.PathLike, text: bytes) -> dict:
    """The commit document ``text`` read from ``path``, checked for shape; StoreError naming what is wrong."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise StoreError(path, "is not valid JSON: the store's commit is damaged (restore the folder from a "
                               "backup, or ingest the exports again into a new store)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StoreError(path, f"is not a store commit (no \"format\": \"{FORMAT}\")")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise StoreError(path, f"has format version {doc.get('version')!r}; this agentops-kit reads version "
                               f"{VERSION} (upgrade agentops-kit)")
    for key, kind in (("parts", dict), ("rejected", list), ("weeks", dict), ("manifest", list), ("history", list)):
        if not isinstance(doc.get(key), kind):
            raise StoreError(path, f"has no valid \"{key}\" entry: the store's commit is damaged")
    for table in WEEK_TABLES:
        doc["parts"].setdefault(table, {})
    return doc


def part_name(commit: str | os.PathLike, entry: dict) -> str:
    """The name (relative to the store) of the file a commit entry names, refusing names outside the store."""
    relative = PurePosixPath(str(entry.get("file", "")))
    if not entry.get("file") or relative.is_absolute() or ".." in relative.parts:
        raise StoreError(commit, f"names {entry.get('file')!r} as a part, which is not a file inside the store")
    return relative.as_posix()


def part_path(store: Path, entry: dict) -> Path:
    """The file a commit entry names, refusing names outside the store."""
    return store / part_name(store / COMMIT, entry)


def live_files(doc: dict) -> set[str]:
    """Every file (relative to the store) the commit lists."""
    files = {e["file"] for weeks in doc["parts"].values() for parts in weeks.values() for e in parts}
    return files | {e["file"] for e in (*doc["rejected"], *doc["manifest"])}


def all_part_files(store: Path) -> list[str]:
    """Every Parquet file under the store's table folders (live or not), relative to the store."""
    found = []
    for name in DIRS:
        folder = store / name
        if folder.is_dir():
            found += [p.relative_to(store).as_posix() for p in folder.rglob("*") if p.is_file()]
    return found


def week_dir(table: str, week: str) -> str:
    return f"{table}/week={week}"


def weeks_of(doc: dict) -> list[str]:
    """The weeks holding runs, in order (``unknown``, runs without a start time, last)."""
    weeks = [w for w, parts in doc["parts"]["runs"].items() if parts]
    return sorted(w for w in weeks if w != UNKNOWN_WEEK) + ([UNKNOWN_WEEK] if UNKNOWN_WEEK in weeks else [])


def size_on_disk(store: Path, doc: dict) -> int:
    return sum(e.get("bytes", 0) for e in _entries(doc))


def _entries(doc: dict):
    for weeks in doc["parts"].values():
        for parts in weeks.values():
            yield from parts
    yield from doc["rejected"]
    yield from doc["manifest"]


