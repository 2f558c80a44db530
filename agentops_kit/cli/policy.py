"""`policy check | lint | test`: policy-as-code from a shell, with exit codes for CI."""

from __future__ import annotations

import sys

import click

from .app import (
    engine_options,
    main,
    make_engine,
    print_frame,
    store_options,
    trace_options,
    traces_or_store,
)
from .approvals import KEY_FILE_HELP, echo, open_store


@main.group()
def policy():
    """Policy-as-code: check traces against policies (exit 1 on violations), lint policies, run policy tests."""


@policy.command("check")
@click.argument("policies", nargs=-1, required=True, type=click.Path())
@click.option("--traces", "exports", multiple=True, help="trace exports or Parquet folder (repeatable)")
@store_options
@click.option("--approvals-db", "--db", "approvals_db", default=None,
              help="approvals store URL: its decisions count as approval evidence (and --stop-on writes its stops there)")
@click.option("--format", "out_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="lint findings also make the check fail")
@click.option("--stop-on", type=click.Choice(["critical", "high", "medium", "low"]), default=None,
              help="stop (kill switch) every agent with a violation this severe or worse; needs --db and --as "
                   "(off by default)")
@click.option("--as", "actor", default=None, help="who the automatic stops are recorded as (with --stop-on)")
@click.option("--key-file", type=click.Path(), default=None, help=KEY_FILE_HELP)
@trace_options
@engine_options
def policy_check(policies, exports, store, weeks, approvals_db, out_format, strict, stop_on, actor, key_file,
                 mapping, pricing, labels, fmt, engine, spark_master):
    """Evaluate every run of the agents the POLICIES name, from --traces or a trace store (--store, only the
    --weeks asked for). Exit 0 clean, 1 violations, 2 bad input.

    With --stop-on SEVERITY, each agent with a violation that severe or worse is stopped in the approvals store
    (an audit row naming the rules and runs), and the output says so."""
    import json as _json

    from ..analytics.policy_check import check_policy
    from ..analytics.policy_lint import lint_policy
    from ..scope import require_runs

    if stop_on and (not approvals_db or not actor):
        raise click.UsageError("--stop-on needs --db URL (the approvals store) and --as NAME (who stops)")
    approvals = open_store(approvals_db, key_file) if approvals_db else None  # a bad URL fails before the traces load
    ts = traces_or_store(exports, store, weeks, mapping, pricing, labels, fmt, "policy check")
    require_runs(ts, what="policy check")
    decisions = approvals.decisions() if approvals is not None else None
    result = check_policy(ts, list(policies), approvals=decisions, engine=make_engine(engine, spark_master))
    findings = lint_policy(list(policies)) if strict else None
    stops = None
    if stop_on and approvals is not None:
        from ..approvals.auto_stop import apply_stops, violation_causes

        stops = apply_stops(approvals, violation_causes(result.violations, stop_on), actor)
    if out_format == "json":
        payload = result.to_dict()
        if findings is not None:
            payload["lint"] = findings.to_dicts()
        if stops is not None:
            payload["stops"] = stops.to_dicts()
        click.echo(_json.dumps(payload, default=str, indent=2))
    else:
        click.echo(f"{result.runs_checked} runs checked, {result.violations.height} violations")
        if result.violations.height:
            print_frame(result.violations, "table")
        if findings is not None and findings.height:
            click.echo(f"{findings.height} lint findings (--strict):")
            print_frame(findings.drop("file"), "table")
        if stops is not None:
            echo(f"automatic stops (--stop-on {stop_on}):" + ("" if stops.stopped else f" none (no violation at {stop_on} or above)"))
            for line in stops.lines():
                echo(f"  {line}")
    failed = not result.ok or (findings is not None and findings.height > 0)
    sys.exit(1 if failed else 0)


@policy.command("lint")
@click.argument("policies", nargs=-1, required=True, type=click.Path())
@click.option("--format", "out_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policy_lint(policies, out_format):
    """Findings about the policies themselves (risky combinations, missing caps). Exit 1 when there are any."""
    from ..analytics.policy_lint import lint_policy

    findings = lint_policy(list(policies))
    if out_format == "json":
        print_frame(findings, "json")
    elif findings.height:
        print_frame(findings.drop("file"), "table")
    else:
        click.echo("no findings")
    sys.exit(1 if findings.height else 0)


@policy.command("test")
@click.argument("tests", nargs=-1, required=True, type=click.Path())
def policy_test(tests):
    """Run policy test cases (YAML runs with expected verdicts). Exit 1 when any fails."""
    from ..analytics.policy_tests import run_policy_tests

    results = run_policy_tests(list(tests))
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        click.echo(f"{mark}  {r.name}" + ("" if r.passed else f"\n      expected {r.expected}, got {r.got}"))
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
