"""ApprovalQueue: a durable queue of actions awaiting a human, on any SQLAlchemy database.

Exactly one decision per request: a decision is a guarded ``UPDATE … WHERE status = 'pending' AND
expires_at > now``; whoever changes the row wins, in the same transaction as its audit row. Writers
serialise on the audit chain's head row (``SELECT … FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on
SQLite, where SQLAlchemy would silently drop FOR UPDATE).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy import event

from . import audit
from .approvers import Approvers, load_approvers
from .errors import (
    AlreadyDecided,
    Expired,
    InvalidRequest,
    NotAllowed,
    RequestNotFound,
    SelfApproval,
    StoreError,
    UnknownAction,
)
from .request import ApprovalRequest, Outcome
from .schema import AUDIT, REQUESTS, create_or_migrate


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _naive(value: dt.datetime) -> dt.datetime:
    """Stored as naive UTC, so SQLite and PostgreSQL compare the same way."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _json(value, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} must be JSON-serialisable: {exc}") from None


def _make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA busy_timeout = 60000")
            try:
                dbapi_conn.execute("PRAGMA journal_mode = WAL")
            except Exception:  # a read-only file cannot switch modes; writes will say so
                pass

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class ApprovalQueue:
    """Open (or create) the store at ``url``, e.g. ``sqlite:///approvals.db`` or ``postgresql+psycopg://…``.

    approvers: an approvers YAML file (or dict): who may decide which action. Without it, anyone but the
    requester may decide, and any action name is accepted.
    """

    def __init__(self, url: str = "sqlite:///approvals.db", approvers: str | Path | dict | Approvers | None = None):
        self.url = str(url)
        self.approvers = load_approvers(approvers)
        self.engine = _make_engine(self.url)
        self._write(lambda conn: create_or_migrate(conn))

    def close(self) -> None:
        """Close the store's pooled connections (a later call on this queue opens a new one)."""
        self.engine.dispose()

    def __enter__(self) -> ApprovalQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------------
    def _write(self, work):
        """Run ``work(conn)`` in one write transaction; database faults become StoreError."""
        try:
            with self.engine.begin() as conn:
                return work(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"approvals store {self._safe_url()}: {exc.orig}") from None

    def _read(self, work):
        try:
            with self.engine.connect() as conn:
                return work(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"approvals store {self._safe_url()}: {exc.orig}") from None

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @staticmethod
    def _fetch(conn, request_id: str) -> ApprovalRequest:
        row = conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == request_id)).first()
        if row is None:
            raise RequestNotFound(f"no approval request with id {request_id}")
        return ApprovalRequest.from_row(row)

    # ---- agent side --------------------------------------------------------------------------------
    def submit(self, *, agent: str, action: str, params: dict, requested_by: str, run_id: str | None = None,
               before=None, after=None, sources: list | None = None, uncertainty: str | None = None,
               expires_in: dt.timedelta = dt.timedelta(hours=4), idempotency_key: str | None = None) -> ApprovalRequest:
        """Queue an action for a human. The same ``idempotency_key`` twice yields the one request."""
        if self.approvers is not None and not self.approvers.knows(action):
            raise UnknownAction(f"action '{action}' is not in the approvers file: nobody could approve it")
        if not isinstance(params, dict):
            raise InvalidRequest("params must be a dict of the action's arguments")
        if expires_in <= dt.timedelta(0):
            raise InvalidRequest("expires_in must be positive")
        texts = {"params": _json(params, "params"), "before": None if before is None else _json(before, "before"),
                 "after": None if after is None else _json(after, "after"), "sources": _json(sources or [], "sources")}
        content = hashlib.sha256(audit.canonical([agent, run_id, action, texts]).encode()).hexdigest()
        key = idempotency_key or f"{run_id}:{action}:{content}"
        now = _now()

        def work(conn):
            head = audit.lock_head(conn)
            existing = conn.execute(sa.select(REQUESTS).where(REQUESTS.c.idempotency_key == key)).first()
            if existing is not None:
                return ApprovalRequest.from_row(existing)
            request_id = str(uuid.uuid4())
            conn.execute(REQUESTS.insert(), {
                "id": request_id, "idempotency_key": key, "agent": agent, "run_id": run_id, "action": action,
                **texts, "uncertainty": uncertainty, "requested_by": requested_by, "requested_at": _naive(now),
                "expires_at": _naive(now + expires_in), "status": "pending", "content_hash": content})
            audit.append(conn, head, request_id, "submitted", requested_by,
                         {"action": action, "run_id": run_id, "content_hash": content,
                          "expires_at": (now + expires_in).isoformat()}, now)
            return self._fetch(conn, request_id)

        return self._write(work)

    def wait(self, request_id: str, timeout: float = 0.0, poll: float = 0.25) -> Outcome:
        """Block until the request is decided or expires, or ``timeout`` seconds pass. Giving up is not a
        decision: the request stays pending and the outcome's state is ``pending`` (do not act)."""
        deadline = time.monotonic() + timeout
        while True:
            self.expire_due()
            req = self.get(request_id)
            if req.status != "pending":
                return Outcome(req.id, req.status, req.decided_by, req.decided_at, req.decision_note)
            if time.monotonic() >= deadline:
                return Outcome(req.id, "pending")
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def mark_executed(self, request_id: str, actor: str) -> ApprovalRequest:
        """Record that the approved action was carried out; an approval is used once."""
        now = _now()

        def work(conn):
            head = audit.lock_head(conn)
            done = conn.execute(REQUESTS.update().where(
                (REQUESTS.c.id == request_id) & (REQUESTS.c.status == "approved") & REQUESTS.c.executed_at.is_(None)
            ).values(executed_at=_naive(now))).rowcount
            req = self._fetch(conn, request_id)
            if done != 1:
                raise InvalidRequest(f"request {request_id} is {req.status}"
                                     + (f" and was already executed at {req.executed_at}" if req.executed_at else ""))
            audit.append(conn, head, request_id, "executed", actor, {"content_hash": req.content_hash}, now)
            return req

        return self._write(work)

    # ---- approver side -----------------------------------------------------------------------------
    def get(self, request_id: str, viewer: str | None = None) -> ApprovalRequest:
        """The request with its field-level diff; with ``viewer``, the view is recorded in the audit log."""
        if viewer is None:
            return self._read(lambda conn: self._fetch(conn, request_id))
        now = _now()

        def work(conn):
            head = audit.lock_head(conn)
            req = self._fetch(conn, request_id)
            audit.append(conn, head, request_id, "viewed", viewer, {"content_hash": req.content_hash}, now)
            return req

        return self._write(work)

    def pending(self, agent: str | None = None, action: str | None = None) -> list[ApprovalRequest]:
        """Requests a human can still decide, oldest first (expired ones are marked expired, never shown)."""
        self.expire_due()
        query = sa.select(REQUESTS).where((REQUESTS.c.status == "pending") & (REQUESTS.c.expires_at > _naive(_now())))
        if agent:
            query = query.where(REQUESTS.c.agent == agent)
        if action:
            query = query.where(REQUESTS.c.action == action)
        return self._read(lambda conn: [ApprovalRequest.from_row(r) for r in conn.execute(query.order_by(REQUESTS.c.requested_at))])

    def approve(self, request_id: str, approver: str, note: str | None = None) -> ApprovalRequest:
        return self._decide(request_id, "approved", approver, note)

    def reject(self, request_id: str, approver: str, reason: str) -> ApprovalRequest:
        if not reason or not str(reason).strip():
            raise InvalidRequest("a rejection needs a reason")
        return self._decide(request_id, "rejected", approver, reason)

    def _decide(self, request_id: str, status: str, approver: str, note: str | None) -> ApprovalRequest:
        if not approver or not str(approver).strip():
            raise InvalidRequest("the approver's identity is required")
        self.expire_due()  # an expired request is recorded as expired before anyone tries to decide it
        now = _now()

        def work(conn):
            head = audit.lock_head(conn)
            req = self._fetch(conn, request_id)
            if req.requested_by == approver:
                raise SelfApproval(f"{approver} requested {request_id} and cannot decide it (separation of duties)")
            if self.approvers is not None and not self.approvers.may_decide(req.action, approver):
                raise NotAllowed(f"{approver} may not decide '{req.action}' (see the approvers file)")
            changed = conn.execute(REQUESTS.update().where(
                (REQUESTS.c.id == request_id) & (REQUESTS.c.status == "pending") & (REQUESTS.c.expires_at > _naive(now))
            ).values(status=status, decided_by=approver, decided_at=_naive(now), decision_note=note)).rowcount
            if changed != 1:
                current = self._fetch(conn, request_id)
                if current.status == "pending":
                    raise Expired(request_id, current.expires_at)
                if current.status == "expired":
                    raise Expired(request_id, current.expires_at)
                raise AlreadyDecided(request_id, current.status, current.decided_by, current.decided_at)
            audit.append(conn, head, request_id, status, approver,
                         {"note": note, "content_hash": req.content_hash, "diff_fields": [d["path"] for d in req.diff]}, now)
            return self._fetch(conn, request_id)

        return self._write(work)

    def expire_due(self) -> int:
        """Mark every pending request past its expiry as expired (each with its audit row)."""
        now = _now()
        due_query = sa.select(REQUESTS.c.id).where((REQUESTS.c.status == "pending") & (REQUESTS.c.expires_at <= _naive(now)))
        if not self._read(lambda conn: conn.execute(due_query.limit(1)).first()):
            return 0

        def work(conn):
            head = audit.lock_head(conn)
            count = 0
            for (request_id,) in conn.execute(due_query).all():
                if conn.execute(REQUESTS.update().where((REQUESTS.c.id == request_id) & (REQUESTS.c.status == "pending"))
                                .values(status="expired")).rowcount == 1:
                    head = audit.append(conn, head, request_id, "expired", "system", {}, now)
                    count += 1
            return count

        return self._write(work)

    # ---- audit, export, metrics --------------------------------------------------------------------
    def verify(self) -> audit.VerifyResult:
        return self._read(audit.verify)

    def audit_log(self) -> pl.DataFrame:
        def work(conn):
            result = conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))
            return pl.DataFrame([tuple(r) for r in result], schema={c.name: pl.String if c.name != "seq" else pl.Int64
                                                                    for c in AUDIT.columns}, orient="row")
        return self._read(work)

    def export_audit(self, path: str | Path) -> Path:
        """Write the audit log for auditors: CSV, or JSONL when the name ends in .jsonl."""
        path = Path(path)
        log = self.audit_log()
        log.write_ndjson(path) if path.suffix.lower() in (".jsonl", ".ndjson") else log.write_csv(path)
        return path

    def requests(self) -> pl.DataFrame:
        """Every request (no parameters), for reports."""
        cols = [REQUESTS.c[n] for n in ("id", "agent", "run_id", "action", "requested_by", "requested_at",
                                        "expires_at", "status", "decided_by", "decided_at", "executed_at")]

        def work(conn):
            result = conn.execute(sa.select(*cols).order_by(REQUESTS.c.requested_at))
            return pl.DataFrame([tuple(r) for r in result], schema={
                "id": pl.String, "agent": pl.String, "run_id": pl.String, "action": pl.String, "requested_by": pl.String,
                "requested_at": pl.Datetime("us"), "expires_at": pl.Datetime("us"), "status": pl.String,
                "decided_by": pl.String, "decided_at": pl.Datetime("us"), "executed_at": pl.Datetime("us")}, orient="row")

        frame = self._read(work)
        return frame.with_columns(pl.col(c).dt.replace_time_zone("UTC") for c in
                                  ("requested_at", "expires_at", "decided_at", "executed_at"))

    def decisions(self) -> pl.DataFrame:
        """Decided requests: evidence of approval for the policy checker (run_id, action, decision, approver, at)."""
        return self.requests().filter(pl.col("status").is_in(["approved", "rejected"])).select(
            "run_id", "action", pl.col("status").alias("decision"), pl.col("decided_by").alias("approver"),
            pl.col("decided_at"), pl.col("id").alias("request_id"))

    def metrics(self, by: str = "action") -> pl.DataFrame:
        """Queue size, time to decision (p50/p95, seconds) and approval / rejection / expiry rates, per
        ``action`` or ``approver``."""
        self.expire_due()
        reqs = self.requests().with_columns(
            ((pl.col("decided_at") - pl.col("requested_at")).dt.total_microseconds() / 1e6).alias("_ttd"))
        key = {"action": "action", "approver": "decided_by"}[by]
        frame = reqs if by == "action" else reqs.filter(pl.col("decided_by").is_not_null())
        return frame.group_by(key).agg(
            pl.len().alias("requests"),
            (pl.col("status") == "pending").sum().alias("pending"),
            (pl.col("status") == "approved").sum().alias("approved"),
            (pl.col("status") == "rejected").sum().alias("rejected"),
            (pl.col("status") == "expired").sum().alias("expired"),
            pl.col("_ttd").quantile(0.5, "linear").alias("p50_time_to_decision_s"),
            pl.col("_ttd").quantile(0.95, "linear").alias("p95_time_to_decision_s"),
        ).with_columns(
            *[(pl.col(s) / pl.col("requests")).alias(f"{s}_rate") for s in ("approved", "rejected", "expired")]
        ).rename({key: by}).sort(by)

    def run_steps(self, request_id: str, traceset) -> pl.DataFrame:
        """The steps of the request's run so far, from a TraceSet, in order."""
        req = self.get(request_id)
        return (traceset.steps.filter(pl.col("run_id") == req.run_id)
                # at equal start times the enclosing span (which ends later) comes first
                .sort(["started_at", "ended_at", "step_id"], descending=[False, True, False], nulls_last=True)
                .collect())

    def _repr_html_(self) -> str:
        import html

        items = self.pending()
        rows = "".join(
            f"<tr><td><code>{html.escape(r.id[:8])}</code></td><td>{html.escape(r.agent)}</td><td>{html.escape(r.action)}</td>"
            f"<td>{html.escape(r.requested_by)}</td><td>{r.requested_at:%Y-%m-%d %H:%M}</td><td>{r.expires_at:%Y-%m-%d %H:%M}</td></tr>"
            for r in items)
        return (f"<div class='agentops-queue'><h4>Approval queue — {len(items)} pending</h4><table><tr><th>id</th>"
                f"<th>agent</th><th>action</th><th>requested by</th><th>requested (UTC)</th><th>expires (UTC)</th></tr>"
                f"{rows}</table></div>")
