"""Publishing a new commit all at once.

Part files are written under fresh names and synced; only then is the new ``store.json`` written beside the old
one, synced, and moved over it with one ``rename(2)``: before that moment a reader sees the old commit, after it
the new one. Files neither commit lists are removed afterwards; the files of the replaced commit stay until the
next commit, so a reader that opened the store just before keeps reading.

``AGENTOPS_KIT_STORE_KILL_AT=N`` makes the process kill itself (SIGKILL) at the N-th file-system step of a
write: the crash tests use it to stop a write at every step there is.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
from pathlib import Path

import polars as pl

from ..tableset import fsync_dir, write_parquet
from .layout import COMMIT, all_part_files, live_files

_steps = 0  # file-system steps taken by this process's writes


def step() -> None:
    """One file-system step of a write (see the module's doc for the crash tests' use)."""
    global _steps
    _steps += 1
    at = os.environ.get("AGENTOPS_KIT_STORE_KILL_AT")
    if at and _steps == int(at):
        os.kill(os.getpid(), signal.SIGKILL)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_part(store: Path, folder: str, commit: int, frame: pl.DataFrame) -> dict:
    """``frame`` as a new Parquet file under ``store/folder``, synced; its commit entry."""
    directory = store / folder
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{folder}/part-{commit:06d}-{secrets.token_hex(4)}.parquet"
    path = store / name
    step()
    with path.open("wb") as handle:
        write_parquet(frame, handle)
        handle.flush()
        os.fsync(handle.fileno())
    step()
    fsync_dir(directory)
    return {"file": name, "rows": frame.height, "bytes": path.stat().st_size}


def publish(store: Path, doc: dict, replaced: dict) -> None:
    """Make ``doc`` the store's commit, then remove what neither it nor ``replaced`` lists."""
    pending = store / f".store-{doc['commit']:06d}-{secrets.token_hex(4)}.tmp"
    step()
    with pending.open("w") as handle:
        json.dump(doc, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    step()
    os.replace(pending, store / COMMIT)  # the one moment the new commit becomes the store
    step()
    fsync_dir(store)
    collect_garbage(store, live_files(doc) | live_files(replaced))


def collect_garbage(store: Path, keep: set[str]) -> list[str]:
    """Remove part files and temporary commits no commit in ``keep`` lists (leftovers of killed writes)."""
    removed = []
    for name in all_part_files(store):
        if name not in keep:
            step()
            try:
                (store / name).unlink()
            except FileNotFoundError:
                continue
            removed.append(name)
    for entry in store.iterdir():
        if entry.name.startswith(".store-") and entry.name.endswith(".tmp"):
            step()
            entry.unlink(missing_ok=True)
    return removed
