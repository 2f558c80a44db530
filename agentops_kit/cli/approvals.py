"""`approvals ...`: the queue from a shell — list, show, approve, reject; verify, checkpoint, export, verify-export;
keygen, migrate, policy show|set.

Every command opens an existing store and none creates one (except `policy set --create`). Everything a store
or an agent supplied is printed with control characters made visible. Exit codes: 0 done / intact, 1 tampered,
2 bad input.
"""

from __future__ import annotations

import json
import sys

import click

from ..terminal import safe
from .app import main

KEY_FILE_HELP = "audit key file (default: $AGENTOPS_AUDIT_KEY, then $AGENTOPS_AUDIT_KEY_FILE)"


def store_options(func):
    func = click.option("--key-file", type=click.Path(), default=None, help=KEY_FILE_HELP)(func)
    func = click.option("--db", required=True, envvar="AGENTOPS_APPROVALS_DB",
                        help="SQLAlchemy URL of the approvals store (or $AGENTOPS_APPROVALS_DB).")(func)
    return func


def queue_options(func):
    func = click.option("--approvers", type=click.Path(), default=None,
                        help="approvers YAML: must equal the policy stored with the queue (a store without one "
                             "stores it on the first decision; change it with `approvals policy set`).")(func)
    return store_options(func)


def open_store(db, key_file, approvers=None, decider=None, create=False, migrate=False):
    """The queue at ``db`` (never created here). ``approvers`` is checked against the stored policy; a store
    without one takes it only when ``decider`` (who is about to decide) is given."""
    from ..approvals import ApprovalQueue, PolicyConflict, load_approvers

    policy = load_approvers(approvers) if approvers is not None else None  # the arguments first, then the store
    queue = ApprovalQueue(db, key_file=key_file, create=create, migrate=migrate)
    if policy is not None:
        current, version = queue.approvers_policy()
        if current is None and decider is not None:
            queue.set_approvers(policy, by=decider)
        elif current is None:
            raise PolicyConflict("no approvers policy is stored with this queue: store it with "
                                 "`agentops-kit approvals policy set FILE --as NAME`")
        elif current.fingerprint() != policy.fingerprint():
            raise PolicyConflict(f"{approvers} differs from the approvers policy stored with the queue (version "
                                 f"{version}), which stays in force; change it with `agentops-kit approvals policy set`")
    return queue


def writable_path(path) -> None:
    """Refuse an output whose folder is missing before the store is even opened."""
    from pathlib import Path

    from ..approvals import InvalidRequest

    parent = Path(path).parent
    if not parent.is_dir():
        problem = "is a file, not a folder" if parent.exists() else "does not exist"
        raise InvalidRequest(f"{path}: cannot be written ({parent} {problem})")


def echo(text: str = "", err: bool = False) -> None:
    click.echo(safe(text), err=err)


def _value(value) -> str:
    return json.dumps(value, default=str)  # ASCII-only: control characters come out as \\u escapes


@main.group()
def approvals():
    """The queue of actions awaiting a human, and its audit log."""


@approvals.command("list")
@queue_options
@click.option("--agent", default=None)
@click.option("--action", default=None)
def approvals_list(db, key_file, approvers, agent, action):
    """Pending requests (oldest first)."""
    items = open_store(db, key_file, approvers).pending(agent=agent, action=action)
    if not items:
        echo("no pending requests")
    for r in items:
        echo(f"{r.id}  {r.agent}  {r.action}  run={r.run_id}  by={r.requested_by}  "
             f"expires={r.expires_at:%Y-%m-%d %H:%M}Z")


