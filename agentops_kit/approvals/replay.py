"""The log is the truth: replay audit rows into what each request must be, and compare a request row to it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from .approvers import Approvers
from .audit import iso
from .hashes import content_hash, params_hash_of_text
from .identity import same_person
from .request import as_utc
from .stops import STOP_EVENTS, StopLog

# rows that grant or use an approval: with an audit key, a request counts as approved only when these carry its MAC
DECISIVE = ("approved", "rejected", "executed", "migrated")
SNAPSHOT = ("agent", "run_id", "action", "requested_by", "requested_at", "expires_at", "idempotency_key",
            "params_hash", "content_hash", "status", "decided_by", "decided_at", "decision_note", "executed_at")


@dataclass
class Expected:
    """One request as its audit rows say it is."""

    request_id: str
    agent: str
    run_id: str | None
    action: str
    requested_by: str
    requested_at: str
    expires_at: str
    idempotency_key: str
    params_hash: str
    content_hash: str
    status: str = "pending"
    decided_by: str | None = None
    decided_at: str | None = None
    decision_note: str | None = None
    executed_at: str | None = None
    rows: list[int] = field(default_factory=list)  # the seqs of its rows
    decisive: list[Mapping] = field(default_factory=list)


@dataclass
class Replay:
    """Feed rows in log order; ``problem`` is the first row that contradicts the rows before it."""

    check_policy: bool = True  # False when only one request's rows are fed (the policy rows are not among them)
    requests: dict[str, Expected] = field(default_factory=dict)
    policies: dict[int, tuple[Approvers, Mapping]] = field(default_factory=dict)  # version -> (policy, its row)
    policy_version: int = 0
    problem: tuple[int, str, str] | None = None  # (seq, request id or '', what)
    stops: StopLog = field(default_factory=StopLog)  # agent stops (the kill switch)

    def feed(self, row: Mapping) -> bool:
        """Apply one row; False (and ``problem`` set) when it contradicts the log so far."""
        if self.problem is None:
            what = self._apply(row)
            if what:
                self.problem = (row["seq"], row["request_id"], what)
        return self.problem is None

    def _apply(self, row: Mapping) -> str | None:
        if row["fmt"] == 1:  # a version-1 row: its request's state is carried over by a "migrated" row
            return None
        seq, event, rid = row["seq"], row["event"], row["request_id"]
        try:
            details = json.loads(row["details"])
        except ValueError:
            return f"row {seq}'s details are not JSON"
        if event == "policy":
            version = details.get("version")
            if version != self.policy_version + 1 or row["policy_version"] != version:
                return f"row {seq} sets approvers policy version {version} after version {self.policy_version}"
            try:
                self.policies[version] = (Approvers.model_validate(details.get("policy")), row)
            except Exception:  # a policy the kit itself wrote always validates
                return f"row {seq}'s approvers policy does not validate"
            self.policy_version = version
            return None
        if self.check_policy and row["policy_version"] != self.policy_version:
            return (f"row {seq} says approvers policy version {row['policy_version']} was in force, "
                    f"but the log's is {self.policy_version}")
        if event in ("schema", "key_adopted"):
            return None
        if event in STOP_EVENTS:
            return self.stops.apply(row, details) if isinstance(details, dict) else f"row {seq}'s details are not a dict"
        if event == "submitted" and isinstance(details, dict) and self._stopped(details.get("agent")):
            return f"row {seq} submits a request for agent {details.get('agent')}, which the log has stopped"
        if event in ("submitted", "migrated"):
            if rid in self.requests and event == "submitted":
                return f"row {seq} submits request {rid} a second time"
            try:
                keys = SNAPSHOT if event == "migrated" else SNAPSHOT[:9]
                self.requests[rid] = Expected(rid, **{k: (row["actor"] if k == "requested_by" and event == "submitted"
                                                          else row["at"] if k == "requested_at" and event == "submitted"
                                                          else details[k]) for k in keys})
            except (KeyError, TypeError):
                return f"row {seq} ({event}) lacks the request's fields"
            self.requests[rid].rows.append(seq)
            if event == "migrated":
                self.requests[rid].decisive.append(row)
            return None
        req = self.requests.get(rid)
        if req is None:
            return f"row {seq} ({event}) is about request {rid}, which the log never submitted"
        req.rows.append(seq)
        if event == "viewed":
            return None
        if event in ("approved", "executed") and self._stopped(req.agent):
            return f"row {seq} ({event}) is about request {rid} of agent {req.agent}, which the log has stopped"
        if event in ("approved", "rejected"):
            if req.status != "pending":
                return f"row {seq} decides request {rid}, which the log already has {req.status}"
            if row["at"] >= req.expires_at:
                return f"row {seq} decides request {rid} after it expired"
            if details.get("params_hash") != req.params_hash:
                return f"row {seq}'s decision covers other parameters than request {rid} was submitted with"
            if same_person(row["actor"], req.requested_by) or same_person(row["actor"], req.agent):
                return f"row {seq}: {row['actor']} decided request {rid}, which they requested"
            if self.check_policy and self.policy_version:
                policy = self.policies[self.policy_version][0]
                if not policy.may_decide(req.action, row["actor"]):
                    return (f"row {seq}: {row['actor']} decided request {rid} although approvers policy version "
                            f"{self.policy_version} did not allow it")
            req.status, req.decided_by, req.decided_at = event, row["actor"], row["at"]
            req.decision_note = details.get("note")
            req.decisive.append(row)
            return None
        if event == "expired":
            if req.status != "pending":
                return f"row {seq} expires request {rid}, which the log has {req.status}"
            req.status = "expired"
            return None
        if event == "executed":
            if req.status != "approved" or req.executed_at is not None:
                return f"row {seq} executes request {rid}, which the log has {req.status}" + (
                    " and already executed" if req.executed_at else "")
            if details.get("params_hash") != req.params_hash:
                return f"row {seq} executes request {rid} with other parameters than were approved"
            req.executed_at = row["at"]
            req.decisive.append(row)
            return None
        return f"row {seq} has an unknown event '{event}'"


    def _stopped(self, agent) -> bool:
        return isinstance(agent, str) and self.stops.stopped(agent) is not None


def replay(rows: Iterable[Mapping], check_policy: bool = True) -> Replay:
    state = Replay(check_policy=check_policy)
    for row in rows:
        if not state.feed(row):
            break
    return state


def _time(value) -> str | None:
    return None if value is None else iso(as_utc(value))


def table_view(row: Mapping) -> dict:
    """A request row in the terms the log records it in (times as log text, texts as their hashes)."""
    try:
        computed_params = params_hash_of_text(row["params"])
    except (TypeError, ValueError):
        computed_params = "(not JSON)"
    return {
        "status": row["status"], "decided_by": row["decided_by"], "decided_at": _time(row["decided_at"]),
        "decision_note": row["decision_note"], "executed_at": _time(row["executed_at"]),
        "params": computed_params, "params_hash": row["params_hash"],
        "before/after/sources/uncertainty": content_hash(row["before"], row["after"], row["sources"], row["uncertainty"]),
        "content_hash": row["content_hash"], "agent": row["agent"], "run_id": row["run_id"], "action": row["action"],
        "requested_by": row["requested_by"], "requested_at": _time(row["requested_at"]),
        "expires_at": _time(row["expires_at"]), "idempotency_key": row["idempotency_key"],
    }


def _log_view(exp: Expected) -> dict:
    view = {f.name: getattr(exp, f.name) for f in fields(exp) if f.name not in ("request_id", "rows", "decisive")}
    view["params"] = exp.params_hash
    view["before/after/sources/uncertainty"] = exp.content_hash
    return view


def _shown(value) -> str:
    return "nothing" if value is None else f"'{value}'"


def difference(row: Mapping, exp: Expected) -> tuple[str, str] | None:
    """The first field where the request row differs from what the log says, and that in words (None when
    they agree)."""
    table, log = table_view(row), _log_view(exp)
    for name, value in table.items():
        if value != log[name]:
            if name in ("params", "before/after/sources/uncertainty"):
                return name, (f"its {name} were changed after it was submitted (they no longer hash to what the "
                              "log recorded)")
            return name, f"{name} is {_shown(value)} in the table but {_shown(log[name])} in the log"
    return None
