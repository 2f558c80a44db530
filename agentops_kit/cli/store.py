"""`store info | compact | prune`: look after a trace store made by `ingest --into`."""

from __future__ import annotations

import json

import click

from .app import main


@main.group()
def store():
    """Look after a trace store (made by `agentops-kit ingest EXPORTS --into STORE`): what it holds, merging
    small files, dropping old weeks."""


@store.command("info")
@click.argument("path", type=click.Path())
@click.option("--format", "out_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def store_info(path, out_format):
    """Weeks (with their runs), runs, steps, size, files ingested, rejected records and past prunes of the store
    (a folder, or its s3:// URL)."""
    from ..store.housekeeping import info, info_text

    facts = info(path)
    click.echo(json.dumps(facts, indent=2) if out_format == "json" else info_text(facts))


@store.command("compact")
@click.argument("path", type=click.Path())
def store_compact(path):
    """Merge the files of each week of each table into one (each ingest adds files), in one atomic commit."""
    from ..store.housekeeping import compact

    done = compact(path)
    if done["commit"] is None:
        click.echo(f"{path}: nothing to merge (every week is one file per table)")
    else:
        click.echo(f"{path}: commit {done['commit']}: {done['partitions_merged']} partitions merged from "
                   f"{done['files_before']} files")


@store.command("prune")
@click.argument("path", type=click.Path())
@click.option("--older-than", default=None, help="drop the weeks that ended longer ago than this, e.g. 90d or 13w")
@click.option("--policy", "policies", default=None, type=click.Path(exists=True),
              help="policy file or folder: keep what the longest logging.retention_days among them asks for")
def store_prune(path, older_than, policies):
    """Drop whole weeks older than --older-than (or the policies' retention_days) and record it in the store's
    history (`store info` shows it). Files already ingested stay in the manifest: ingesting them again does not
    bring the weeks back."""
    from ..errors import UsageError
    from ..store.housekeeping import parse_age, prune

    if (older_than is None) == (policies is None):
        raise UsageError("store prune: give either --older-than AGE or --policy POLICIES")
    if older_than is not None:
        age, reason = parse_age(older_than), f"--older-than {older_than}"
    else:
        import datetime as dt

        from ..analytics.policy import load_policies

        days = {p.name: p.logging.retention_days for p in load_policies(policies)}
        unset = sorted(agent for agent, d in days.items() if d is None)
        if unset:
            raise UsageError(f"store prune: {policies}: no logging.retention_days for {', '.join(unset)}: a week "
                             "is dropped only when every agent's retention allows it")
        longest = max(d for d in days.values() if d is not None)
        age, reason = dt.timedelta(days=longest), f"retention_days {longest} (the longest in {policies})"
    done = prune(path, age, reason)
    if done["commit"] is None:
        click.echo(f"{path}: no week ended before {done['cutoff']}: nothing dropped")
    else:
        click.echo(f"{path}: commit {done['commit']}: dropped {len(done['weeks'])} week(s) "
                   f"({', '.join(done['weeks'])}), {done['runs']} runs, ended before {done['cutoff']} ({reason})")
