"""`incident new | check`: a postmortem of one run that ends in a control change, and whether it is done."""

from __future__ import annotations

import sys

import click

from .app import main, open_queue, store_options, trace_options, traces_or_store


@main.group()
def incident():
    """Postmortems of agent incidents that end in a control change (a policy test and a policy diff)."""


@incident.command("new")
@click.option("--run", "run_id", required=True, help="the run id of the incident (as the run inspector shows it)")
@click.option("--traces", "exports", multiple=True, help="trace exports or Parquet folder (repeatable)")
@store_options
@click.option("--policy", "policies", type=click.Path(exists=True), default=None,
              help="the agent's policy file, or a folder of policies: violations, and the file the proposed change is for")
@click.option("--approvals-db", default=None, help="approvals store URL: its decisions for the run are listed too")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="folder for the postmortem and its files")
@click.option("--template", "template_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="your postmortem template (default: templates/postmortem.md); its last section must be the control change")
@click.option("--force", is_flag=True, help="replace a postmortem already in --out")
@trace_options
def incident_new(run_id, exports, store, weeks, policies, approvals_db, out_dir, template_file, force, mapping, pricing,
                 labels, fmt):
    """Write a postmortem of run --run into --out: postmortem.md prefilled from the traces (timeline, what it
    saw and called, cost, violations, approvals, labels), policy_tests/incident.yaml (the run as a policy test
    case that fails until a policy catches it) and policy.diff (the proposed policy change).

    The run is read from --traces, or from a trace store (--store STORE, only the --weeks asked for: the
    proposed change is measured against the agent's other runs in those weeks; its labels are those ingested)."""
    from ..incident import new_incident
    from ..incident.postmortem import check_inputs

    check_inputs(out_dir, force, template_file, policies)  # refused before the load, not after
    ts = traces_or_store(exports, store, weeks, mapping, pricing, labels, fmt, "incident new", weeks_held=False)
    decisions = open_queue(approvals_db, None, create=False).decisions() if approvals_db else None
    # a store's labels are the ones given to its ingests: "given", even when none names this run
    result = new_incident(ts, run_id, out_dir, policies=policies, approvals=decisions, force=force,
                          labels_given=bool(labels) or store is not None, template_file=template_file)
    click.echo(result.summary())


@incident.command("check")
@click.argument("directory", type=click.Path())
def incident_check(directory):
    """Exit 0 when the postmortem in DIRECTORY names its control change and the policy test generated from
    the incident run passes; exit 1 with one line saying what is missing."""
    from ..incident import check_incident

    result = check_incident(directory)
    click.echo(("PASS  " if result.ok else "FAIL  ") + result.message, err=not result.ok)
    sys.exit(0 if result.ok else 1)
