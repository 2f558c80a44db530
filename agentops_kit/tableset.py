"""Table sets: the canonical tables of one ``TraceSet`` on disk, published all at once.

A table-set folder ``DIR`` holds::

    DIR/manifest.json             the one pointer: format version, created time, and for each table its
                                  file, row count, size and SHA-256
    DIR/set-<time>-<random>/      the tables that manifest names, <table>.parquet

A write puts every table into a hidden staging folder, syncs it to disk, renames it to ``set-…`` and then
publishes it by replacing ``manifest.json`` with one ``rename(2)``. Until that rename a reader sees the old
set, after it the new one: never a mix. The replaced set is removed right after; leftovers of a killed
write (``.set-….partial`` folders, ``set-…`` folders no manifest names, ``.manifest-….tmp`` files) are never
read and are removed by the next write.

A reader opens only what the manifest lists, after checking that every table is there with the size,
SHA-256 and row count the manifest gives. A folder of loose ``runs.parquet``/``steps.parquet``… files
without a manifest (written by agentops-kit 0.1, or by hand) is refused with how to re-ingest; ``write_set``
onto such a folder replaces those files by a set.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath

import polars as pl

from .errors import InputFileError
from .model import TABLE_SCHEMAS, conform

MANIFEST = "manifest.json"
FORMAT = "agentops-kit table set"
VERSION = 1
TABLES = tuple(TABLE_SCHEMAS)  # runs, steps, sources, labels, rejected
REINGEST = "ingest the exports again: agentops-kit ingest EXPORTS... --out {dir}"


class TableSetError(InputFileError):
    """A table-set folder that cannot be written, or read as one complete set."""


# ---- what is in a folder ---------------------------------------------------------------------------------
def _manifest(directory: Path) -> dict | None:
    """The folder's manifest if it is a table-set manifest, else None (no file, or someone else's JSON)."""
    try:
        data = json.loads((directory / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def is_table_set(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds a table-set manifest (complete or not: reading it checks that)."""
    return Path(directory).is_dir() and _manifest(Path(directory)) is not None


def _legacy_tables(directory: Path) -> list[str]:
    """Loose ``<table>.parquet`` files, as agentops-kit 0.1 wrote them (no manifest)."""
    return [f"{t}.parquet" for t in TABLES if (directory / f"{t}.parquet").is_file()]


def _is_ours(entry: Path, keep: str | None, legacy: bool) -> bool:
    """Whether ``entry`` is something a write may remove: a set other than ``keep``, a staging folder, a
    temporary manifest, and (``legacy``) the loose tables of an earlier version with their temporary files."""
    name = entry.name
    if name.startswith("set-") and entry.is_dir():
        return name != keep
    if name.startswith(".set-") and name.endswith(".partial"):
        return True
    if name.startswith(".manifest-") and name.endswith(".tmp"):
        return True
    return legacy and name in {f"{t}.parquet" for t in TABLES} | {f".{t}.parquet.tmp" for t in TABLES}


def _remove(entries: Iterable[Path]) -> None:
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


