"""The ``agentops-kit`` command. Each subcommand calls the same library functions as the notebooks."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import AgentOpsError

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SAMPLE = REPO_ROOT / "data" / "sample"
TEMPLATES = REPO_ROOT / "templates"


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def trace_options(func):
    """The options every command that reads traces takes, named as in load_traces."""
    func = click.option("--input-format", "fmt", default=None,
                        help="Force a reader: otlp, otel_sdk, langfuse, langsmith, tau_bench, canonical.")(func)
    func = click.option("--labels", multiple=True, type=click.Path(), help="Labels CSV/JSONL keyed by run_id (repeatable).")(func)
    func = click.option("--pricing", type=click.Path(), default=None, help="pricing.yaml (USD per million tokens).")(func)
    func = click.option("--mapping", type=click.Path(), default=None, help="mapping.yaml (outcome, workflow, mode, ...).")(func)
    return func


def load(exports, mapping, pricing, labels, fmt, progress=True):
    from .load import load_traces

    return load_traces(list(exports), mapping=mapping, pricing=pricing, labels=list(labels) or None,
                       format=fmt, progress=progress)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="agentops-kit")
def main():
    """agentops-kit: the weekly review of AI agents in production, from the traces they export."""


@main.command()
@click.argument("exports", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for the canonical Parquet tables.")
@trace_options
def ingest(exports, out_dir, mapping, pricing, labels, fmt):
    """Read trace EXPORTS (files, folders, globs; any supported format) and write the canonical tables
    (runs, steps, sources, labels, rejected) as Parquet into --out, then print a summary."""
    try:
        ts = load(exports, mapping, pricing, labels, fmt)
        ts.write_parquet(out_dir)
    except AgentOpsError as exc:
        _fail(exc)
    click.echo(ts.summary_text())
    click.echo(f"tables written to {out_dir}/")


def _print_frame(frame, fmt: str) -> None:
    import polars as pl

    if fmt == "json":
        click.echo(frame.write_json())
    elif fmt == "csv":
        flat = frame.with_columns(pl.col(c).list.join("; ") for c, t in frame.schema.items() if isinstance(t, pl.List))
        click.echo(flat.write_csv(), nl=False)
    else:
        with pl.Config(tbl_rows=-1, tbl_width_chars=200, fmt_str_lengths=120, fmt_table_cell_list_len=8,
                       tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
            click.echo(frame)


@main.group()
def inventory():
    """Score a workflow inventory: which processes to hand to agents first, and why."""


@inventory.command("score")
@click.argument("inventory_file", type=click.Path())
@click.option("--weights", type=click.Path(), default=None, help="weights YAML (see templates/inventory_weights.yaml).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--save", "save_url", default=None, help="SQLAlchemy URL to store this scoring in, e.g. sqlite:///inventory.db")
@click.option("--label", default=None, help="a name for the saved scoring, e.g. 2026-Q4")
def inventory_score(inventory_file, weights, fmt, save_url, label):
    """Rank INVENTORY_FILE (CSV or YAML) by score, with tier and reasons."""
    from .inventory import load_weights, score_inventory
    from .inventory_store import save_scoring

    try:
        scored = score_inventory(inventory_file, weights=weights)
        if save_url:
            scoring_id = save_scoring(scored, save_url, label=label, weights=load_weights(weights).model_dump())
    except AgentOpsError as exc:
        _fail(exc)
    columns = ["rank", "workflow", "tier", "score", "hours_per_week", "reasons"]
    _print_frame(scored if fmt != "table" else scored.select(columns), fmt)
    if save_url:
        click.echo(f"saved scoring {scoring_id} to {save_url}", err=True)


def _load_for_analytics(exports, mapping, pricing, labels, fmt):
    """Exports, or a folder of canonical Parquet tables written by `ingest`."""
    return load(exports, mapping, pricing, labels, fmt, progress=False)


@main.command()
@click.argument("exports", nargs=-1, required=True)
@click.option("--by", default="agent,week", show_default=True,
              help="comma-separated: agent, workflow, mode, week, day, model")
@click.option("--baselines", type=click.Path(), default=None,
              help="human baselines YAML (templates/baselines.yaml) or the inventory CSV, for time saved")
@click.option("--format", "out_format", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@trace_options
def metrics(exports, by, baselines, out_format, mapping, pricing, labels, fmt):
    """Weekly metrics of EXPORTS (trace files, or a folder of Parquet tables from `ingest`)."""
    from .analytics.metrics import weekly_metrics

    try:
        ts = _load_for_analytics(exports, mapping, pricing, labels, fmt)
        frame = weekly_metrics(ts, by=[b.strip() for b in by.split(",") if b.strip()], baselines=baselines)
    except (AgentOpsError, ValueError) as exc:
        _fail(exc)
    _print_frame(frame, out_format)


@main.group()
def policy():
    """Policy-as-code: check traces against policies (exit 1 on violations), lint policies, run policy tests."""


@policy.command("check")
@click.argument("policies", nargs=-1, required=True, type=click.Path())
@click.option("--traces", "exports", multiple=True, required=True, help="trace exports or Parquet folder (repeatable)")
@click.option("--approvals-db", default=None, help="approvals store URL: its decisions count as approval evidence")
@click.option("--format", "out_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="lint findings also make the check fail")
@trace_options
def policy_check(policies, exports, approvals_db, out_format, strict, mapping, pricing, labels, fmt):
    """Evaluate every run of the agents the POLICIES name. Exit 0 clean, 1 violations, 2 bad input."""
    import json as _json

    from .analytics.policy_check import check_policy
    from .analytics.policy_lint import lint_policy

    try:
        ts = _load_for_analytics(exports, mapping, pricing, labels, fmt)
        decisions = _queue(approvals_db, None).decisions() if approvals_db else None
        result = check_policy(ts, list(policies), approvals=decisions)
        findings = lint_policy(list(policies)) if strict else None
    except AgentOpsError as exc:
        _fail(exc)
    if out_format == "json":
        payload = result.to_dict()
        if findings is not None:
            payload["lint"] = findings.to_dicts()
        click.echo(_json.dumps(payload, default=str, indent=2))
    else:
        click.echo(f"{result.runs_checked} runs checked, {result.violations.height} violations")
        if result.violations.height:
            _print_frame(result.violations, "table")
        if findings is not None and findings.height:
            click.echo(f"{findings.height} lint findings (--strict):")
            _print_frame(findings.drop("file"), "table")
    failed = not result.ok or (findings is not None and findings.height > 0)
    sys.exit(1 if failed else 0)


@policy.command("lint")
@click.argument("policies", nargs=-1, required=True, type=click.Path())
@click.option("--format", "out_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policy_lint(policies, out_format):
    """Findings about the policies themselves (risky combinations, missing caps). Exit 1 when there are any."""
    from .analytics.policy_lint import lint_policy

    try:
        findings = lint_policy(list(policies))
    except AgentOpsError as exc:
        _fail(exc)
    if out_format == "json":
        click.echo(findings.write_json())
    elif findings.height:
        _print_frame(findings.drop("file"), "table")
    else:
        click.echo("no findings")
    sys.exit(1 if findings.height else 0)


@policy.command("test")
@click.argument("tests", nargs=-1, required=True, type=click.Path())
def policy_test(tests):
    """Run policy test cases (YAML runs with expected verdicts). Exit 1 when any fails."""
    from .analytics.policy_tests import run_policy_tests

    try:
        results = run_policy_tests(list(tests))
    except AgentOpsError as exc:
        _fail(exc)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        click.echo(f"{mark}  {r.name}" + ("" if r.passed else f"\n      expected {r.expected}, got {r.got}"))
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def _last_week() -> str:
    import datetime as dt

    iso = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(weeks=1)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


@main.group()
def report():
    """Scheduled reports: the weekly review as one self-contained HTML file (plus digest and PNG)."""


@report.command("weekly")
@click.option("--traces", "exports", multiple=True, required=True, help="trace exports or a Parquet folder (repeatable)")
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
@click.option("--weeks-back", default=8, show_default=True)
@click.option("--notebook", type=click.Path(exists=True), default=None, help="another weekly_review.ipynb")
def report_weekly(exports, week, out_dir, mapping, pricing, labels, policies, readiness_file, error_budget_file,
                  baselines, policy_tests, agents, weeks_back, notebook):
    """Execute notebooks/weekly_review.ipynb with papermill and write weekly-<WEEK>.html (offline, code
    hidden), .ipynb (for debugging), .md (digest) and .png (headline chart) into --out."""
    from .report.export import weekly_report

    week = week or _last_week()
    try:
        paths = weekly_report(out_dir, week, list(exports), notebook=notebook, mapping=mapping, pricing=pricing,
                              labels=list(labels) or None, policies=policies, readiness_file=readiness_file,
                              error_budget_file=error_budget_file, baselines=baselines, policy_tests=policy_tests,
                              agents=list(agents) or None, weeks_back=weeks_back)
    except AgentOpsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


def _queue(db, approvers):
    from .approvals import ApprovalQueue

    return ApprovalQueue(db, approvers=approvers)


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
    try:
        items = _queue(db, approvers).pending(agent=agent, action=action)
    except AgentOpsError as exc:
        _fail(exc)
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

    try:
        r = _queue(db, approvers).get(request_id, viewer=viewer)
    except AgentOpsError as exc:
        _fail(exc)
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
    try:
        r = _queue(db, approvers).approve(request_id, approver=approver, note=note)
    except AgentOpsError as exc:
        _fail(exc)
    click.echo(f"approved {r.id} ({r.action}) as {r.decided_by}")


@approvals.command("reject")
@queue_options
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="who is rejecting")
@click.option("--reason", required=True, help="why (required)")
def approvals_reject(db, approvers, request_id, approver, reason):
    """Reject a pending request, with a reason."""
    try:
        r = _queue(db, approvers).reject(request_id, approver=approver, reason=reason)
    except AgentOpsError as exc:
        _fail(exc)
    click.echo(f"rejected {r.id} ({r.action}) as {r.decided_by}: {reason}")


@approvals.command("verify")
@queue_options
def approvals_verify(db, approvers):
    """Check the audit log's hash chain; exit 1 and name the first bad row if it was tampered with."""
    try:
        result = _queue(db, approvers).verify()
    except AgentOpsError as exc:
        _fail(exc)
    click.echo(str(result))
    sys.exit(0 if result.ok else 1)


