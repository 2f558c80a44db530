"""Verification: walk the chain, replay it, and hold the request rows and checkpoints against it.

Order of the checks, first failure reported: the chain (each row's link and MAC, rows missing, moved or
downgraded to no MAC), the chain head, the checkpoints, then each request row against the replayed log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..terminal import safe
from .audit import ADOPTIONS, Head, first_prev, row_problem
from .checkpoint import Checkpoint, check_against
from .errors import InvalidRequest, KeyRequired
from .keys import AuditKey
from .replay import Replay, difference
from .schema import AUDIT, HEAD, REQUESTS, genesis

NO_KEY_CAVEAT = ("no audit key: this detects accidental edits, not a deliberate rewrite by someone who can write "
                 "to the database (see `agentops-kit approvals keygen`)")
NO_CHECKPOINT_CAVEAT = ("no checkpoint given: rows cut from the end together with the head, or a whole rewritten "
                        "log, are only seen against a checkpoint kept elsewhere (`agentops-kit approvals checkpoint`)")


@dataclass
class Chain:
    rows: int = 0
    last_seq: int = 0
    last_mac: str = ""
    last_at: str | None = None
    key_id: str = ""          # the key the keyed rows carry ('' when none is keyed)
    unkeyed_rows: int = 0     # rows written without a key (they come first)
    problem: tuple[int, str] | None = None
    tainted: set[str] = field(default_factory=set)  # requests with a row at or after the problem
    macs: dict[int, str] = field(default_factory=dict)
    replay: Replay = field(default_factory=Replay)


def walk(rows: Iterable[Mapping], store_id: str, key: AuditKey | None, want: set[int] = frozenset()) -> Chain:
    chain = Chain(last_mac=genesis(store_id))
    prev = None
    for row in rows:
        if chain.problem is not None:
            chain.tainted.add(row["request_id"])
            continue
        seq, expected = row["seq"], chain.last_seq + 1
        problem = None
        if seq != expected:
            problem = (expected, f"row {expected} is missing or moved (the next row is {seq})")
        elif row["prev_hash"] != (first_prev(row, store_id) if seq == 1 else prev):
            problem = (seq, f"row {seq}'s link to the row before it is broken (rows removed, inserted or reordered)")
        elif row["key_id"]:
            if key is None:
                raise KeyRequired(row["key_id"])
            if not chain.key_id and key.key_id != row["key_id"]:
                raise InvalidRequest(f"the audit key from {key.source} (id {key.key_id}) is not this store's key: "
                                     f"its rows are MACed with key id {row['key_id']}")
            if not chain.key_id and seq > 1 and row["event"] not in ADOPTIONS:
                problem = (seq, f"row {seq} is the first keyed row but does not adopt the key (rows before it were "
                                "rewritten, or the key was never adopted explicitly)")
            if chain.key_id and row["key_id"] != chain.key_id:
                problem = (seq, f"row {seq} names key id {row['key_id']}, the rows before it {chain.key_id}")
            chain.key_id = row["key_id"]
        elif chain.key_id:
            problem = (seq, f"row {seq} carries no MAC although the rows before it do: the log was rewritten "
                            "without the key")
        else:
            chain.unkeyed_rows += 1
        if problem is None:
            text = row_problem(row, key)
            problem = (seq, text) if text else None
        if problem is None and row["event"] == "schema":
            if json.loads(row["details"]).get("store_id") != store_id:
                problem = (seq, f"the store's id was changed after row {seq} recorded it")
        if problem is None and not chain.replay.feed(row):
            bad_seq, _, text = chain.replay.problem
            problem = (bad_seq, text)
        if problem is not None:
            chain.problem = problem
            chain.tainted.add(row["request_id"])
            continue
        prev = row["hash"]
        chain.rows, chain.last_seq, chain.last_mac, chain.last_at = chain.rows + 1, seq, row["hash"], row["at"]
        if seq in want:
            chain.macs[seq] = row["hash"]
    return chain


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    request_id: str | None = None        # the first request that differs from the log, when that is the problem
    field: str | None = None             # and its first differing field
    requests_checked: int = 0
    head: Head | None = None
    key_id: str | None = None            # the key the chain was checked with (None: no key)
    unkeyed_rows: int = 0
    checkpoints_checked: int = 0
    what: str = "audit log"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        """The report, one line each, control characters made visible (values in it come from the store)."""
        if not self.ok:
            where = f" at row {self.first_bad_seq}" if self.first_bad_seq is not None and not self.request_id else ""
            return [safe(f"{self.what} TAMPERED{where}: {self.problem}")]
        lines = [f"{self.what} intact: {_count(self.rows_checked, 'row')}"
                 + (f", {_count(self.requests_checked, 'request')} checked against it" if self.what == "audit log" else "")]
        if self.key_id:
            lines.append(f"HMAC-SHA256 chain checked with key id {self.key_id}"
                         + (f"; rows 1–{self.unkeyed_rows} were written before the key was adopted and are "
                            "protected by the keyed rows after them" if self.unkeyed_rows else ""))
        else:
            lines.append(NO_KEY_CAVEAT)
        if self.head is not None:
            lines.append(str(self.head))
        lines.append(f"checkpoints: {self.checkpoints_checked} checked" if self.checkpoints_checked
                     else NO_CHECKPOINT_CAVEAT)
        return [safe(line) for line in lines]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _finish(chain: Chain, key: AuditKey | None, checkpoints: list[Checkpoint], what: str,
            head_row=None, requests: Iterable[Mapping] | None = None) -> VerifyResult:
    head = Head(chain.last_seq, chain.last_mac, chain.last_at, chain.key_id, chain.replay.policy_version)
    common = {"head": head, "key_id": key.key_id if key else None, "unkeyed_rows": chain.unkeyed_rows,
              "checkpoints_checked": len(checkpoints), "what": what}

    def bad(seq, problem, request_id=None, field_name=None, checked=0):
        return VerifyResult(False, chain.rows, seq, problem, request_id, field_name, checked, **common)

    if chain.problem:
        return bad(*chain.problem)
    if head_row is not None and (head_row.seq != chain.last_seq or (chain.last_seq and head_row.hash != chain.last_mac)):
        if head_row.seq > chain.last_seq:
            return bad(chain.last_seq + 1, f"the log ends at row {chain.last_seq} but the chain head records row "
                                           f"{head_row.seq} (rows removed from the end)")
        return bad(head_row.seq, f"the chain head records row {head_row.seq}, not the log's last row "
                                 f"{chain.last_seq} (the head or the log's end was edited)")
    cut = check_against(checkpoints, chain.last_seq, chain.macs)
    if cut:
        return bad(*cut)
    if key is not None and chain.rows and not chain.key_id:
        return bad(None, f"none of the {chain.rows} rows carries a MAC with the key (id {key.key_id}): this store "
                         "was never written with it, or its log was rewritten without it")
    checked = 0
    if requests is not None:
        expected = chain.replay.requests
        seen = set()
        first = None  # (log position, request id, field, sentence)
        for row in requests:
            checked += 1
            seen.add(row["id"])
            exp = expected.get(row["id"])
            if exp is None:
                found = (float("inf"), row["id"], "id", f"request {row['id']} is in the table but not in the audit log")
            else:
                differs = difference(row, exp)
                found = (exp.rows[0], row["id"], differs[0], f"request {row['id']}: {differs[1]}") if differs else None
            if found and (first is None or found[0] < first[0]):
                first = found
        for rid, exp in expected.items():
            if rid not in seen and (first is None or exp.rows[0] < first[0]):
                first = (exp.rows[0], rid, "id", f"request {rid} is in the audit log but missing from the table")
        if first:
            seq = first[0] if first[0] != float("inf") else None
            return bad(seq, first[3], first[1], first[2], checked)
    return VerifyResult(True, chain.rows, requests_checked=checked, **common)


def verify_store(conn, store_id: str, key: AuditKey | None, checkpoints: list[Checkpoint]) -> VerifyResult:
    want = {cp.seq for cp in checkpoints}
    chain = walk((r._mapping for r in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))), store_id, key, want)
    head_row = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    if head_row is None:
        return VerifyResult(False, chain.rows, None, "the chain head row is missing")
    requests = (r._mapping for r in conn.execute(sa.select(REQUESTS).order_by(REQUESTS.c.requested_at, REQUESTS.c.id)))
    return _finish(chain, key, checkpoints, "audit log", head_row, requests)


def request_problems(conn, store_id: str, key: AuditKey | None) -> dict[str, str]:
    """Each request whose row disagrees with the log, or whose log rows cannot be trusted, with the reason."""
    chain = walk((r._mapping for r in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq))), store_id, key)
    head_row = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    everything = None
    if chain.problem and "" in chain.tainted:  # a store-level row (a policy) at or after the break
        everything = f"the audit log is broken at row {chain.problem[0]}: {chain.problem[1]}"
    if head_row is None or head_row.seq != chain.last_seq or (chain.last_seq and head_row.hash != chain.last_mac):
        everything = "the audit chain's head does not match the log (rows cut from the end, or edited)"
    if key is not None and chain.rows and not chain.key_id:
        everything = "none of the audit rows carries a MAC with the key"
    problems = {}
    for row in conn.execute(sa.select(REQUESTS)):
        row = row._mapping
        exp = chain.replay.requests.get(row["id"])
        if everything:
            problems[row["id"]] = everything
        elif row["id"] in chain.tainted:
            problems[row["id"]] = f"the audit log is broken at row {chain.problem[0]}: {chain.problem[1]}"
        elif exp is None:
            problems[row["id"]] = "the request is not in the audit log"
        else:
            differs = difference(row, exp)
            if differs:
                problems[row["id"]] = differs[1]
    return problems


def read_export(path: str | Path) -> tuple[str, list[dict]]:
    """The rows of an ``approvals export`` file (JSON Lines or CSV) and the store id they name."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise InvalidRequest(f"{path}: export file not found")
    columns = ("store_id", "seq", "request_id", "event", "actor", "at", "details", "prev_hash", "hash", "key_id",
               "fmt", "policy_version")
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            frame = pl.read_csv(path, infer_schema=False)
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise KeyError(missing[0])
            items = frame.to_dicts()
        rows = []
        for item in items:
            row = {c: ("" if item[c] is None else item[c]) for c in columns}
            for c in ("seq", "fmt", "policy_version"):
                row[c] = int(row[c])
            rows.append(row)
    except KeyError as exc:
        raise InvalidRequest(f"{path}: not an audit export written by `agentops-kit approvals export` (no column "
                             f"{exc.args[0]})") from None
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise InvalidRequest(f"{path}: not an audit export written by `agentops-kit approvals export` "
                             f"({exc.__class__.__name__})") from None
    ids = {r["store_id"] for r in rows}
    if len(ids) > 1:
        raise InvalidRequest(f"{path}: rows of {len(ids)} different stores")
    return (ids.pop() if ids else ""), rows


def verify_export(path: str | Path, key: AuditKey | None, checkpoints_file: str | Path | None = None) -> VerifyResult:
    from .checkpoint import read_checkpoints

    store_id, rows = read_export(path)
    checkpoints = read_checkpoints(checkpoints_file, store_id) if checkpoints_file else []
    chain = walk(sorted(rows, key=lambda r: r["seq"]), store_id, key, {cp.seq for cp in checkpoints})
    return _finish(chain, key, checkpoints, f"exported audit log {Path(path).name}")
