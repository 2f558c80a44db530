"""`report weekly`: the weekly review as one offline HTML file, a digest and a PNG."""

from __future__ import annotations

import click

from .app import engine_options, main


@main.group()
def report():
    """Scheduled reports: the weekly review as one self-contained HTML file (plus digest and PNG)."""


@report.command("weekly")
@click.option("--traces", "exports", multiple=True, help="trace exports or a Parquet folder (repeatable)")
@click.option("--store", default=None,
              help="a trace store (a folder, or its s3:// URL) instead of --traces: only the weeks of the trend "
                   "window are read")
@click.option("--week", default=None, help="ISO week, e.g. 2026-W47 (default: last week)")
@click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path())
@click.option("--mapping", type=click.Path(exists=True), default=None)
@click.option("--pricing", type=click.Path(exists=True), default=None)
@click.option("--labels", multiple=True, type=click.Path(exists=True))
@click.option("--policy", "policies", type=click.Path(exists=True), default=None, help="policy file or folder")
@click.option("--readiness", "readiness_file", type=click.Path(exists=True), default=None)
@click.option("--error-budget", "error_budget_file", type=click.Path(exists=True), default=None)
@click.option("--baselines", type=click.Path(exists=True), default=None)
@click.option("--policy-tests", type=click.Path(exists=True), default=None)
@click.option("--agent", "agents", multiple=True, help="only these agents (repeatable)")
@click.option("--weeks-back", default=8, show_default=True, type=click.IntRange(min=1), help="weeks of trend")
@click.option("--notebook", type=click.Path(exists=True), default=None, help="another weekly_review.ipynb")
@click.option("--quality", "quality_file", type=click.Path(exists=True), default=None, help="quality metrics YAML (floors)")
@click.option("--approvals-db", "--db", "approvals_db", default=None,
              help="approvals store URL: evidence for removing approval gates (and where --stop-on-breach stops)")
@click.option("--stop-on-breach", is_flag=True, help="stop (kill switch) every agent whose error budget is breached "
              "or that has a critical policy violation this week; needs --approvals-db and --as (off by default)")
@click.option("--as", "stop_as", default=None, help="who the automatic stops are recorded as (with --stop-on-breach)")
@click.option("--key-file", type=click.Path(), default=None,
              help="the approvals store's audit key (with --stop-on-breach on a keyed store; default: "
                   "$AGENTOPS_AUDIT_KEY or $AGENTOPS_AUDIT_KEY_FILE)")
@engine_options
def report_weekly(exports, store, week, out_dir, mapping, pricing, labels, policies, readiness_file, error_budget_file,
                  baselines, policy_tests, agents, weeks_back, notebook, quality_file, approvals_db, stop_on_breach,
                  stop_as, key_file, engine, spark_master):
    """Execute the weekly_review notebook with papermill and write weekly-<WEEK>.html (offline, code
    hidden), .ipynb (for debugging), .md (digest) and .png (headline chart) into --out.

    Only the inputs given are used: without --labels there are no labels, without --policy no policy
    section, and so on (the report's Inputs section lists each file with its SHA-256, or "none given").
    Relative paths and globs resolve from the current directory. The traces are checked first: no runs,
    a week without runs or an unknown --agent is one line naming the weeks and agents they hold (exit 2).

    With --store (made by `ingest --into`) the report reads only the --weeks-back weeks ending with --week.

    With --stop-on-breach the agents in breach are stopped in the approvals store (one audit row each, naming
    the rule and the runs) and the digest and the page list the stops. The audit key comes from
    --key-file, else $AGENTOPS_AUDIT_KEY or $AGENTOPS_AUDIT_KEY_FILE."""
    from ..report.export import weekly_report

    paths = weekly_report(out_dir, week, list(exports), store=store, notebook=notebook, mapping=mapping, pricing=pricing,
                          labels=list(labels) or None, policies=policies, readiness_file=readiness_file,
                          error_budget_file=error_budget_file, baselines=baselines, policy_tests=policy_tests,
                          agents=list(agents) or None, weeks_back=weeks_back, quality_file=quality_file,
                          approvals_db=approvals_db, stop_on_breach=stop_on_breach or None, stop_as=stop_as,
                          key_file=key_file,
                          # the notebook's defaults are polars: a notebook of one's own needs no engine parameter
                          **({} if engine == "polars" else {"engine": engine, "spark_master": spark_master}))
    for name, path in paths.items():
        click.echo(f"{name}: {path}")