@approvals.command("show")
@queue_options
@click.argument("request_id")
@click.option("--as", "viewer", default=None, help="record this view in the audit log as this person")
def approvals_show(db, key_file, approvers, request_id, viewer):
    """One request: what will run (from its parameters), the agent's claim, sources, uncertainty, status."""
    r = open_store(db, key_file, approvers).get(request_id, viewer=viewer)
    echo(f"{r.action} for {r.agent} (run {r.run_id or '–'}) — {r.status}")
    echo(f"requested by {r.requested_by} at {r.requested_at:%Y-%m-%d %H:%M:%S}Z, expires {r.expires_at:%Y-%m-%d %H:%M:%S}Z")
    if r.audit_problem:
        echo(f"AUDIT MISMATCH — do not approve: {r.audit_problem}")
    elif not r.audit_checked:
        echo("audit: not checked (the store's log is keyed and no key was given)")
    if r.decided_by:
        echo(f"decided by {r.decided_by} at {r.decided_at:%Y-%m-%d %H:%M:%S}Z: {r.decision_note or ''}")
    against = ", against the before state" if r.before is not None else ""
    echo(f"what will run (computed from the parameters{against}):")
    for d in r.diff:
        if d["change"] == "set":
            echo(f"      set  {d['path']} = {_value(d['after'])}")
        else:
            echo(f"  {d['change']:>7}  {d['path']}: {_value(d['before'])} -> {_value(d['after'])}")
    echo(f"parameters: {json.dumps(r.params, sort_keys=True, default=str)}")
    echo("the agent's claim (its own before -> after; not checked against what will run):")
    for d in r.claimed_diff or []:
        echo(f"  {d['change']:>7}  {d['path']}: {_value(d['before'])} -> {_value(d['after'])}")
    if not r.claimed_diff:
        echo("  (none given)")
    if r.claim_conflicts:
        echo("WARNING: the agent's claim disagrees with the parameters:")
        for c in r.claim_conflicts:
            echo(f"  {c['path']}: the agent says {_value(c['claimed'])}, the parameters say {_value(c['params'])}")
    echo("sources: " + (", ".join(f"{s.get('document_id')}@{s.get('version')}" for s in r.sources if isinstance(s, dict))
                        or "none"))
    echo(f"uncertainty: {r.uncertainty or 'none stated'}")


@approvals.command("approve")
@queue_options
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="who is approving")
@click.option("--note", default=None)
def approvals_approve(db, key_file, approvers, request_id, approver, note):
    """Approve a pending request."""
    r = open_store(db, key_file, approvers, decider=approver).approve(request_id, approver=approver, note=note)
    echo(f"approved {r.id} ({r.action}) as {r.decided_by}")


@approvals.command("reject")
@queue_options
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="who is rejecting")
@click.option("--reason", required=True, help="why (required)")
def approvals_reject(db, key_file, approvers, request_id, approver, reason):
    """Reject a pending request, with a reason."""
    r = open_store(db, key_file, approvers, decider=approver).reject(request_id, approver=approver, reason=reason)
    echo(f"rejected {r.id} ({r.action}) as {r.decided_by}: {reason}")


@approvals.command("verify")
@queue_options
@click.option("--checkpoint", type=click.Path(), default=None,
              help="checkpoint file (from `approvals checkpoint`): also find rows cut, a rewritten chain, a deleted log")
def approvals_verify(db, key_file, approvers, checkpoint):
    """Replay the audit log and check every request against it. Exit 0 intact, 1 tampered, 2 bad input."""
    result = open_store(db, key_file, approvers).verify(checkpoint=checkpoint)
    for line in result.lines():
        echo(line)
    sys.exit(result.exit_code)


@approvals.command("checkpoint")
@store_options
@click.option("--out", "out_file", required=True, type=click.Path(),
              help="file to append the head to — keep it away from the database (another machine, WORM storage)")
def approvals_checkpoint(db, key_file, out_file):
    """Verify the store, then append its head (row, MAC, time) to a file kept elsewhere."""
    writable_path(out_file)
    head = open_store(db, key_file).checkpoint(out_file)
    echo(f"checkpoint appended to {out_file}: {head}")


