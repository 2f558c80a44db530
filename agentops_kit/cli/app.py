"""The ``agentops-kit`` group, its one error handler, and the options shared by the commands that read traces."""

from __future__ import annotations

import os
import sys

import click

from ..errors import AgentOpsError
from ..readers import registry
from ..version import __version__


def fail(exc: Exception | str, code: int = 2) -> None:
    """One line on stderr, never a traceback; exit 2 (bad input) unless the error says otherwise."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(getattr(exc, "exit_code", code))


class KitGroup(click.Group):
    """Turns every error the kit raises on purpose, a command line click cannot parse, and a file the system
    refuses (disk full, no permission) into one line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AgentOpsError as exc:
            fail(exc)
        except click.UsageError as exc:  # click's own would print usage and a hint over three lines
            where = exc.ctx.command_path if exc.ctx else ctx.command_path
            fail(f"{where}: {exc.format_message()} (see {where} --help)", exc.exit_code)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else exc)


@click.group(cls=KitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agentops-kit")
def main():
    """agentops-kit: the weekly review of AI agents in production, from the traces they export."""


def trace_options(func):
    """The options every command that reads traces takes, named as in load_traces."""
    func = click.option("--input-format", "fmt", default=None, type=click.Choice(registry.NAMES),
                        help="Force one reader for every file (default: detect each file's format).")(func)
    func = click.option("--labels", multiple=True, type=click.Path(), help="Labels CSV/JSONL keyed by run_id (repeatable).")(func)
    func = click.option("--pricing", type=click.Path(), default=None,
                        help="pricing.yaml (USD per million tokens); default: the bundled dated list.")(func)
    func = click.option("--mapping", type=click.Path(), default=None, help="mapping.yaml (outcome, workflow, mode, ...).")(func)
    return func


def engine_options(func):
    """--engine and --spark-master: where the analytics run (analytics/engine.py)."""
    func = click.option("--spark-master", default="local[*]", show_default=True,
                        help="Spark master URL for --engine spark (local[*], spark://host:7077, yarn, ...)")(func)
    func = click.option("--engine", type=click.Choice(["polars", "duckdb", "spark"]), default="polars",
                        show_default=True, help="where the analytics run: polars, DuckDB or Apache Spark "
                        "(pip install 'agentops-kit[spark]'); the numbers are the same")(func)
    return func


def make_engine(engine: str, spark_master: str):
    from ..analytics.engine import get_engine

    return get_engine(engine, spark_master=spark_master)


def load(exports, mapping, pricing, labels, fmt, progress=True):
    from ..load import load_traces

    # the bar only where someone watches: in a log or a pipe it would be lines of noise around an error
    return load_traces(list(exports), mapping=mapping, pricing=pricing, labels=list(labels) or None,
                       format=fmt, progress=progress and sys.stderr.isatty())


def load_for_analytics(exports, mapping, pricing, labels, fmt):
    """Exports, or a folder of canonical Parquet tables written by `ingest`."""
    return load(exports, mapping, pricing, labels, fmt, progress=False)


def store_options(func):
    """--store and --weeks: read a trace store (only the weeks asked for) instead of exports."""
    func = click.option("--weeks", default=None,
                        help="with --store: only these ISO weeks, e.g. 2026-W40..2026-W47 or 2026-W44,2026-W46 "
                             "(default: every week stored)")(func)
    func = click.option("--store", default=None, type=click.Path(),
                        help="a trace store (`agentops-kit ingest --into STORE`; a folder, or its s3:// URL) "
                             "instead of exports")(func)
    return func


def traces_or_store(exports, store, weeks, mapping, pricing, labels, fmt, what: str, before: int = 0,
                    weeks_held: bool = True):
    """The TraceSet of EXPORTS, or of the weeks asked for in --store (exactly one of the two), with the
    ``before`` weeks ahead of the first one (for a change from the previous week). ``weeks_held``: refuse
    --weeks of which the store holds none, naming those it holds (a command that looks for one run says
    better where that run is)."""
    from ..errors import UsageError

    if bool(exports) == (store is not None):
        raise UsageError(f"{what}: give either the traces (exports) or --store STORE, not both or neither")
    if store is None:
        if weeks is not None:
            raise UsageError(f"{what}: --weeks reads weeks of a store: give --store STORE")
        return load_for_analytics(exports, mapping, pricing, labels, fmt)
    given = [name for name, value in (("--mapping", mapping), ("--pricing", pricing), ("--labels", labels),
                                      ("--input-format", fmt)) if value]
    if given:
        raise UsageError(f"{what}: {', '.join(given)} cannot be used with --store: a store's runs were assembled "
                         "when they were ingested (give them to `agentops-kit ingest --into`)")
    from ..scope import NothingToShow
    from ..store import open_store, parse_weeks, store_weeks, trend_window

    if not weeks:
        return open_store(store)
    asked = parse_weeks(weeks)
    held = store_weeks(store) if weeks_held else asked
    if not set(asked) & set(held):  # else "no runs" would read as an empty export
        shown = asked[0] if len(asked) == 1 else f"{asked[0]} .. {asked[-1]}"
        holds = (held[0] if len(held) == 1 else f"{held[0]} .. {held[-1]}") if held else "none"
        raise NothingToShow(f"{what}: the store {store} holds no runs in {shown}; weeks with runs: {holds}")
    return open_store(store, weeks=sorted({*asked, *trend_window(store, min(asked), before + 1)[1]}))


def print_frame(frame, fmt: str, fit: bool = True) -> None:
    """``frame`` on stdout: JSON (non-ASCII escaped the JSON way), CSV, or a table wrapped to the terminal's
    width (``fit=False``: as wide as its values). Control characters in text never reach the terminal raw."""
    import json

    import polars as pl

    from .table import inert, render, terminal_width

    if fmt == "json":
        click.echo(json.dumps(json.loads(frame.write_json()), ensure_ascii=True))
    elif fmt == "csv":
        flat = frame.with_columns(pl.col(c).list.join("; ") for c, t in frame.schema.items() if isinstance(t, pl.List))
        click.echo(inert(flat).write_csv(), nl=False)
    else:
        click.echo(render(frame, terminal_width() if fit else None))


def open_queue(db, approvers=None, create=True):
    """The approvals store at ``db``; commands that only read pass ``create=False`` (a typo never makes a store)."""
    from ..approvals import ApprovalQueue

    return ApprovalQueue(db, approvers=approvers, create=create)
