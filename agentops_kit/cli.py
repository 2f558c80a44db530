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
    func = click.option("--format", "fmt", default=None,
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


@main.command()
@click.argument("out_dir", type=click.Path())
@click.option("--seed", default=7, show_default=True, help="Random seed; the same seed gives the same bytes.")
def sample(out_dir, seed):
    """Generate the sample OTLP/JSON export and labels into OUT_DIR."""
    from .sample import write_sample

    for name, path in write_sample(out_dir, seed=seed).items():
        click.echo(f"{name}: {path}")


@main.command()
@click.option("--out", "out_dir", default="out/demo", show_default=True, type=click.Path())
def demo(out_dir):
    """Run the main job on the bundled sample data: ingest it with the template mapping and pricing,
    and write the canonical tables under --out."""
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


if __name__ == "__main__":
    main()
