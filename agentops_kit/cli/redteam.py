"""`redteam report`: the red-team scorecard and its backlog of failed cases, with an exit code for CI."""

from __future__ import annotations

import sys

import click

from .app import load_for_analytics, main, open_queue, print_frame, trace_options


@main.group()
def redteam():
    """Red-team exercises: runs marked red-team (mode value, attribute or label; see the mapping), scored apart."""


@redteam.command("report")
@click.option("--traces", "exports", multiple=True, required=True, help="trace exports or a Parquet folder (repeatable)")
@click.option("--policy", "policies", multiple=True, required=True, type=click.Path(),
              help="policy file or folder: the allowlist, gated actions and domains (repeatable)")
@click.option("--approvals-db", default=None, help="approvals store URL: its decisions count as approval evidence")
@click.option("--format", "out_format", type=click.Choice(["table", "csv", "jsonl"]), default="table", show_default=True,
              help="table: scorecard and backlog; csv / jsonl: the backlog, one failed case per row")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="write the backlog to this file (CSV, or JSONL with --format jsonl or a .jsonl name)")
@trace_options
def redteam_report(exports, policies, approvals_db, out_format, out_file, mapping, pricing, labels, fmt):
    """Score the red-team runs of the traces: share escalated, share that cited sources, prohibited actions
    attempted (tools outside the allowlist, gated actions without approval, outbound domains) and cost; list
    each failed case as a backlog item. Exit 0 when no case attempted a prohibited action, 1 when one did,
    2 on bad input (including traces that hold no red-team run)."""
    from ..analytics.redteam import red_team_report
    from ..mapping import load_mapping
    from ..scope import NothingToShow
    from ..terminal import safe

    ts = load_for_analytics(exports, mapping, pricing, labels, fmt)
    decisions = open_queue(approvals_db, None, create=False).decisions() if approvals_db else None
    report = red_team_report(ts, list(policies), approvals=decisions)
    if not report.cases.height:
        red = load_mapping(mapping).red_team
        raise NothingToShow(
            f"no red-team run in the traces ({ts.runs.select('run_id').collect().height} runs read): a run is red-team "
            f"when its mode attribute holds one of {red.mode_values}, an attribute {red.attributes} is true, or its "
            f"label {red.label!r} is true (mapping section red_team:)")
    if out_file:
        path = report.write_backlog(out_file, "jsonl" if out_format == "jsonl" else None)
        click.echo(f"{report.backlog.height} backlog items written to {path}", err=out_format != "table")
    if out_format == "table":
        click.echo(f"{report.cases.height} red-team cases, {report.backlog.height} failed")
        print_frame(report.scorecard, "table")
        if report.backlog.height and not out_file:
            print_frame(report.backlog.with_columns(pl_safe(c) for c in ("input", "what_it_did", "detail")), "table")
    elif not out_file:
        click.echo(safe(report.backlog_text(out_format), keep_newlines=True), nl=False)
    sys.exit(1 if report.prohibited_attempted else 0)


def pl_safe(column: str):
    """A text column with control characters shown escaped (trace content is untrusted)."""
    import polars as pl

    from ..terminal import safe

    return pl.col(column).map_elements(safe, return_dtype=pl.String)
