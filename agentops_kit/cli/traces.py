"""`ingest` and `metrics`: traces in, canonical tables or weekly metrics out."""

from __future__ import annotations

import sys

import click

from .app import (
    engine_options,
    load,
    main,
    make_engine,
    print_frame,
    store_options,
    trace_options,
    traces_or_store,
)


@main.command()
@click.argument("exports", nargs=-1, required=True)
@click.option("--out", "out_dir", default=None, type=click.Path(), help="Folder for the canonical Parquet tables.")
@click.option("--into", "store", default=None, type=click.Path(),
              help="A trace store to add the exports to (created if new): week partitions, one atomic commit; "
                   "files already ingested are skipped.")
@trace_options
@click.option("--engine", type=click.Choice(["polars", "spark"]), default="polars", show_default=True,
              help="with --into: decode the exports and assemble runs in this process (polars) or in Spark "
                   "executors (spark; the same store is written)")
@click.option("--spark-master", default="local[*]", show_default=True,
              help="Spark master URL for --engine spark (local[*], spark://host:7077, yarn, ...)")
def ingest(exports, out_dir, store, mapping, pricing, labels, fmt, engine, spark_master):
    """Read trace EXPORTS (files, folders, globs; any supported format) and write the canonical tables
    (runs, steps, sources, labels, rejected) into --out as one table set (Parquet files and a manifest,
    published at once), then print a summary.

    With --into STORE instead, add them to a trace store: Parquet partitioned by the ISO week of each run's
    start, a manifest of the files ingested (path, size, time, SHA-256), one atomic commit. Files already in the
    store change nothing; a file changed since it was ingested is reported (CHANGED) and not read again; late
    spans of a stored run assemble it again. Another ingest into the same store is waited for (said on stderr).
    With --engine spark the exports are decoded and the runs assembled in Spark executors (--spark-master)."""
    from ..errors import UsageError
    from ..scope import NothingToShow
    from ..tableset import check_target

    if (out_dir is None) == (store is None):
        raise UsageError("ingest: give either --out DIR (a table set) or --into STORE (a trace store)")
    if store is None and engine != "polars":
        raise UsageError("ingest: --engine spark writes a trace store: give --into STORE (a table set is written "
                         "with polars)")
    if store is not None:
        from ..store import ingest as ingest_into

        result = ingest_into(list(exports), into=store, mapping=mapping, pricing=pricing, labels=list(labels) or None,
                             format=fmt, progress=sys.stderr.isatty(), engine=engine, spark_master=spark_master)
        click.echo(result.text())
        return
    check_target(out_dir)  # an output that cannot take the tables is refused before the load, not after
    ts = load(exports, mapping, pricing, labels, fmt)
    click.echo(ts.summary_text())
    if not ts.summary()["runs"]:  # an empty set would replace the tables already there with nothing
        raise NothingToShow(f"the traces hold no runs (empty export, or every record was rejected: see above); "
                            f"nothing written to {out_dir}")
    ts.write_parquet(out_dir)
    click.echo(f"tables written to {out_dir}/ (manifest.json lists them)")


HEADLINE = ("runs", "completion_rate", "escalation_rate", "cost_per_successful_run", "customer_impact_errors")


@main.command()
@click.argument("exports", nargs=-1)
@store_options
@click.option("--by", default="agent,week", show_default=True,
              help="comma-separated: agent, workflow, mode, week, day, model")
@click.option("--baselines", type=click.Path(), default=None,
              help="human baselines YAML (templates/baselines.yaml) or the inventory CSV, for time saved")
@click.option("--quality", type=click.Path(), default=None,
              help="quality metrics YAML (templates/quality.yaml): label-based metrics with floors, as extra columns")
@click.option("--format", "out_format", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--all", "all_columns", is_flag=True,
              help="table: every column, as wide as it takes (csv and json always have every column)")
@trace_options
@engine_options
def metrics(exports, store, weeks, by, baselines, quality, out_format, all_columns, mapping, pricing, labels, fmt, engine,
            spark_master):
    """Weekly metrics of EXPORTS (trace files, or a table-set folder from `ingest`), or of a trace store
    (--store STORE, only the --weeks asked for). The table leads with the headline: runs, completion,
    escalation, cost per successful run, customer-impact errors."""
    import textwrap

    import polars as pl

    from ..analytics.metrics import weekly_metrics
    from ..scope import require_runs
    from .table import terminal_width

    groups = [b.strip() for b in by.split(",") if b.strip()]
    # the week before the first is read only for the change from it, which only a table by week shows
    ts = traces_or_store(exports, store, weeks, mapping, pricing, labels, fmt, "metrics",
                         before=1 if "week" in groups else 0)
    require_runs(ts, what="metrics")
    with pl.Config(engine_affinity="streaming"):  # bounded memory over a large store
        frame = weekly_metrics(ts, by=groups, baselines=baselines, quality=quality,
                               engine=make_engine(engine, spark_master))
    if weeks and "week" in groups:  # the week before the first was read for its change, not to be shown
        from ..store import parse_weeks

        frame = frame.filter(pl.col("week").is_in(parse_weeks(weeks)))
    if out_format != "table" or all_columns:
        print_frame(frame, out_format, fit=not all_columns)
        return
    quality_columns = []
    if quality is not None:  # asked for: the quality metrics lead too (their labelled/unknown counts: --all)
        from ..analytics.quality import load_quality

        quality_columns = [*(m.name for m in load_quality(quality).metrics), "cost_per_quality_success"]
    print_frame(frame.select(*groups, *HEADLINE, *quality_columns), "table")
    unknown = frame.filter(pl.col("cost_per_successful_run").is_null() & (pl.col("runs") > 0))
    if unknown.height:  # say why a number is missing, with how often
        no_success = unknown.filter(pl.col("successes") == 0).height
        unpriced = unknown.filter(pl.col("cost_unknown_runs") > 0)
        note = f"cost per successful run is – in {unknown.height} rows: " + "; ".join(part for part in (
            f"{no_success} without a successful run" if no_success else "",
            f"{unpriced.height} with runs of unknown cost ({unpriced['cost_unknown_runs'].sum()} runs; --all shows "
            "cost_known_per_successful_run, a lower bound)" if unpriced.height else "") if part)
        click.echo("\n" + textwrap.fill(note, terminal_width()))


@main.command()
@click.argument("exports", nargs=-1)
@store_options
@click.option("--format", "out_format", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@trace_options
def sessions(exports, store, weeks, out_format, mapping, pricing, labels, fmt):
    """Conversations of EXPORTS, or of a trace store (--store STORE, only the --weeks asked for)
    (gen_ai.conversation.id, session.id, Langfuse sessionId): runs, outcomes and cost per conversation,
    latest first. Cost is – when a run's cost is unknown (cost_known_usd: the known part)."""
    from ..analytics.sessions import runs_without_session
    from ..analytics.sessions import sessions as per_session
    from ..scope import require_runs

    ts = traces_or_store(exports, store, weeks, mapping, pricing, labels, fmt, "sessions")
    require_runs(ts, what="sessions")
    frame = per_session(ts)
    print_frame(frame, out_format)
    if out_format == "table":
        missing = runs_without_session(ts)
        click.echo(f"\n{frame.height} conversation(s); {missing} run(s) without a conversation id")
