"""`policy check | lint | test`: policy-as-code from a shell, with exit codes for CI."""

from __future__ import annotations

import sys

import click

from .app import (
    engine_options,
    main,
    make_engine,
    open_queue,
    print_frame,
    store_options,
    trace_options,
    traces_or_store,
)


@main.group()
def policy():
    """Policy-as-code: check traces against policies (exit 1 on violations), lint policies, run policy tests."""


@policy.command("check")
@click.argument("policies", nargs=-1, required=True, type=click.Path())
@click.option("--traces", "exports", multiple=True, help="trace exports or Parquet folder (repeatable)")
@store_options
@click.option("--approvals-db", default=None, help="approvals store URL: its decisions count as approval evidence")
@click.option("--format", "out_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="lint findings also make the check fail")
@trace_options
@engine_options
def policy_check(policies, exports, store, weeks, approvals_db, out_format, strict, mapping, pricing, labels, fmt,
                 engine, spark_master):
    """Evaluate every run of the agents the POLICIES name, from --traces or a trace store (--store, only the
    --weeks asked for). Exit 0 clean, 1 violations, 2 bad input."""
    import json as _json

    from ..analytics.policy_check import check_policy
    from ..analytics.policy_lint import lint_policy
    from ..scope import require_runs

    ts = traces_or_store(exports, store, weeks, mapping, pricing, labels, fmt, "policy check")
    require_runs(ts, what="policy check")
    decisions = open_queue(approvals_db, None, create=False).decisions() if approvals_db else None
    result = check_policy(ts, list(policies), approvals=decisions, engine=make_engine(engine, spark_master))
    findings = lint_policy(list(policies)) if strict else None
    if out_format == "json":
        payload = result.to_dict()
        if findings is not None:
            payload["lint"] = findings.to_dicts()
        click.echo(_json.dumps(payload, default=str, indent=2))
    else:
        click.echo(f"{result.runs_checked} runs checked, {result.violations.height} violations")
        if result.violations.height:
            print_frame(result.violations, "table")
        if findings is not None and findings.height:
            click.echo(f"{findings.height} lint findings (--strict):")
            print_frame(findings.drop("file"), "table")
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
