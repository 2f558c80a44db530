"""Bring a version-1 approvals store (agentops-kit 0.1.0) to version 2, or refuse with the reason.

Nothing is migrated that does not check: the old SHA-256 chain must be whole, its head must match, and every
request row must agree with its old audit rows (status, decider, times, note, and the old content hash over
agent, run, action and texts). Then, in one transaction: the new columns, a store id, each request's params
hash, and new rows appended after the old ones — a ``schema`` row naming the old head and the store id, and
one ``migrated`` row per request carrying its checked state, which the version-2 replay starts from. The old
rows stay as they were (format 1) and are still checked as a chain by ``verify``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import sqlalchemy as sa

from . import audit
from .errors import StoreError
from .hashes import content_hash, params_hash_of_text
from .keys import AuditKey
from .replay import SNAPSHOT
from .request import as_utc
from .schema import GENESIS_V1, META_TABLE, REQUESTS, SCHEMA_VERSION, V2_COLUMNS, genesis

_V1_AUDIT = sa.table("approval_audit", *(sa.column(c) for c in
                                         ("seq", "request_id", "event", "actor", "at", "details", "prev_hash", "hash")))
_V1_HEAD = sa.table("approval_audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"))
_V1_REQUEST_COLUMNS = [c for c in REQUESTS.c if c.name != "params_hash"]


class NotMigrated(StoreError):
    pass


def _refuse(problem: str) -> NotMigrated:
    return NotMigrated(f"the version-1 approvals store was not migrated: {problem}. Nothing was changed; keep it "
                       "for inspection (or restore it from a backup)")


def _v1_time(text: str) -> str:
    return audit.iso(dt.datetime.fromisoformat(text))


def _check_v1_chain(conn) -> tuple[list, int, str]:
    rows = conn.execute(sa.select(_V1_AUDIT).order_by(_V1_AUDIT.c.seq)).all()
    prev = GENESIS_V1
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected:
            raise _refuse(f"its audit row {expected} is missing")
        if row.prev_hash != prev or audit.v1_row_hash(prev, row.seq, row.request_id, row.event, row.actor, row.at,
                                                      row.details) != row.hash:
            raise _refuse(f"its audit row {row.seq} does not match its hash chain (edited, removed or reordered)")
        prev = row.hash
    head = conn.execute(sa.select(_V1_HEAD.c.seq, _V1_HEAD.c.hash).where(_V1_HEAD.c.id == 1)).one()
    if head.seq != len(rows) or head.hash != prev:
        raise _refuse(f"its chain head records row {head.seq} but the log ends at row {len(rows)}")
    return rows, len(rows), prev


def _v1_states(rows) -> dict[str, dict]:
    """Each request as the old rows say it is."""
    states: dict[str, dict] = {}
    for row in rows:
        details = json.loads(row.details)
        if row.event == "submitted":
            states[row.request_id] = {"requested_by": row.actor, "requested_at": _v1_time(row.at),
                                      "action": details["action"], "run_id": details["run_id"],
                                      "v1_content_hash": details["content_hash"],
                                      "expires_at": _v1_time(details["expires_at"]), "status": "pending",
                                      "decided_by": None, "decided_at": None, "decision_note": None,
                                      "executed_at": None, "first_seq": row.seq}
        elif row.request_id in states:
            state = states[row.request_id]
            if row.event in ("approved", "rejected"):
                state.update(status=row.event, decided_by=row.actor, decided_at=_v1_time(row.at),
                             decision_note=details.get("note"))
            elif row.event == "expired":
                state["status"] = "expired"
            elif row.event == "executed":
                state["executed_at"] = _v1_time(row.at)
    return states


def _time(value) -> str | None:
    return None if value is None else audit.iso(as_utc(value))


def migrate_v1(conn, store_id: str | None, key: AuditKey | None) -> str:
    """Migrate the version-1 store on ``conn`` (inside the caller's transaction); returns the new store id."""
    rows, count, v1_head = _check_v1_chain(conn)
    states = _v1_states(rows)
    snapshots = []
    for req in conn.execute(sa.select(*_V1_REQUEST_COLUMNS).order_by(REQUESTS.c.requested_at, REQUESTS.c.id)):
        state = states.pop(req.id, None)
        if state is None:
            raise _refuse(f"request {req.id} is not in its audit log")
        texts = {"params": req.params, "before": req.before, "after": req.after, "sources": req.sources}
        v1_hash = hashlib.sha256(audit.canonical([req.agent, req.run_id, req.action, texts]).encode()).hexdigest()
        table = {"requested_by": req.requested_by, "requested_at": _time(req.requested_at), "action": req.action,
                 "run_id": req.run_id, "v1_content_hash": v1_hash, "expires_at": _time(req.expires_at),
                 "status": req.status, "decided_by": req.decided_by, "decided_at": _time(req.decided_at),
                 "decision_note": req.decision_note, "executed_at": _time(req.executed_at)}
        for name, value in table.items():
            if value != state[name]:
                raise _refuse(f"request {req.id} disagrees with its audit log ({name})")
        snapshot = {**{k: state[k] for k in state if k in SNAPSHOT}, "agent": req.agent,
                    "idempotency_key": req.idempotency_key, "params_hash": params_hash_of_text(req.params),
                    "content_hash": content_hash(req.before, req.after, req.sources, req.uncertainty)}
        snapshots.append((state["first_seq"], req.id, snapshot))
    if states:
        raise _refuse(f"request {next(iter(states))} is in its audit log but missing from the table")

    for statement in V2_COLUMNS:
        conn.exec_driver_sql(statement)
    store_id = store_id or uuid.uuid4().hex
    conn.execute(META_TABLE.update().where(META_TABLE.c.key == "schema_version"), {"value": str(SCHEMA_VERSION)})
    conn.execute(META_TABLE.insert(), {"key": "store_id", "value": store_id})
    now = dt.datetime.now(dt.timezone.utc)
    head = audit.Head(count, v1_head, rows[-1].at if rows else None)
    if count == 0:  # an empty version-1 log: the new rows link to this store's genesis, as a new store's do
        head = audit.Head(0, genesis(store_id), None)
    head = audit.append(conn, head, key, "", "schema", "system", {
        "from_version": 1, "to_version": SCHEMA_VERSION, "store_id": store_id, "v1_rows": count,
        "v1_head": v1_head}, now)
    for _, request_id, snapshot in sorted(snapshots):
        conn.execute(REQUESTS.update().where(REQUESTS.c.id == request_id),
                     {"params_hash": snapshot["params_hash"], "content_hash": snapshot["content_hash"]})
        head = audit.append(conn, head, key, request_id, "migrated", "system", snapshot, now)
    return store_id
