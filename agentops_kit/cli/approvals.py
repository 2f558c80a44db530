"""`approvals list | show | approve | reject | verify | export`: the queue from a shell."""

from __future__ import annotations

import sys

import click

from .app import main, open_queue


def queue_options(func):
    func = click.option("--approvers", type=click.Path(), default=None, help="approvers YAML (who may decide what).")(func)
    func = click.option("--db", required=True, envvar="AGENTOPS_APPROVALS_DB",
                        help="SQLAlchemy URL of the approvals store (or $AGENTOPS_APPROVALS_DB).")(func)
    return func


@main.group()
def approvals():
    """The queue of actions awaiting a human: list, show, approve, reject, verify, export."""


@approvals.command("list")
@queue_options
@click.option("--agent", default=None)
@click.option("--action", default=None)
def approvals_list(db, approvers, agent, action):
    """Pending requests (oldest first)."""
    items = open_queue(db, approvers).pending(agent=agent, action=action)
    if not items:
        click.echo("no pending requests")
    for r in items:
        click.echo(f"{r.id}  {r.agent}  {r.action}  run={r.run_id}  by={r.requested_by}  "
                   f"expires={r.expires_at:%Y-%m-%d %H:%M}Z")


@approvals.command("show")
@queue_options
@click.argument("request_id")
@click.option("--as", "viewer", default=None, help="record this view in the audit log as this person")
def approvals_show(db, approvers, request_id, viewer):
    """One request: what will change (diff), sources, uncertainty, status."""
    import json as _json

    r = open_queue(db, approvers).get(request_id, viewer=viewer)
    click.echo(f"{r.action} for {r.agent} (run {r.run_id}) — {r.status}")
    click.echo(f"requested by {r.requested_by} at {r.requested_at:%Y-%m-%d %H:%M:%S}Z, expires {r.expires_at:%Y-%m-%d %H:%M:%S}Z")
    if r.decided_by:
        click.echo(f"decided by {r.decided_by} at {r.decided_at:%Y-%m-%d %H:%M:%S}Z: {r.decision_note or ''}")
    click.echo("changes:")
    for d in r.diff:
        click.echo(f"  {d['change']:>7}  {d['path']}: {_json.dumps(d['before'])} -> {_json.dumps(d['after'])}")
    click.echo("sources: " + (", ".join(f"{s.get('document_id')}@{s.get('version')}" for s in r.sources) or "none"))
    click.echo(f"uncertainty: {r.uncertainty or 'none stated'}")
    click.echo(f"params: {_json.dumps(r.params, sort_keys=True)}")


@approvals.command("approve")
@queue_options
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="who is approving")
@click.option("--note", default=None)
def approvals_approve(db, approvers, request_id, approver, note):
    """Approve a pending request."""
    r = open_queue(db, approvers).approve(request_id, approver=approver, note=note)
    click.echo(f"approved {r.id} ({r.action}) as {r.decided_by}")


@approvals.command("reject")
@queue_options
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="who is rejecting")
@click.option("--reason", required=True, help="why (required)")
def approvals_reject(db, approvers, request_id, approver, reason):
    """Reject a pending request, with a reason."""
    r = open_queue(db, approvers).reject(request_id, approver=approver, reason=reason)
    click.echo(f"rejected {r.id} ({r.action}) as {r.decided_by}: {reason}")


@approvals.command("verify")
@queue_options
def approvals_verify(db, approvers):
    """Check the audit log's hash chain; exit 1 and name the first bad row if it was tampered with."""
    result = open_queue(db, approvers).verify()
    click.echo(str(result))
    sys.exit(0 if result.ok else 1)


@approvals.command("export")
@queue_options
@click.argument("out_file", type=click.Path())
def approvals_export(db, approvers, out_file):
    """Write the audit log for auditors (CSV, or JSONL if OUT_FILE ends in .jsonl)."""
    path = open_queue(db, approvers).export_audit(out_file)
    click.echo(f"audit log written to {path}")
