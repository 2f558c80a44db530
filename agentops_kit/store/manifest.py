"""The manifest of ingested files: which inputs are new, already in the store, or changed since they were ingested.

A file is known by its path, size, modification time and SHA-256. The same path with the same size and
modification time is taken as unchanged without reading it again; the same content under another path (a
rotated or copied file) is already in the store; the same path with other content is *changed*: reported and
not read, so nothing in it is counted twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FilePlan:
    """What an ingest does with each file it was given."""

    new: list[dict] = field(default_factory=list)  # manifest entries to add (the files to read)
    unchanged: list[tuple[str, str]] = field(default_factory=list)  # (path, why it is skipped)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (path, what changed): reported, not read


MANIFEST_SCHEMA = pl.Schema({"path": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64, "sha256": pl.String,
                             "kind": pl.String, "commit": pl.Int64, "ingested_at": pl.String})


def plan_files(paths: list[Path], kinds: list[str], manifest: pl.LazyFrame) -> FilePlan:
    """Sort ``paths`` (each of the given kind: ``export`` or ``labels``) against the ``manifest`` of files
    ingested (only its rows naming these paths or their contents are read)."""
    keys = [str(p.resolve()) for p in paths]
    rows = manifest.filter(pl.col("path").is_in(keys)).sort("commit").collect()
    by_path = {r["path"]: r for r in rows.iter_rows(named=True)}
    plan = FilePlan()
    pending = []
    for path, key, kind in zip(paths, keys, kinds, strict=True):
        info = path.stat()
        known = by_path.get(key)
        if known and known["size"] == info.st_size and known["mtime_ns"] == info.st_mtime_ns:
            plan.unchanged.append((str(path), f"already ingested (commit {known['commit']})"))
        else:
            pending.append((path, key, kind, info, known, sha256(path)))
    digests = [p[-1] for p in pending]
    same = manifest.filter(pl.col("sha256").is_in(digests)).sort("commit").collect() if digests else None
    by_sha = {r["sha256"]: r for r in same.iter_rows(named=True)} if same is not None else {}
    for path, key, kind, info, known, digest in pending:
        if known and known["sha256"] != digest:
            plan.changed.append((str(path), f"changed since it was ingested at {known['ingested_at']} (commit "
                                            f"{known['commit']}; size {known['size']} -> {info.st_size} bytes, "
                                            "SHA-256 differs): not read again, so nothing in it is counted twice; "
                                            "its records already in the store stay"))
            continue
        if known or digest in by_sha:
            first = known or by_sha[digest]
            plan.unchanged.append((str(path), f"already ingested (same content as {first['path']}, commit "
                                              f"{first['commit']})"))
            continue
        entry = {"path": key, "size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest, "kind": kind}
        by_sha[digest] = {**entry, "commit": "this ingest"}
        plan.new.append(entry)
    return plan
