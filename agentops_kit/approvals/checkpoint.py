"""Checkpoints: the chain's head written to a file kept away from the database (JSON Lines, appended).

A later ``verify --checkpoint FILE`` finds rows cut from the end (the log ends before a recorded row), a
rewritten chain (a recorded row's MAC changed) and a deleted log (empty, though rows were recorded).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .audit import Head, iso
from .errors import InvalidRequest

KIND = "agentops-kit approvals checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    mac: str
    taken_at: str
    line: int


def _bad(path: Path, line: int, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}, line {line}: {problem}")


def read_checkpoints(path: str | Path, store_id: str, missing_ok: bool = False) -> list[Checkpoint]:
    """Every checkpoint in ``path`` (all of this store; any other line is an error naming it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return []
        raise InvalidRequest(f"{path}: checkpoint file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{path}: cannot be read as a checkpoint file ({exc.__class__.__name__})") from None
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise _bad(path, number, "not JSON (a checkpoint file holds one JSON object per line)") from None
        if not isinstance(item, dict) or item.get("kind") != KIND:
            raise _bad(path, number, f"not a checkpoint (expected an object with \"kind\": \"{KIND}\")")
        seq, mac, taken = item.get("seq"), item.get("mac"), item.get("taken_at")
        if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(mac, str)
                or len(mac) != 64 or not isinstance(taken, str)):
            raise _bad(path, number, "a checkpoint needs seq (a whole number >= 0), mac (64 hex digits) and taken_at")
        if item.get("store_id") != store_id:
            raise _bad(path, number, f"a checkpoint of another approvals store ({str(item.get('store_id'))[:40]}), "
                                     f"not of this one ({store_id})")
        found.append(Checkpoint(seq, mac, taken, number))
    return found


def append_checkpoint(path: str | Path, store_id: str, head: Head, store: str) -> dict:
    """Append the head as one line (flushed to disk before returning)."""
    path = Path(path)
    entry = {"kind": KIND, "store_id": store_id, "store": store, "seq": head.seq, "mac": head.mac,
             "key_id": head.key_id, "row_at": head.at, "taken_at": iso(dt.datetime.now(dt.timezone.utc))}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot be written ({exc.strerror})") from None
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry, sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return entry


def check_against(checkpoints: list[Checkpoint], last_seq: int, macs: dict[int, str]) -> tuple[int, str] | None:
    """The first checkpoint the log contradicts, as (row, problem)."""
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if cp.seq > last_seq:
            if last_seq == 0:
                return cp.seq, (f"the log was deleted: it is empty, but the checkpoint taken at {cp.taken_at} "
                                f"recorded {cp.seq} rows")
            return last_seq + 1, (f"rows cut from the end: the checkpoint taken at {cp.taken_at} recorded row "
                                  f"{cp.seq}, the log now ends at row {last_seq}")
        if cp.seq and macs.get(cp.seq) != cp.mac:
            return cp.seq, (f"the chain was rewritten: row {cp.seq}'s MAC differs from the one the checkpoint taken "
                            f"at {cp.taken_at} recorded")
    return None
