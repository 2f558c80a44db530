"""The append-only, hash-chained audit log: each row carries the hash of the one before it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa

from .schema import AUDIT, GENESIS, HEAD


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(prev_hash: str, seq: int, request_id: str, event: str, actor: str, at: str, details: str) -> str:
    payload = canonical([prev_hash, seq, request_id, event, actor, at, details])
    return hashlib.sha256(payload.encode()).hexdigest()


def lock_head(conn) -> tuple[int, str]:
    """Lock the chain head for this transaction (FOR UPDATE; SQLite is already BEGIN IMMEDIATE)."""
    row = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1).with_for_update()).one()
    return row.seq, row.hash


def append(conn, head: tuple[int, str], request_id: str, event: str, actor: str, details: dict,
           at: dt.datetime) -> tuple[int, str]:
    """Append one row after ``head`` (which the caller has locked); returns the new head."""
    seq, prev = head[0] + 1, head[1]
    at_text = at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    details_text = canonical(details)
    digest = row_hash(prev, seq, request_id, event, actor, at_text, details_text)
    conn.execute(AUDIT.insert(), {"seq": seq, "request_id": request_id, "event": event, "actor": actor,
                                  "at": at_text, "details": details_text, "prev_hash": prev, "hash": digest})
    conn.execute(HEAD.update().where(HEAD.c.id == 1), {"seq": seq, "hash": digest})
    return seq, digest


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.rows_checked} rows, hash chain valid"
        return f"audit log TAMPERED at row {self.first_bad_seq}: {self.problem}"


def verify(conn) -> VerifyResult:
    """Walk the chain; name the first row that was edited, removed or moved."""
    prev, expected_seq, n = GENESIS, 1, 0
    for row in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq)):
        n += 1
        if row.seq != expected_seq:
            return VerifyResult(False, n, expected_seq, f"row {expected_seq} is missing (next row is {row.seq})")
        if row.prev_hash != prev:
            return VerifyResult(False, n, row.seq, "its link to the previous row is broken (rows removed or reordered)")
        if row_hash(prev, row.seq, row.request_id, row.event, row.actor, row.at, row.details) != row.hash:
            return VerifyResult(False, n, row.seq, "its content does not match its hash (edited)")
        prev, expected_seq = row.hash, expected_seq + 1
    head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).one()
    if head.seq != expected_seq - 1 or head.hash != prev:
        return VerifyResult(False, n, expected_seq, f"the log ends at row {expected_seq - 1} but the chain head "
                                                    f"records row {head.seq} (rows removed from the end)")
    return VerifyResult(True, n)