@approvals.command("export")
@queue_options
@click.argument("out_file", type=click.Path())
def approvals_export(db, key_file, approvers, out_file):
    """Write the audit log with its MACs (JSONL if OUT_FILE ends in .jsonl, else CSV) for offline verification."""
    writable_path(out_file)
    queue = open_store(db, key_file, approvers)
    path = queue.export_audit(out_file)
    echo(f"audit log written to {path} ({queue.head()}); check it with `agentops-kit approvals verify-export {path}`")


@approvals.command("verify-export")
@click.argument("export_file", type=click.Path())
@click.option("--key-file", type=click.Path(), default=None, help=KEY_FILE_HELP)
@click.option("--checkpoint", type=click.Path(), default=None, help="checkpoint file to hold the export against")
def approvals_verify_export(export_file, key_file, checkpoint):
    """Check an exported audit log away from the database. Exit 0 intact, 1 tampered, 2 bad input."""
    from ..approvals import verify_export
    from ..approvals.keys import resolve_key

    result = verify_export(export_file, resolve_key(key_file=key_file), checkpoint)
    for line in result.lines():
        echo(line)
    sys.exit(result.exit_code)


@approvals.command("keygen")
@click.option("--out", "out_file", required=True, type=click.Path(), help="new key file (never overwritten)")
def approvals_keygen(out_file):
    """Make a new audit key, readable by its owner only. Keep it outside the database."""
    from ..approvals import generate_key

    key = generate_key(out_file)
    echo(f"new audit key written to {out_file} (key id {key.key_id}, mode 600)")
    echo(f"give it to every process that writes the store, and to auditors: AGENTOPS_AUDIT_KEY_FILE={out_file}")


@approvals.command("adopt-key")
@store_options
@click.option("--checkpoint", type=click.Path(), default=None,
              help="checkpoint file to verify the unkeyed log against first (strongly advised)")
@click.option("--as", "by", default=None, help="who adopts the key (recorded; default: the OS user)")
def approvals_adopt_key(db, key_file, checkpoint, by):
    """Start keying a store whose log was written without a key (verified first). Exit 1 if it does not verify."""
    head = open_store(db, key_file).adopt_key(checkpoint=checkpoint, by=by)
    echo(f"audit key adopted: {head}")


@approvals.command("migrate")
@store_options
def approvals_migrate(db, key_file):
    """Bring a store of an older schema version forward (its old log is checked first)."""
    from ..approvals.schema import SCHEMA_VERSION

    queue = open_store(db, key_file, migrate=True)
    echo(f"approvals store at schema version {SCHEMA_VERSION} ({queue.head()})")


@approvals.group("policy")
def approvals_policy():
    """The approvers policy stored with the queue: who may decide which action."""


@approvals_policy.command("show")
@store_options
def approvals_policy_show(db, key_file):
    """The policy in force, and every earlier version."""
    import yaml

    queue = open_store(db, key_file)
    policy, version = queue.approvers_policy()
    if policy is None:
        echo("no approvers policy is stored: anyone but the requester may decide any action")
        return
    history = queue.approvers_history()
    for row in history.iter_rows(named=True):
        echo(f"version {row['version']}: set by {row['set_by']} at {row['at']} (fingerprint {row['fingerprint'][:16]})")
    echo(f"in force (version {version}):")
    for line in yaml.safe_dump(policy.model_dump(), sort_keys=True, allow_unicode=False).splitlines():
        echo("  " + line)


@approvals_policy.command("set")
@store_options
@click.argument("policy_file", type=click.Path())
@click.option("--as", "by", required=True, help="who is changing the policy (recorded in the audit log)")
@click.option("--create", is_flag=True, help="create the store if there is none")
def approvals_policy_set(db, key_file, policy_file, by, create):
    """Store POLICY_FILE as the new version of the approvers policy."""
    from ..approvals import load_approvers

    policy = load_approvers(policy_file)
    version = open_store(db, key_file, create=create, migrate=create).set_approvers(policy, by=by)
    echo(f"approvers policy version {version} in force (fingerprint {policy.fingerprint()[:16]})")  # type: ignore[union-attr]
