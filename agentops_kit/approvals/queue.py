"""ApprovalQueue: a durable queue of actions awaiting a human, on any SQLAlchemy database.

Exactly one decision per request: a decision is a guarded ``UPDATE … WHERE status = 'pending' AND
expires_at > now``; whoever changes the row wins, in the same transaction as its audit row. Writers
serialise on the audit chain's head row (``SELECT … FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on
SQLite, where SQLAlchemy would silently drop FOR UPDATE).

The audit log is the truth: a request row is a projection of its audit rows, and every read that could let
an agent act (``wait``, the decorator, ``decisions``) checks the row against them first and fails closed.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import time
import uuid
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from ..terminal import safe
from . import audit
from .approvers import Approvers, load_approvers
from .checkpoint import append_checkpoint, read_checkpoints
from .errors import (
    AgentStopped,
    AlreadyDecided,
    ApprovalMismatch,
    AuditMismatch,
    Expired,
    InvalidRequest,
    KeyRequired,
    NotAllowed,
    NotStopped,
    PolicyConflict,
    RequestNotFound,
    SelfApproval,
    StoreError,
    UnknownAction,
)
from .hashes import content_hash, params_hash, params_hash_of_text, to_json
from .identity import check_identity, check_name, required_name, same_person
from .keys import AuditKey, resolve_key
from .replay import difference, replay
from .request import ApprovalRequest, Outcome
from .schema import AUDIT, REQUESTS, SCHEMA_VERSION
from .stops import Stop, read_stops
from .store import db_error, make_engine, open_store, parse_url, shown_url, sqlite_exists
from .verify import VerifyResult, request_problems, verify_store

MAX_EXPIRY = dt.timedelta(days=365)  # a request waits at most a year for a human
MAX_IDEMPOTENCY_KEY = 300


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _naive(value: dt.datetime) -> dt.datetime:
    """Stored as naive UTC, so SQLite and PostgreSQL compare the same way."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class ApprovalQueue:
    """Open (or create) the store at ``url``, e.g. ``sqlite:///approvals.db`` or ``postgresql+psycopg://…``.

    approvers: an approvers policy (YAML file, dict or ``Approvers``). Given once, it is stored with the queue
    (versioned, each change an audit row) and enforced on every decision afterwards, whoever opens the queue.
    Passing a different one later is refused (``PolicyConflict``): change it with ``set_approvers``. With no
    policy ever stored, anyone but the requester may decide.
    key / key_file: the audit key (default: ``$AGENTOPS_AUDIT_KEY``, then ``$AGENTOPS_AUDIT_KEY_FILE``).
    create: make the store when there is none (False: ``NoStore``, and nothing is created).
    migrate: bring a version-1 store forward (default: same as ``create``).

    Example::

        >>> q = ak.ApprovalQueue("sqlite:///approvals.db")
        >>> req = q.submit(agent="SupportRefundAgent", run_id="run-1", action="refund_request_submit",
        ...                params={"order": "O-1", "amount": 120}, requested_by="svc-refund-agent")
        >>> q.approve(req.id, approver="alice", note="within policy").status
        'approved'
        >>> q.close()
    """

    def __init__(self, url: str = "sqlite:///approvals.db", approvers: str | Path | dict | Approvers | None = None,
                 *, key: str | bytes | AuditKey | None = None, key_file: str | Path | None = None,
                 create: bool = True, migrate: bool | None = None):
        self._url = parse_url(url)
        self.url = str(url)
        self.key = resolve_key(key, key_file)
        if not create:
            sqlite_exists(self._url)  # connecting would create the file
        self.engine = make_engine(self._url)
        self.store_id, version = self._read(lambda conn: open_store(conn, self._url, create=False)) if not create \
            else self._write(lambda conn: open_store(conn, self._url, create=True))
        if version < SCHEMA_VERSION:
            self._migrate(create if migrate is None else migrate)
        policy = load_approvers(approvers) if approvers is not None else None
        if policy is not None:
            self._adopt(policy)

    def close(self) -> None:
        """Close the store's pooled connections (a later call on this queue opens a new one)."""
        self.engine.dispose()

    def __enter__(self) -> ApprovalQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------------
    def _write(self, work):
        """Run ``work(conn)`` in one write transaction; database faults become one-line StoreErrors."""
        try:
            with self.engine.begin() as conn:
                return work(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise db_error(self._url, exc) from None

    def _read(self, work):
        """Run ``work(conn)`` on one snapshot: a request row and its audit rows, read by two statements, must not
        straddle a decision committed between them (REPEATABLE READ on PostgreSQL; SQLite's deferred BEGIN)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(agentops_read_only=True)  # SQLite: a plain BEGIN, no write lock
                if self._url.get_backend_name() == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                return work(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise db_error(self._url, exc) from None

    def _safe_url(self) -> str:
        return shown_url(self._url)

    def _migrate(self, allowed: bool) -> None:
        from .migrate_v1 import migrate_v1

        if not allowed:
            raise StoreError(f"the approvals store {self._safe_url()} has schema version 1; this agentops-kit uses "
                             f"{SCHEMA_VERSION}: migrate it with `agentops-kit approvals migrate --db URL` (the old "
                             "log is checked first)")

        def work(conn):
            store_id, version = open_store(conn, self._url, create=False)  # under the write lock: maybe done meanwhile
            return migrate_v1(conn, None, self.key) if version < SCHEMA_VERSION else store_id

        self.store_id = self._write(work)

    @staticmethod
    def _row(conn, request_id: str):
        row = conn.execute(sa.select(REQUESTS).where(REQUESTS.c.id == request_id)).first()
        if row is None:
            raise RequestNotFound(f"no approval request with id {safe(str(request_id))[:60]}")
        return row

    def _audit_check(self, conn, row):
        """``(expected, problem)``: the request as its own audit rows say it is, and how its row (or those audit
        rows) disagree — None when they agree. With a key, the rows that decide it must carry the key's MAC."""
        log_rows = [r._mapping for r in conn.execute(
            sa.select(AUDIT).where(AUDIT.c.request_id == row.id).order_by(AUDIT.c.seq))]
        if not log_rows:
            return None, "the request is not in the audit log"
        for log_row in log_rows:
            problem = audit.row_problem(log_row, self.key)
            if problem:
                return None, f"audit {problem}"
        state = replay(log_rows, check_policy=False)
        if state.problem:
            return None, state.problem[2]
        exp = state.requests.get(row.id)
        if exp is None:
            return None, "the audit log never submitted it"
        if self.key is not None:
            for decisive in exp.decisive:
                if not decisive["key_id"]:
                    return exp, f"its {decisive['event']} row {decisive['seq']} carries no MAC from the audit key"
        differs = difference(row._mapping, exp)
        return exp, (differs[1] if differs else None)

    def _checked(self, conn, request_id: str):
        """The request's row and log state; AuditMismatch when they disagree."""
        row = self._row(conn, request_id)
        exp, problem = self._audit_check(conn, row)
        if problem:
            raise AuditMismatch(Outcome(row.id, "audit_mismatch", note=problem))
        return row, exp

    def _policy(self, conn, head: audit.Head) -> tuple[Approvers | None, int]:
        """The approvers policy in force at ``head`` (whose row the caller has checked)."""
        if head.policy_version == 0:
            return None, 0
        row = conn.execute(sa.select(AUDIT).where((AUDIT.c.event == "policy")
                                                  & (AUDIT.c.policy_version == head.policy_version))).first()
        if row is None:
            raise AuditMismatch.of_store(f"approvers policy version {head.policy_version} is missing from the log")
        problem = audit.row_problem(row._mapping, self.key)
        if problem:
            raise AuditMismatch.of_store(f"the approvers policy's {problem}")
        if self.key is not None and not row.key_id:
            raise AuditMismatch.of_store(f"approvers policy version {head.policy_version} (row {row.seq}) carries no "
                                         "MAC from the audit key: set it again with the key (`agentops-kit approvals "
                                         "policy set`)")
        return Approvers.model_validate(json.loads(row.details)["policy"]), head.policy_version

    # ---- the approvers policy ----------------------------------------------------------------------
    def approvers_policy(self) -> tuple[Approvers | None, int]:
        """The stored approvers policy and its version (``(None, 0)`` when none was ever stored)."""
        return self._read(lambda conn: self._policy(conn, audit.read_head(conn, self.store_id, self.key)))

    def approvers_history(self) -> pl.DataFrame:
        """Every version of the approvers policy: version, set_by, at, fingerprint, policy (JSON)."""
        def work(conn):
            rows = conn.execute(sa.select(AUDIT).where(AUDIT.c.event == "policy").order_by(AUDIT.c.seq)).all()
            return [(r.policy_version, r.actor, r.at, json.loads(r.details).get("fingerprint"),
                     json.dumps(json.loads(r.details).get("policy"), sort_keys=True)) for r in rows]
        return pl.DataFrame(self._read(work), schema={"version": pl.Int64, "set_by": pl.String, "at": pl.String,
                                                      "fingerprint": pl.String, "policy": pl.String}, orient="row")

    def set_approvers(self, policy, by: str) -> int:
        """Store ``policy`` as the new version (an audit row naming ``by``); returns the version in force. When
        the current policy names ``admins``, only they may change it."""
        policy = load_approvers(policy)
        by = check_identity(by, "the name of who changes the approvers policy")
        now = _now()

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            current, version = self._policy(conn, head)
            if current is not None and current.fingerprint() == policy.fingerprint():
                return version
            if current is not None and not current.may_change(by):
                raise NotAllowed(f"{by} may not change the approvers policy (version {version} names its admins)")
            audit.append(conn, head, self.key, "", "policy", by, {
                "version": version + 1, "policy": policy.model_dump(), "fingerprint": policy.fingerprint()},
                now, policy_version=version + 1)
            return version + 1

        return self._write(work)

    def _adopt(self, policy: Approvers) -> None:
        current, version = self.approvers_policy()
        if current is None:
            self.set_approvers(policy, by=_os_user())
        elif current.fingerprint() != policy.fingerprint():
            raise PolicyConflict(
                f"the store already holds approvers policy version {version}, which differs from the one given: "
                "the stored policy stays in force; change it with `agentops-kit approvals policy set FILE --as NAME` "
                "(or ApprovalQueue.set_approvers)")

    # ---- agent stops (the kill switch) --------------------------------------------------------------
    def _refuse_if_stopped(self, conn, head: audit.Head, agent: str) -> None:
        stop = read_stops(conn, self.store_id, self.key, head).stopped(agent)
        if stop is not None:
            raise AgentStopped(stop.agent, stop.stopped_by, stop.stopped_at, stop.reason)

    def stop_agent(self, agent: str, reason: str, actor: str, *, rule: str | None = None,
                   runs: list[str] | None = None) -> Stop:
        """Stop ``agent``: from now on the guard, ``@require_approval`` and ``submit`` refuse to act for it and
        its pending requests cannot be approved, until a second person resumes it. An audit row records who,
        when and why (for an automatic stop also the ``rule`` and the ``runs`` that caused it). Stopping an
        agent already stopped records nothing and returns the stop in force."""
        agent = required_name(agent, "agent")
        actor = check_identity(actor, "the name of who stops the agent")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("a stop needs a reason")
        rule = check_name(rule, "rule", required=False)
        runs = [required_name(r, "run id") for r in (runs or [])]
        now = _now()

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            current = read_stops(conn, self.store_id, self.key, head).stopped(agent)
            if current is not None:
                return current
            new = audit.append(conn, head, self.key, "", "stopped", actor, {
                "agent": agent, "reason": reason.strip(), "rule": rule, "runs": runs}, now)
            return Stop(agent, actor, new.at or audit.iso(now), reason.strip(), new.seq, rule, runs, recorded_now=True)

        return self._write(work)

    def resume_agent(self, agent: str, actor: str, note: str | None = None) -> Stop:
        """Lift the stop of ``agent``. Two-person rule: ``actor`` must be someone other than who stopped it
        (names compared as for approvals) and not the agent itself; else NotAllowed and nothing is recorded."""
        agent = required_name(agent, "agent")
        actor = check_identity(actor, "the name of who resumes the agent")
        if note is not None and not isinstance(note, str):
            raise InvalidRequest("a note must be text")
        now = _now()

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            stop = read_stops(conn, self.store_id, self.key, head).stopped(agent)
            if stop is None:
                raise NotStopped(f"agent {agent} is not stopped")
            if same_person(actor, stop.stopped_by) or same_person(actor, agent):
                raise NotAllowed(f"{actor} stopped agent {stop.agent} (or is the agent) and cannot resume it: a second "
                                 "person must (two-person rule)")
            new = audit.append(conn, head, self.key, "", "resumed", actor,
                               {"agent": stop.agent, "stop_seq": stop.seq, "note": note}, now)
            stop.resumed_by, stop.resumed_at, stop.resume_note = actor, new.at, note
            return stop

        return self._write(work)

    def agent_status(self, agent: str) -> Stop | None:
        """The stop in force for ``agent`` (None: it may act). Raises when the store cannot tell: StoreError
        (unreachable), AuditMismatch (its stop records do not check), KeyRequired. Agent code uses ``ak.guard``,
        which turns those into a refusal."""
        agent = required_name(agent, "agent")
        return self._read(lambda conn: read_stops(conn, self.store_id, self.key).stopped(agent))

    def agent_stops(self, active_only: bool = False) -> pl.DataFrame:
        """Every stop, oldest first (``active_only``: those in force): agent, status (stopped | resumed),
        stopped_by, stopped_at, reason, rule, runs, resumed_by, resumed_at, resume_note, seq."""
        log = self._read(lambda conn: read_stops(conn, self.store_id, self.key))
        stops = [s for s in log.stops if s.active or not active_only]
        return pl.DataFrame(
            [(s.agent, "stopped" if s.active else "resumed", s.stopped_by, s.stopped_at, s.reason, s.rule, s.runs,
              s.resumed_by, s.resumed_at, s.resume_note, s.seq) for s in stops],
            schema={"agent": pl.String, "status": pl.String, "stopped_by": pl.String, "stopped_at": pl.String,
                    "reason": pl.String, "rule": pl.String, "runs": pl.List(pl.String), "resumed_by": pl.String,
                    "resumed_at": pl.String, "resume_note": pl.String, "seq": pl.Int64}, orient="row")

    # ---- agent side --------------------------------------------------------------------------------
    def submit(self, *, agent: str, action: str, params: dict, requested_by: str, run_id: str | None = None,
               before=None, after=None, sources: list | None = None, uncertainty: str | None = None,
               expires_in: dt.timedelta = dt.timedelta(hours=4), idempotency_key: str | None = None) -> ApprovalRequest:
        """Queue an action for a human. The same ``idempotency_key`` twice yields the one request.

        ``params`` are the arguments the action will run with (its hash is what an approval covers);
        ``before`` is the current state of what they change, keyed like ``params``, when known; ``after`` is the
        agent's own description of the result — shown to the approver as the agent's claim, never trusted."""
        agent, action = required_name(agent, "agent"), required_name(action, "action")
        run_id = check_name(run_id, "run_id", required=False)
        requested_by = check_identity(requested_by, "requested_by")
        if not isinstance(params, dict):
            raise InvalidRequest("params must be a dict of the action's arguments")
        if not isinstance(expires_in, dt.timedelta) or not dt.timedelta(0) < expires_in <= MAX_EXPIRY:
            raise InvalidRequest(f"expires_in must be a timedelta above 0 and at most {MAX_EXPIRY.days} days "
                                 f"(got {expires_in!r})"[:200])
        if uncertainty is not None and not isinstance(uncertainty, str):
            raise InvalidRequest("uncertainty must be text")
        if idempotency_key is not None and (not isinstance(idempotency_key, str) or not idempotency_key
                                            or len(idempotency_key) > MAX_IDEMPOTENCY_KEY):
            raise InvalidRequest(f"idempotency_key must be text of 1 to {MAX_IDEMPOTENCY_KEY} characters")
        params_text, sources_text = to_json(params, "params"), to_json(sources or [], "sources")
        texts = {"params": params_text, "before": None if before is None else to_json(before, "before"),
                 "after": None if after is None else to_json(after, "after"), "sources": sources_text}
        p_hash = params_hash_of_text(params_text)
        c_hash = content_hash(texts["before"], texts["after"], sources_text, uncertainty)
        key = idempotency_key or f"{run_id}:{action}:{p_hash}:{c_hash}"
        now = _now()
        expires_at = now + expires_in

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            self._refuse_if_stopped(conn, head, agent)
            policy, version = self._policy(conn, head)
            if policy is not None and not policy.knows(action):
                raise UnknownAction(f"action '{action}' is not in the approvers policy (version {version}): "
                                    "nobody could approve it")
            existing = conn.execute(sa.select(REQUESTS).where(REQUESTS.c.idempotency_key == key)).first()
            if existing is not None:
                return ApprovalRequest.from_row(existing)
            request_id = str(uuid.uuid4())
            conn.execute(REQUESTS.insert(), {
                "id": request_id, "idempotency_key": key, "agent": agent, "run_id": run_id, "action": action,
                **texts, "uncertainty": uncertainty, "requested_by": requested_by, "requested_at": _naive(now),
                "expires_at": _naive(expires_at), "status": "pending", "content_hash": c_hash, "params_hash": p_hash})
            audit.append(conn, head, self.key, request_id, "submitted", requested_by, {
                "agent": agent, "run_id": run_id, "action": action, "params_hash": p_hash, "content_hash": c_hash,
                "expires_at": audit.iso(expires_at), "idempotency_key": key}, now)
            return ApprovalRequest.from_row(self._row(conn, request_id))

        return self._write(work)

    def wait(self, request_id: str, timeout: float = 0.0, poll: float = 0.25) -> Outcome:
        """Block until the request is decided or expires, or ``timeout`` seconds pass. Giving up is not a
        decision: the request stays pending and the outcome's state is ``pending`` (do not act). A request whose
        row disagrees with its audit log gives state ``audit_mismatch`` (do not act)."""
        deadline = time.monotonic() + timeout
        while True:
            self.expire_due()
            req = self._get(request_id, strict=True)
            if req.audit_problem:
                return Outcome(req.id, "audit_mismatch", note=req.audit_problem)
            if req.status != "pending":
                return Outcome(req.id, req.status, req.decided_by, req.decided_at, req.decision_note)
            if time.monotonic() >= deadline:
                return Outcome(req.id, "pending")
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def mark_executed(self, request_id: str, actor: str, params: dict | None = None) -> ApprovalRequest:
        """Record that the approved action was carried out; an approval is used once. With ``params`` (the
        decorator always passes them) they must hash to the approved parameters, else ApprovalMismatch and
        nothing is recorded."""
        actor = check_identity(actor, "actor")
        called = None if params is None else params_hash(params)
        now = _now()

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            row, exp = self._checked(conn, request_id)
            self._refuse_if_stopped(conn, head, row.agent)
            if exp.status != "approved" or exp.executed_at is not None:
                raise InvalidRequest(f"request {request_id} is {exp.status}"
                                     + (f" and was already executed at {exp.executed_at}" if exp.executed_at else ""))
            if called is not None and called != exp.params_hash:
                raise ApprovalMismatch(
                    Outcome(row.id, "approved", exp.decided_by, None, None),
                    f"request {row.id} was approved for other arguments: the call's hash to {called[:12]}…, the "
                    f"approval covers {exp.params_hash[:12]}… — not run")
            done = conn.execute(REQUESTS.update().where(
                (REQUESTS.c.id == request_id) & (REQUESTS.c.status == "approved") & REQUESTS.c.executed_at.is_(None)
            ).values(executed_at=_naive(now))).rowcount
            if done != 1:
                raise AuditMismatch(Outcome(row.id, "audit_mismatch", note="its row changed while it was executed"))
            audit.append(conn, head, self.key, request_id, "executed", actor, {"params_hash": exp.params_hash}, now)
            return ApprovalRequest.from_row(self._row(conn, request_id))

        return self._write(work)

    # ---- approver side -----------------------------------------------------------------------------
    def _get(self, request_id: str, strict: bool) -> ApprovalRequest:
        def work(conn):
            row = self._row(conn, request_id)
            req = ApprovalRequest.from_row(row)
            try:
                req.audit_problem = self._audit_check(conn, row)[1]
                req.audit_checked = True
            except KeyRequired:
                if strict:
                    raise
            return req
        return self._read(work)

    def get(self, request_id: str, viewer: str | None = None) -> ApprovalRequest:
        """The request with its diffs and its audit check (``audit_problem``); with ``viewer``, the view is
        recorded in the audit log."""
        if viewer is None:
            return self._get(request_id, strict=False)
        viewer = check_identity(viewer, "viewer")
        now = _now()

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            row = self._row(conn, request_id)
            audit.append(conn, head, self.key, row.id, "viewed", viewer, {"content_hash": row.content_hash}, now)

        self._write(work)
        return self._get(request_id, strict=False)

    def pending(self, agent: str | None = None, action: str | None = None) -> list[ApprovalRequest]:
        """Requests a human can still decide, oldest first (expired ones are marked expired, never shown)."""
        try:
            self.expire_due()
        except KeyRequired:  # a reader without the key cannot write expiry rows; the query below still hides them
            pass
        query = sa.select(REQUESTS).where((REQUESTS.c.status == "pending") & (REQUESTS.c.expires_at > _naive(_now())))
        if agent:
            query = query.where(REQUESTS.c.agent == agent)
        if action:
            query = query.where(REQUESTS.c.action == action)
        return self._read(lambda conn: [ApprovalRequest.from_row(r) for r in conn.execute(query.order_by(REQUESTS.c.requested_at))])

    def approve(self, request_id: str, approver: str, note: str | None = None) -> ApprovalRequest:
        return self._decide(request_id, "approved", approver, note)

    def reject(self, request_id: str, approver: str, reason: str) -> ApprovalRequest:
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("a rejection needs a reason")
        return self._decide(request_id, "rejected", approver, reason)

    def _decide(self, request_id: str, status: str, approver: str, note: str | None) -> ApprovalRequest:
        approver = check_identity(approver, "the approver's name")
        if note is not None and not isinstance(note, str):
            raise InvalidRequest("a note must be text")
        self.expire_due()  # an expired request is recorded as expired before anyone tries to decide it
        now = _now()

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            row, exp = self._checked(conn, request_id)
            if status == "approved":
                self._refuse_if_stopped(conn, head, row.agent)
            if same_person(row.requested_by, approver) or same_person(row.agent, approver):
                raise SelfApproval(f"{approver} is the requester of {row.id} ({row.requested_by}, agent {row.agent}) and "
                                   "cannot decide it (separation of duties)")
            policy, version = self._policy(conn, head)
            if policy is not None and not policy.knows(row.action):
                raise NotAllowed(f"'{row.action}' is not covered by the approvers policy (version {version}): "
                                 "nobody may decide it")
            if policy is not None and not policy.may_decide(row.action, approver):
                raise NotAllowed(f"{approver} may not decide '{row.action}' (see the approvers policy, "
                                 f"version {version})")
            changed = conn.execute(REQUESTS.update().where(
                (REQUESTS.c.id == row.id) & (REQUESTS.c.status == "pending") & (REQUESTS.c.expires_at > _naive(now))
            ).values(status=status, decided_by=approver, decided_at=_naive(now), decision_note=note)).rowcount
            if changed != 1:
                current = ApprovalRequest.from_row(self._row(conn, row.id))
                if current.status in ("pending", "expired"):
                    raise Expired(row.id, current.expires_at)
                raise AlreadyDecided(row.id, current.status, current.decided_by, current.decided_at)
            audit.append(conn, head, self.key, row.id, status, approver,
                         {"note": note, "params_hash": exp.params_hash, "content_hash": exp.content_hash}, now)
            return ApprovalRequest.from_row(self._row(conn, row.id))

        return self._write(work)

    def expire_due(self) -> int:
        """Mark every pending request past its expiry as expired (each with its audit row). A request whose row
        disagrees with its log is left as it is, for ``verify`` to name."""
        now = _now()
        due_query = sa.select(REQUESTS.c.id).where((REQUESTS.c.status == "pending") & (REQUESTS.c.expires_at <= _naive(now)))
        if not self._read(lambda conn: conn.execute(due_query.limit(1)).first()):
            return 0

        def work(conn):
            head = audit.lock_head(conn, self.store_id, self.key)
            count = 0
            for (request_id,) in conn.execute(due_query).all():
                exp, problem = self._audit_check(conn, self._row(conn, request_id))
                if problem or exp.status != "pending":
                    continue
                if conn.execute(REQUESTS.update().where((REQUESTS.c.id == request_id) & (REQUESTS.c.status == "pending"))
                                .values(status="expired")).rowcount == 1:
                    head = audit.append(conn, head, self.key, request_id, "expired", "system", {}, now)
                    count += 1
            return count

        return self._write(work)

    # ---- audit, checkpoints, export ----------------------------------------------------------------
    def verify(self, checkpoint: str | Path | None = None) -> VerifyResult:
        """Replay the log and check the chain, its head, every request row against the log and, with
        ``checkpoint`` (a file written by ``checkpoint``), that no recorded row was cut or rewritten."""
        checkpoints = read_checkpoints(checkpoint, self.store_id) if checkpoint is not None else []
        return self._read(lambda conn: verify_store(conn, self.store_id, self.key, checkpoints))

    def adopt_key(self, checkpoint: str | Path | None = None, by: str | None = None) -> audit.Head:
        """Start keying a log written without a key: verify it as it is (against ``checkpoint`` when given —
        without one, a log rewritten before today cannot be told from a genuine one), then append a
        ``key_adopted`` row MACed with the key. From then on every row carries the key's MAC."""
        key = self.key
        if key is None:
            raise InvalidRequest("no audit key to adopt: give one with key_file= / --key-file or $AGENTOPS_AUDIT_KEY")
        by = check_identity(by or _os_user(), "the name of who adopts the key")
        head = self._read(lambda conn: audit.read_head(conn, self.store_id, self.key))
        if head.key_id:
            return head  # already keyed with this key (another key: read_head said so)
        checkpoints = read_checkpoints(checkpoint, self.store_id) if checkpoint is not None else []
        result = self._read(lambda conn: verify_store(conn, self.store_id, None, checkpoints))
        if not result.ok:
            raise AuditMismatch.of_store(result.problem)
        now = _now()

        def work(conn):
            current = audit.lock_head(conn, self.store_id, self.key, adopting=True)
            if current.key_id:
                return current
            return audit.append(conn, current, self.key, "", "key_adopted", by,
                                {"key_id": key.key_id, "unkeyed_rows": current.seq}, now)

        return self._write(work)

    def head(self) -> audit.Head:
        """The log's last row (sequence number, MAC, time), checked against its own MAC when the key is at
        hand: what a checkpoint records and the weekly report prints."""
        def work(conn):
            try:
                return audit.read_head(conn, self.store_id, self.key)
            except KeyRequired:  # keyed, and no key here: the head as it stands, marked unchecked
                last = conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq.desc()).limit(1)).one()
                return audit.Head(last.seq, last.hash, last.at, last.key_id, last.policy_version, checked=False)
        return self._read(work)

    def checkpoint(self, path: str | Path) -> audit.Head:
        """Verify (against the checkpoints already in ``path``, if any), then append the head to ``path``.
        A store that does not verify gets no checkpoint: AuditMismatch."""
        earlier = read_checkpoints(path, self.store_id, missing_ok=True)
        result = self._read(lambda conn: verify_store(conn, self.store_id, self.key, earlier))
        if not result.ok:
            raise AuditMismatch.of_store(str(result).removeprefix("audit log TAMPERED").lstrip(": "))
        append_checkpoint(path, self.store_id, result.head, self._safe_url())
        return result.head

    def audit_log(self) -> pl.DataFrame:
        def work(conn):
            result = conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))
            ints = ("seq", "fmt", "policy_version")
            return pl.DataFrame([tuple(r) for r in result], orient="row", schema={
                c.name: pl.Int64 if c.name in ints else pl.String for c in AUDIT.columns})
        return self._read(work)

    def export_audit(self, path: str | Path) -> Path:
        """Write the audit log with its MACs for auditors — JSONL when the name ends in .jsonl, else CSV — so it
        can be verified away from the database: ``agentops-kit approvals verify-export FILE``."""
        path = Path(path)
        log = self.audit_log().select(pl.lit(self.store_id).alias("store_id"), pl.all())
        try:
            log.write_ndjson(path) if path.suffix.lower() in (".jsonl", ".ndjson") else log.write_csv(path)
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot be written ({exc.strerror or exc})") from None
        return path

    # ---- reports -----------------------------------------------------------------------------------
    def requests(self) -> pl.DataFrame:
        """Every request (no parameters, only their hash; the decider's note), for reports."""
        cols = [REQUESTS.c[n] for n in ("id", "agent", "run_id", "action", "requested_by", "requested_at",
                                        "expires_at", "status", "decided_by", "decided_at", "executed_at", "params_hash",
                                        "decision_note")]

        def work(conn):
            result = conn.execute(sa.select(*cols).order_by(REQUESTS.c.requested_at))
            return pl.DataFrame([tuple(r) for r in result], schema={
                "id": pl.String, "agent": pl.String, "run_id": pl.String, "action": pl.String, "requested_by": pl.String,
                "requested_at": pl.Datetime("us"), "expires_at": pl.Datetime("us"), "status": pl.String,
                "decided_by": pl.String, "decided_at": pl.Datetime("us"), "executed_at": pl.Datetime("us"),
                "params_hash": pl.String, "decision_note": pl.String}, orient="row")

        frame = self._read(work)
        return frame.with_columns(pl.col(c).dt.replace_time_zone("UTC") for c in
                                  ("requested_at", "expires_at", "decided_at", "executed_at"))

    def decisions(self) -> pl.DataFrame:
        """Decided requests: evidence of approval for the policy checker (run_id, action, decision, approver,
        decided_at, request_id, audit_problem). The whole log is replayed first: a request whose row disagrees
        with it has decision ``audit mismatch`` and the reason in ``audit_problem`` — it is no evidence."""
        problems = self._read(lambda conn: request_problems(conn, self.store_id, self.key))
        problem_frame = pl.DataFrame({"id": list(problems), "audit_problem": list(problems.values())},
                                     schema={"id": pl.String, "audit_problem": pl.String})
        reqs = self.requests().join(problem_frame, on="id", how="left")
        return reqs.filter(pl.col("status").is_in(["approved", "rejected"]) | pl.col("audit_problem").is_not_null()).select(
            "run_id", "action",
            pl.when(pl.col("audit_problem").is_null()).then(pl.col("status")).otherwise(pl.lit("audit mismatch")).alias("decision"),
            pl.col("decided_by").alias("approver"), pl.col("decided_at"), pl.col("id").alias("request_id"), "audit_problem")

    def metrics(self, by: str = "action") -> pl.DataFrame:
        """Queue size, time to decision (p50/p95, seconds) and approval / rejection / expiry rates, per
        ``action`` or ``approver``."""
        if by not in ("action", "approver"):
            raise InvalidRequest(f"metrics by '{by}': expected action or approver")
        try:
            self.expire_due()
        except KeyRequired:
            pass
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

