"""The append-only audit log: each row carries a MAC over the previous row's MAC and its own content.

With an audit key the MAC is HMAC-SHA256 under that key, so only someone holding the key can write a row
that checks; without one it is a plain SHA-256, which catches accidental edits but not a deliberate rewrite
(anyone can recompute it). Row format 1 is the version-1 store's (unkeyed SHA-256, kept for migrated
stores); format 2 adds the key id and the approvers-policy version in force to the content the MAC covers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from .errors import AuditMismatch, InvalidRequest, KeyNotAdopted, KeyRequired
from .keys import AuditKey
from .schema import AUDIT, GENESIS_V1, HEAD, genesis

FORMAT = 2
# the only rows that may be the first keyed row after unkeyed ones: an explicit adoption of the key
ADOPTIONS = ("key_adopted", "schema")


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def iso(value: dt.datetime) -> str:
    """The one text form of a time in the log: UTC, ISO-8601, microseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def v1_row_hash(prev_hash: str, seq: int, request_id: str, event: str, actor: str, at: str, details: str) -> str:
    payload = canonical([prev_hash, seq, request_id, event, actor, at, details])
    return hashlib.sha256(payload.encode()).hexdigest()


def _body(row: Mapping) -> bytes:
    content = canonical([row["seq"], row["request_id"], row["event"], row["actor"], row["at"], row["details"],
                         row["key_id"], row["policy_version"]])
    return (row["prev_hash"] + "\n" + content).encode()


def expected_mac(row: Mapping, key: AuditKey | None) -> str:
    """The MAC ``row`` must carry. KeyRequired when it is keyed and no key is at hand; InvalidRequest when it
    names a key other than the one given."""
    if row["fmt"] == 1:
        return v1_row_hash(row["prev_hash"], row["seq"], row["request_id"], row["event"], row["actor"], row["at"],
                           row["details"])
    if not row["key_id"]:
        return hashlib.sha256(_body(row)).hexdigest()
    if key is None:
        raise KeyRequired(row["key_id"])
    if key.key_id != row["key_id"]:
        raise InvalidRequest(f"the audit key from {key.source} (id {key.key_id}) is not this store's key: its rows "
                             f"are MACed with key id {row['key_id']}")
    return key.mac(_body(row))


def row_problem(row: Mapping, key: AuditKey | None) -> str | None:
    """Why ``row`` does not check against its own MAC (None when it does)."""
    if not hmac.compare_digest(expected_mac(row, key), row["hash"]):
        kind = "MAC" if row["key_id"] else "hash"
        return f"row {row['seq']}'s content does not match its {kind} (edited)"
    return None


@dataclass(frozen=True)
class Head:
    """The last row of the log: what a checkpoint records and the weekly report prints."""

    seq: int
    mac: str
    at: str | None  # the last row's time (ISO-8601 UTC); None for an empty log
    key_id: str = ""
    policy_version: int = 0
    checked: bool = True  # False: the row is keyed and no key was at hand to check its MAC

    def __str__(self) -> str:
        if self.seq == 0:
            return "head: empty log"
        keyed = (f", key id {self.key_id}" if self.key_id else ", no key") + ("" if self.checked else " (MAC not checked)")
        return f"head: row {self.seq}, MAC {self.mac[:16]}…, at {self.at}{keyed}"


def read_head(conn, store_id: str, key: AuditKey | None, for_update: bool = False) -> Head:
    """The chain head, checked against the log's last row (which must check against its own MAC).
    ``for_update`` locks it for this transaction (FOR UPDATE; SQLite is already BEGIN IMMEDIATE)."""
    query = sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)
    head = conn.execute(query.with_for_update() if for_update else query).first()
    if head is None:
        raise AuditMismatch.of_store("the chain head row is missing")
    if head.seq == 0:
        if head.hash != genesis(store_id) or conn.execute(sa.select(AUDIT.c.seq).limit(1)).first() is not None:
            raise AuditMismatch.of_store("the chain head says the log is empty, but it is not, or the head was edited")
        return Head(0, head.hash, None)
    last = conn.execute(sa.select(AUDIT).where(AUDIT.c.seq == head.seq)).first()
    if last is None or last.hash != head.hash:
        raise AuditMismatch.of_store(f"the chain head records row {head.seq}, which the log does not hold as recorded "
                                     "(rows cut from the end, or edited)")
    problem = row_problem(last._mapping, key)
    if problem:
        raise AuditMismatch.of_store(problem)
    return Head(last.seq, last.hash, last.at, last.key_id, last.policy_version)


def lock_head(conn, store_id: str, key: AuditKey | None, adopting: bool = False) -> Head:
    """Lock and check the head before appending. A keyed chain is never continued without its key, and an
    unkeyed one is continued with a key only by an explicit adoption (so a chain rewritten without the key is
    not silently sealed by the next keyed write)."""
    head = read_head(conn, store_id, key, for_update=True)
    if head.key_id and key is None:
        raise KeyRequired(head.key_id)
    if key is not None and not head.key_id and head.seq > 0 and not adopting:
        raise KeyNotAdopted(head.seq)
    return head


def append(conn, head: Head, key: AuditKey | None, request_id: str, event: str, actor: str, details: dict,
           at: dt.datetime, policy_version: int | None = None) -> Head:
    """Append one row after ``head`` (which the caller has locked); returns the new head."""
    row = {"seq": head.seq + 1, "request_id": request_id, "event": event, "actor": actor, "at": iso(at),
           "details": canonical(details), "prev_hash": head.mac, "key_id": key.key_id if key else "",
           "fmt": FORMAT, "policy_version": head.policy_version if policy_version is None else policy_version}
    row["hash"] = expected_mac(row, key)
    conn.execute(AUDIT.insert(), row)
    conn.execute(HEAD.update().where(HEAD.c.id == 1), {"seq": row["seq"], "hash": row["hash"]})
    return Head(row["seq"], row["hash"], row["at"], row["key_id"], row["policy_version"])


def first_prev(row: Mapping, store_id: str) -> str:
    """What row 1 links to: the store's genesis value (format 2) or the version-1 zeros."""
    return GENESIS_V1 if row["fmt"] == 1 else genesis(store_id)
