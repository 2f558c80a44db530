"""Tables of the approvals store, and their versioning."""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 1
META = sa.MetaData()

META_TABLE = sa.Table(
    "approval_meta", META,
    sa.Column("key", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
REQUESTS = sa.Table(
    "approval_requests", META,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("before", sa.Text),
    sa.Column("after", sa.Text),
    sa.Column("sources", sa.Text, nullable=False),
    sa.Column("uncertainty", sa.Text),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decision_note", sa.Text),
    sa.Column("executed_at", sa.DateTime),
    sa.Column("content_hash", sa.String(64), nullable=False),
)
AUDIT = sa.Table(
    "approval_audit", META,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),  # ISO-8601 UTC text: hashed exactly as stored
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
# One row: the chain's last sequence number and hash. Writers lock it, so appends are serialised and a
# deleted tail of the log is detected.
HEAD = sa.Table(
    "approval_audit_head", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
GENESIS = "0" * 64

# version -> list of SQL statements that bring version-1 to it (none yet: version 1 is the first)
MIGRATIONS: dict[int, list[str]] = {}


def create_or_migrate(conn) -> None:
    META.create_all(conn)
    version = conn.execute(sa.select(META_TABLE.c.value).where(META_TABLE.c.key == "schema_version")).scalar()
    if version is None:
        conn.execute(META_TABLE.insert(), {"key": "schema_version", "value": str(SCHEMA_VERSION)})
        conn.execute(HEAD.insert(), {"id": 1, "seq": 0, "hash": GENESIS})
        return
    current = int(version)
    if current > SCHEMA_VERSION:
        from .errors import StoreError

        raise StoreError(f"the approvals store has schema version {current}, newer than this agentops-kit "
                         f"understands ({SCHEMA_VERSION}): upgrade agentops-kit")
    for target in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target]:
            conn.exec_driver_sql(statement)
        conn.execute(META_TABLE.update().where(META_TABLE.c.key == "schema_version"), {"value": str(target)})