@approvals.command("export")
@queue_options
@click.argument("out_file", type=click.Path())
def approvals_export(db, approvers, out_file):
    """Write the audit log for auditors (CSV, or JSONL if OUT_FILE ends in .jsonl)."""
    try:
        path = _queue(db, approvers).export_audit(out_file)
    except AgentOpsError as exc:
        _fail(exc)
    click.echo(f"audit log written to {path}")


@main.command()
@click.argument("out_dir", type=click.Path())
@click.option("--seed", default=7, show_default=True, help="Random seed; the same seed gives the same bytes.")
def sample(out_dir, seed):
    """Generate the sample OTLP/JSON export and labels into OUT_DIR."""
    from .sample import write_sample

    for name, path in write_sample(out_dir, seed=seed).items():
        click.echo(f"{name}: {path}")


def pl_last_week():
    from .analytics.common import iso_week

    return iso_week().max()


@main.command()
@click.option("--out", "out_dir", default="out/demo", show_default=True, type=click.Path())
@click.option("--no-report", is_flag=True, help="skip the weekly report (papermill)")
def demo(out_dir, no_report):
    """Run the main job on the bundled sample data: ingest it (canonical Parquet), score the inventory and
    queue approval requests in the embedded SQLite database, and write the weekly review report."""
    out = Path(out_dir)
    sample_dir = BUNDLED_SAMPLE
    if not (sample_dir / "traces.otlp.jsonl.gz").exists():  # installed without the repository's data/
        from .sample import write_sample

        sample_dir = out / "sample"
        write_sample(sample_dir)
    try:
        ts = load([sample_dir / "traces.otlp.jsonl.gz"], TEMPLATES / "mapping.yaml",
                  TEMPLATES / "pricing.yaml", [sample_dir / "labels.csv"], None, progress=False)
        ts.write_parquet(out / "tables")
    except AgentOpsError as exc:
        _fail(exc)
    click.echo(ts.summary_text())
    click.echo(f"canonical tables: {out / 'tables'}/")
    from .inventory import score_inventory
    from .inventory_store import save_scoring

    scored = score_inventory(REPO_ROOT / "data" / "inventory.csv" if (REPO_ROOT / "data" / "inventory.csv").exists()
                             else TEMPLATES / "inventory.csv")
    db = f"sqlite:///{out / 'agentops.db'}"
    save_scoring(scored, db, label="demo")
    from .approvals import ApprovalQueue
    from .approvals.demo import seed_from_traces

    queue = ApprovalQueue(db)
    seed_from_traces(queue, ts, count=3)
    click.echo(f"approvals queue: {len(queue.pending())} pending requests in {db} "
               f"(agentops-kit approvals list --db {db})")
    click.echo("\ninventory ranking (saved to " + db + "):")
    for row in scored.iter_rows(named=True):
        click.echo(f"  {row['rank']:>2}. {row['workflow']:<34} {row['tier']:<15} score {row['score']:5.1f}  "
                   f"{row['hours_per_week']:6.1f} h/week")
    if not no_report:
        from .report.export import weekly_report

        week = ts.runs.select(pl_last_week()).collect().item()
        click.echo(f"\nweekly review for {week} (papermill + nbconvert):")
        try:
            paths = weekly_report(out / "reports", week, [sample_dir / "traces.otlp.jsonl.gz"],
                                  mapping=TEMPLATES / "mapping.yaml", pricing=TEMPLATES / "pricing.yaml",
                                  labels=[sample_dir / "labels.csv"], policies=TEMPLATES / "policies",
                                  readiness_file=TEMPLATES / "readiness.yaml",
                                  error_budget_file=TEMPLATES / "error_budget.yaml",
                                  baselines=TEMPLATES / "baselines.yaml", policy_tests=TEMPLATES / "policy_tests")
        except AgentOpsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        for name, path in paths.items():
            click.echo(f"  {name}: {path}")
        click.echo("\n" + paths["digest"].read_text())


if __name__ == "__main__":
    main()
