"""Agent stops (the kill switch) as the audit log records them, replayed into who is stopped, by whom and why.

A stop is a ``stopped`` row, a lifted stop a ``resumed`` row; both are about the whole store (request id '')
and carry the agent's name in their details. The log is the truth here as for requests: there is no table of
stops to edit. Agent names are compared in the normalised form people's names are (identity.py), so a stop
of "SupportRefundAgent" also holds for "supportrefundagent".

The two-person rule: a stop is lifted only by someone other than who stopped it, and never by the agent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from . import audit
from .errors import AuditMismatch
from .identity import normalise, same_person
from .keys import AuditKey
from .schema import AUDIT

STOP_EVENTS = ("stopped", "resumed")


@dataclass
class Stop:
    """One stop of one agent: who stopped it, when (ISO-8601 UTC) and why; for an automatic stop the rule and
    the runs that caused it; who lifted it and when (None while it holds)."""

    agent: str
    stopped_by: str
    stopped_at: str
    reason: str
    seq: int
    rule: str | None = None
    runs: list[str] = field(default_factory=list)
    resumed_by: str | None = None
    resumed_at: str | None = None
    resume_note: str | None = None
    recorded_now: bool = False  # True when this call wrote the stop (False: it was already in force)

    @property
    def active(self) -> bool:
        return self.resumed_by is None

    def __str__(self) -> str:
        cause = f" [rule {self.rule}; runs {', '.join(self.runs) or 'none named'}]" if self.rule else ""
        text = f"{self.agent}: stopped by {self.stopped_by} at {self.stopped_at} — {self.reason}{cause}"
        return text + (f"; resumed by {self.resumed_by} at {self.resumed_at}" if not self.active else "")


@dataclass
class StopLog:
    """Feed rows in log order (rows other than stops are ignored); ``apply`` names the first contradiction."""

    stops: list[Stop] = field(default_factory=list)
    current: dict[str, Stop] = field(default_factory=dict)  # normalised agent -> the stop that holds

    def stopped(self, agent: str) -> Stop | None:
        return self.current.get(normalise(agent))

    def apply(self, row: Mapping, details: dict) -> str | None:
        seq, event, actor = row["seq"], row["event"], row["actor"]
        agent = details.get("agent")
        if not isinstance(agent, str) or not agent.strip():
            return f"row {seq} ({event}) names no agent"
        active = self.current.get(normalise(agent))
        if event == "stopped":
            if active is not None:
                return f"row {seq} stops agent {agent}, which the log has stopped since row {active.seq}"
            reason, runs = details.get("reason"), details.get("runs") or []
            if not isinstance(reason, str) or not reason.strip() or not isinstance(runs, list):
                return f"row {seq} stops agent {agent} without a reason"
            stop = Stop(agent, actor, row["at"], reason, seq, details.get("rule"), [str(r) for r in runs])
            self.stops.append(stop)
            self.current[normalise(agent)] = stop
            return None
        if active is None:
            return f"row {seq} resumes agent {agent}, which the log does not have stopped"
        if details.get("stop_seq") != active.seq:
            return f"row {seq} resumes agent {agent} from a stop other than the one in force (row {active.seq})"
        if same_person(actor, active.stopped_by) or same_person(actor, agent):
            return (f"row {seq}: {actor} resumed agent {agent}, stopped by {active.stopped_by} — the two-person "
                    "rule needs someone else")
        active.resumed_by, active.resumed_at, active.resume_note = actor, row["at"], details.get("note")
        del self.current[normalise(agent)]
        return None


def read_stops(conn, store_id: str, key: AuditKey | None, head: audit.Head | None = None) -> StopLog:
    """The stops as the log records them, every stop row checked against its MAC. AuditMismatch when the log
    cannot be trusted on them: the head does not check, rows were removed or added (the row count differs from
    the head's sequence number), a stop row was edited, or one written after the key was in use carries no MAC
    from it. KeyRequired when the log is keyed and no key is given (a stop cannot be checked without it)."""
    head = head or audit.read_head(conn, store_id, key)
    count, first_keyed = conn.execute(sa.select(
        sa.func.count(), sa.func.min(sa.case((AUDIT.c.key_id != "", AUDIT.c.seq))))).one()
    if count != head.seq:
        raise AuditMismatch.of_store(f"the log holds {count} rows but its head is row {head.seq} (rows removed "
                                     "or inserted)")
    log = StopLog()
    rows = conn.execute(sa.select(AUDIT).where(AUDIT.c.event.in_(STOP_EVENTS)).order_by(AUDIT.c.seq))
    for row in rows:
        m = row._mapping
        problem = audit.row_problem(m, key)
        if problem is None and first_keyed is not None and m["seq"] > first_keyed and not m["key_id"]:
            problem = f"row {m['seq']} ({m['event']}) carries no MAC from the audit key"
        if problem is None:
            try:
                details = json.loads(m["details"])
            except ValueError:
                details = None
            problem = f"row {m['seq']}'s details are not JSON" if not isinstance(details, dict) \
                else log.apply(m, details)
        if problem:
            raise AuditMismatch.of_store(f"agent stops: {problem}")
    return log
