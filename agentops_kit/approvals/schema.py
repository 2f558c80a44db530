"""Tables of the approvals store, and their versioning.

Version 1 (agentops-kit 0.1.0): requests, an unkeyed SHA-256 audit chain, its head. Version 2 adds the
params hash to each request and, to each audit row, the key id, the row format and the approvers-policy
version in force; the store gets an id that the chain's first link is derived from. A version-1 store is
migrated forward by ``migrate_v1`` after its old chain and every request were checked against each other.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

SCHEMA_VERSION = 2
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
    sa.Column("params_hash", sa.String(64), nullable=False, server_default=""),
)
AUDIT = sa.Table(
    "approval_audit", META,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("request_id", sa.String(36), nullable=False, index=True),  # '' for rows about the whole store
    sa.Column("event", sa.String(20), nullable=False, index=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),  # ISO-8601 UTC text: MACed exactly as stored
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),  # the row's MAC (HMAC-SHA256 with a key, else SHA-256)
    sa.Column("key_id", sa.String(16), nullable=False, server_default=""),
    sa.Column("fmt", sa.Integer, nullable=False, server_default="1"),
    sa.Column("policy_version", sa.Integer, nullable=False, server_default="0"),
)
# One row: the chain's last sequence number and MAC. Writers lock it, so appends are serialised; it is checked
# against the log's last row before every append.
HEAD = sa.Table(
    "approval_audit_head", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
GENESIS_V1 = "0" * 64
TABLES = ("approval_meta", "approval_requests", "approval_audit", "approval_audit_head")


def genesis(store_id: str) -> str:
    """What the first row of a version-2 store links to: ties the chain to this store's id."""
    return hashlib.sha256(f"agentops-kit approvals store {store_id}".encode()).hexdigest()


def meta_value(conn, key: str) -> str | None:
    return conn.execute(sa.select(META_TABLE.c.value).where(META_TABLE.c.key == key)).scalar()


# the version-1 -> 2 DDL; the data part is in migrate_v1.py
V2_COLUMNS = [
    "ALTER TABLE approval_requests ADD COLUMN params_hash VARCHAR(64) NOT NULL DEFAULT ''",
    "ALTER TABLE approval_audit ADD COLUMN key_id VARCHAR(16) NOT NULL DEFAULT ''",
    "ALTER TABLE approval_audit ADD COLUMN fmt INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE approval_audit ADD COLUMN policy_version INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX ix_approval_audit_request_id ON approval_audit (request_id)",
    "CREATE INDEX ix_approval_audit_event ON approval_audit (event)",
]