# ---- writing -----------------------------------------------------------------------------------------------
def check_target(directory: str | os.PathLike) -> Path:
    """Refuse, before any work is done, a target that a table set cannot be written to: an existing file,
    a folder holding other things, or a place that cannot be written. Returns the folder's path."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise TableSetError(out, "exists and is not a folder: the tables go into a folder (give a new or empty "
                                 "folder, or one written by `agentops-kit ingest`)")
    if out.is_dir() and _manifest(out) is None:
        foreign = sorted(p.name for p in out.iterdir() if p.name != ".lock" and not _is_ours(p, None, legacy=True))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise TableSetError(out, f"is a folder that is not a table set (it holds {shown}): give a new or "
                                     "empty folder, or one written by `agentops-kit ingest`")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise TableSetError(out, f"cannot be created: {existing} is a file")
    try:  # a real try: permission bits do not tell about read-only mounts, /proc, or root
        os.rmdir(tempfile.mkdtemp(prefix=".agentops-probe-", dir=existing))
    except OSError as exc:
        raise TableSetError(out, f"cannot be written in {existing} ({exc.strerror or exc})") from None
    return out


@contextlib.contextmanager
def _writer_lock(out: Path) -> Iterator[None]:
    """One writer per folder: a second one would remove the first one's staging folder as a leftover."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, writes are still atomic
        yield
        return
    with open(out / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise TableSetError(out, "another process is writing a table set into this folder") from None
        yield


def fsync_dir(path: Path) -> None:
    """Make a folder's entries durable, where the file system can (a no-op where it cannot)."""
    with contextlib.suppress(OSError):  # not every platform or file system can sync a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# rows per Parquet row group in every table the kit writes: a streaming scan decodes a few row groups at once,
# so their size bounds what reading a table holds (the steps of one week of the 20 M-run benchmark, short
# texts: 0.2-0.3 GB at this size, 0.7 GB with row groups of 1 M rows; steps with long inputs and outputs hold
# more per row group)
ROW_GROUP_ROWS = 131_072


def write_parquet(frame: pl.DataFrame, handle) -> None:
    """``frame`` as Parquet (zstd, row groups of ``ROW_GROUP_ROWS``) to an open binary file."""
    frame.write_parquet(handle, row_group_size=ROW_GROUP_ROWS)


def _write_table(frame: pl.DataFrame, path: Path) -> None:
    with path.open("wb") as handle:
        write_parquet(frame, handle)
        handle.flush()
        os.fsync(handle.fileno())


def write_set(frames: Mapping[str, pl.LazyFrame | pl.DataFrame], directory: str | os.PathLike,
              keep_replaced: bool = False) -> Path:
    """Write ``frames`` (table name -> frame) as one table set into ``directory`` and publish it at once.
    ``keep_replaced``: leave the replaced set's files until the next write (for frames still reading them)."""
    out = check_target(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TableSetError(out, f"cannot be created ({exc.strerror or exc})") from None
    with _writer_lock(out):
        old = _manifest(out)
        _remove(p for p in out.iterdir() if _is_ours(p, old and old.get("set"), legacy=False))
        now = dt.datetime.now(dt.timezone.utc)
        name = f"set-{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"
        staging, final, pending = out / f".{name}.partial", out / name, out / f".manifest-{name}.tmp"
        try:
            staging.mkdir()
            tables = {}
            for table, frame in frames.items():
                data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
                path = staging / f"{table}.parquet"
                _write_table(data, path)
                tables[table] = {"file": f"{name}/{table}.parquet", "rows": data.height,
                                 "bytes": path.stat().st_size, "sha256": _sha256(path)}
                del data
            fsync_dir(staging)
            staging.rename(final)
            fsync_dir(out)
            manifest = {"format": FORMAT, "version": VERSION, "created": now.isoformat().replace("+00:00", "Z"),
                        "set": name, "tables": tables}
            with pending.open("w") as handle:
                json.dump(manifest, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(pending, out / MANIFEST)  # the one moment the new set becomes the set
        except OSError as exc:
            _remove([staging, final, pending])
            raise TableSetError(out, f"cannot be written ({exc.strerror or exc}); the previous set, if any, "
                                     "is unchanged") from None
        except BaseException:
            _remove([staging, final, pending])
            raise
        fsync_dir(out)
        replaced = old.get("set") if old and keep_replaced else None
        _remove(p for p in out.iterdir() if _is_ours(p, name, legacy=True) and p.name != replaced)
    return out


# ---- reading -----------------------------------------------------------------------------------------------
def _problem(directory: Path, manifest: dict, tables: Iterable[str]) -> tuple[str | None, dict[str, Path]]:
    """(what is wrong with the set, or None; the verified path of each table)."""
    if not isinstance(manifest.get("version"), int):
        return f"{MANIFEST} has no format version", {}
    if manifest["version"] > VERSION:
        return (f"{MANIFEST} has format version {manifest.get('version')!r}, newer than this agentops-kit "
                f"reads ({VERSION}): upgrade agentops-kit, or " + REINGEST.format(dir=directory)), {}
    listed = manifest.get("tables")
    if not isinstance(listed, dict):
        return f"{MANIFEST} lists no tables", {}
    unknown = sorted(set(listed) - set(tables))
    if unknown:
        return f"{MANIFEST} lists tables this version does not know: {', '.join(unknown)}", {}
    paths = {}
    for table in tables:
        entry = listed.get(table)
        if not isinstance(entry, dict) or not all(k in entry for k in ("file", "rows", "bytes", "sha256")):
            return f"incomplete table set: {MANIFEST} has no complete entry for the {table} table", {}
        relative = PurePosixPath(str(entry["file"]))
        if relative.is_absolute() or ".." in relative.parts:
            return f"{MANIFEST} names {entry['file']} for the {table} table, outside the folder", {}
        path = directory / relative
        if not path.is_file():
            return f"incomplete table set: {entry['file']} (the {table} table) is missing", {}
        size = path.stat().st_size
        if size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            return (f"mixed table set: {entry['file']} (the {table} table) is not the file {MANIFEST} lists "
                    f"(its size or SHA-256 differs): it was changed or replaced after the set was written; "
                    + REINGEST.format(dir=directory)), {}
        try:
            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        except Exception as exc:  # polars raises its own types for a file that is not Parquet
            return f"{entry['file']} (the {table} table) cannot be read as Parquet: {exc}", {}
        if rows != entry["rows"]:
            return (f"mixed table set: {entry['file']} (the {table} table) has {rows} rows, {MANIFEST} lists "
                    f"{entry['rows']}; " + REINGEST.format(dir=directory)), {}
        paths[table] = path
    return None, paths


def table_paths(directory: str | os.PathLike, tables: Iterable[str] = TABLES) -> dict[str, Path]:
    """The Parquet file of each table of the complete set in ``directory`` (checked against its manifest),
    for other engines (DuckDB, pandas). Raises ``TableSetError`` naming what is wrong."""
    d = Path(directory)
    tables = tuple(tables)
    if not d.exists():
        raise TableSetError(d, "no such folder")
    if not d.is_dir():
        raise TableSetError(d, "is a file, not a table-set folder")
    for _ in range(3):  # a write that publishes while we check changes the manifest: check the new one
        try:
            text = (d / MANIFEST).read_bytes()
        except FileNotFoundError:
            if _legacy_tables(d):
                raise loose_table_error(d / _legacy_tables(d)[0]) from None
            raise TableSetError(d, f"not a table set: it has no {MANIFEST} (table sets are written by "
                                   "`agentops-kit ingest --out DIR` or TraceSet.write_parquet)") from None
        except OSError as exc:
            raise TableSetError(d, f"{MANIFEST} cannot be read ({exc.strerror or exc})") from None
        try:
            manifest = json.loads(text)
        except ValueError:
            raise TableSetError(d, f"{MANIFEST} is not valid JSON; " + REINGEST.format(dir=d)) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise TableSetError(d, f"{MANIFEST} is not a table-set manifest (no \"format\": \"{FORMAT}\")")
        problem, paths = _problem(d, manifest, tables)
        if problem is None:
            return paths
        with contextlib.suppress(OSError):
            if (d / MANIFEST).read_bytes() != text:
                continue
        break
    raise TableSetError(d, problem)


def loose_table_error(path: str | os.PathLike) -> TableSetError:
    """Why a canonical table file (``runs.parquet``, ``steps.csv``, …) named on its own is not read: one
    table is not a set, and nothing says whether the others belong with it."""
    path = Path(path)
    folder = path.parent
    if folder.name.startswith("set-") and _manifest(folder.parent) is not None:
        return TableSetError(folder, f"holds tables of the table set {folder.parent}, which are read only "
                                     f"through its {MANIFEST}: pass {folder.parent}")
    if _manifest(folder) is None and _legacy_tables(folder):
        return TableSetError(folder, f"unlisted tables: {', '.join(_legacy_tables(folder))} without a {MANIFEST} "
                                     "(written by agentops-kit 0.1 or by hand), so nothing tells whether they "
                                     "form one complete set; " + REINGEST.format(dir=folder))
    return TableSetError(path, "a canonical table is read only with its whole table set: pass the folder that "
                               f"holds {MANIFEST} (written by `agentops-kit ingest --out DIR`); for data made "
                               "by hand use the canonical JSONL format")


def read_set(directory: str | os.PathLike, tables: Iterable[str] = TABLES) -> dict[str, pl.LazyFrame]:
    """Each table of the complete set in ``directory``, lazily, in its canonical schema."""
    return {table: conform(pl.scan_parquet(path), table) for table, path in table_paths(directory, tables).items()}
