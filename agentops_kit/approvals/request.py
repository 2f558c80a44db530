"""An approval request as the approver sees it, and the outcome the agent receives."""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from typing import overload

from ..model import ApprovalState
from .diff import claim_conflicts, field_diff, params_diff

STATES = tuple(s.value for s in ApprovalState)  # as stored; audit_mismatch is an Outcome, never stored


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...


@overload
def as_utc(value: None) -> None: ...


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


@dataclass
class ApprovalRequest:
    """A request as the approver sees it.

    ``diff`` is computed from ``params`` — what will actually run — against ``before`` (the current state, when
    the agent gave it). ``claimed_diff`` is the agent's own description (its ``before`` -> ``after``), shown
    apart and never trusted; ``claim_conflicts`` lists where that claim and the parameters disagree.
    ``audit_problem`` says how this row disagrees with the audit log (None: it agrees, or was not checked —
    see ``audit_checked``).
    """

    id: str
    idempotency_key: str
    agent: str
    run_id: str | None
    action: str
    params: dict
    before: object
    after: object
    sources: list
    uncertainty: str | None
    requested_by: str
    requested_at: dt.datetime
    expires_at: dt.datetime
    status: str
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_note: str | None = None
    executed_at: dt.datetime | None = None
    content_hash: str = ""
    diff: list[dict] = field(default_factory=list)
    params_hash: str = ""
    claimed_diff: list[dict] = field(default_factory=list)
    claim_conflicts: list[dict] = field(default_factory=list)
    audit_problem: str | None = None
    audit_checked: bool = False

    @classmethod
    def from_row(cls, row) -> ApprovalRequest:
        m = row._mapping
        loads = lambda text: None if text is None else json.loads(text)
        params, before, after = loads(m["params"]), loads(m["before"]), loads(m["after"])
        return cls(
            id=m["id"], idempotency_key=m["idempotency_key"], agent=m["agent"], run_id=m["run_id"],
            action=m["action"], params=params, before=before, after=after,
            sources=loads(m["sources"]) or [], uncertainty=m["uncertainty"], requested_by=m["requested_by"],
            requested_at=as_utc(m["requested_at"]), expires_at=as_utc(m["expires_at"]), status=m["status"],
            decided_by=m["decided_by"], decided_at=as_utc(m["decided_at"]), decision_note=m["decision_note"],
            executed_at=as_utc(m["executed_at"]), content_hash=m["content_hash"], params_hash=m["params_hash"],
            diff=params_diff(params, before) if isinstance(params, dict) else [],
            claimed_diff=field_diff(before, after),
            claim_conflicts=claim_conflicts(params, after) if isinstance(params, dict) else [],
        )

    @property
    def is_open(self) -> bool:
        """Pending and not past its expiry: the only state a human may decide."""
        return self.status == "pending" and self.expires_at > dt.datetime.now(dt.timezone.utc)

    def _repr_html_(self) -> str:
        esc = lambda v: html.escape(v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False))

        def table(rows) -> str:
            body = "".join(
                f"<tr><td><code>{esc(d['path'])}</code></td><td>{esc(d['change'])}</td>"
                f"<td>{esc(d['before']) if d['before'] is not None else ''}</td>"
                f"<td>{esc(d['after']) if d['after'] is not None else ''}</td></tr>" for d in rows)
            return (f"<table><tr><th>field</th><th>change</th><th>before</th><th>after</th></tr>{body}</table>"
                    if rows else "<p><i>nothing</i></p>")

        sources = ", ".join(f"{esc(s.get('document_id', '?'))} @ {esc(str(s.get('version', 'no version')))}"
                            for s in self.sources if isinstance(s, dict)) or "none"
        audit = (f"<p style='color:#b2182b'><b>Audit mismatch — do not approve:</b> {esc(self.audit_problem)}</p>"
                 if self.audit_problem else "")
        conflicts = "".join(
            f"<li><code>{esc(c['path'])}</code>: the agent says {esc(c['claimed'])}, the parameters say "
            f"{esc(c['params'])}</li>" for c in self.claim_conflicts)
        conflicts = (f"<p style='color:#b2182b'><b>The agent's claim disagrees with the parameters:</b></p>"
                     f"<ul>{conflicts}</ul>") if conflicts else ""
        return (
            f"<div class='agentops-approval'><h4>{esc(self.action)} — {esc(self.status)}</h4>{audit}"
            f"<p>agent <b>{esc(self.agent)}</b>, run <code>{esc(self.run_id or '')}</code>, requested by "
            f"{esc(self.requested_by)} at {self.requested_at:%Y-%m-%d %H:%M} UTC, expires {self.expires_at:%Y-%m-%d %H:%M} UTC</p>"
            f"<p><b>What will run</b> (computed from the parameters{', against the before state' if self.before is not None else ''}):</p>"
            f"{table(self.diff)}<p><b>Parameters:</b> <code>{esc(self.params)}</code></p>{conflicts}"
            f"<p><b>The agent's claim</b> (its own before → after; not checked against what will run):</p>"
            f"{table(self.claimed_diff)}"
            f"<p><b>Sources:</b> {sources}</p><p><b>Uncertainty:</b> {esc(self.uncertainty or 'none stated')}</p></div>"
        )


@dataclass(frozen=True)
class Outcome:
    """What ``wait`` tells the agent. Only ``approved`` means: act."""

    request_id: str
    state: str  # approved | rejected | expired | pending (the caller stopped waiting) | audit_mismatch
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    note: str | None = None

    @property
    def approved(self) -> bool:
        return self.state == "approved"

    @property
    def message(self) -> str:
        if self.state == "approved":
            return f"request {self.request_id} approved by {self.decided_by}"
        if self.state == "rejected":
            return f"request {self.request_id} rejected by {self.decided_by}: {self.note} — do not act"
        if self.state == "expired":
            return f"request {self.request_id} expired without a decision — do not act"
        if self.state == "audit_mismatch":
            return f"request {self.request_id} not approved: audit mismatch ({self.note}) — do not act"
        return f"request {self.request_id} is not approved yet — do not act (it stays pending for a human)"
