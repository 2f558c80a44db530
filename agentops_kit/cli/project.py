"""`sample` and `demo`: the bundled sample data and the main job run on it."""

from __future__ import annotations

from pathlib import Path

import click

from ..resources import sample_dir as sample_dir_of_package
from ..resources import sample_inventory, templates_dir
from .app import load, main


@main.command()
@click.argument("out_dir", type=click.Path())
@click.option("--seed", default=7, show_default=True, help="Random seed; the same seed gives the same bytes.")
def sample(out_dir, seed):
    """Generate the sample OTLP/JSON export and labels into OUT_DIR."""
    from ..sample import write_sample

    for name, path in write_sample(out_dir, seed=seed).items():
        click.echo(f"{name}: {path}")


@main.command()
@click.option("--out", "out_dir", default="out/demo", show_default=True, type=click.Path())
@click.option("--no-report", is_flag=True, help="skip the weekly report (papermill)")
def demo(out_dir, no_report):
    """Run the main job on the bundled sample data: ingest it (canonical Parquet), score the inventory and
    queue approval requests in the embedded SQLite database, and write the weekly review report."""
    out = Path(out_dir)
    sample_dir, templates = sample_dir_of_package(), templates_dir()
    ts = load([sample_dir / "traces.otlp.jsonl.gz"], templates / "mapping.yaml",
              templates / "pricing.yaml", [sample_dir / "labels.csv"], None, progress=False)
    ts.write_parquet(out / "tables")
    click.echo(ts.summary_text())
    click.echo(f"canonical tables: {out / 'tables'}/")
    from ..inventory import score_inventory
    from ..inventory_store import save_scoring

    scored = score_inventory(sample_inventory())
    db = f"sqlite:///{out / 'agentops.db'}"
    save_scoring(scored, db, label="demo")
    from ..approvals import ApprovalQueue
    from ..approvals.demo import seed_from_traces

    queue = ApprovalQueue(db)
    seed_from_traces(queue, ts, count=3)
    click.echo(f"approvals queue: {len(queue.pending())} pending requests in {db} "
               f"(agentops-kit approvals list --db {db})")
    click.echo("\ninventory ranking (saved to " + db + "):")
    for row in scored.iter_rows(named=True):
        click.echo(f"  {row['rank']:>2}. {row['workflow']:<34} {row['tier']:<15} score {row['score']:5.1f}  "
                   f"{row['hours_per_week']:6.1f} h/week")
    if not no_report:
        from ..report.export import weekly_report
        from ..weeks import iso_week

        week = ts.runs.select(iso_week().max()).collect().item()
        click.echo(f"\nweekly review for {week} (papermill + nbconvert):")
        paths = weekly_report(out / "reports", week, [sample_dir / "traces.otlp.jsonl.gz"],
                              mapping=templates / "mapping.yaml", pricing=templates / "pricing.yaml",
                              labels=[sample_dir / "labels.csv", sample_dir / "quality_labels.csv"],
                              policies=templates / "policies", readiness_file=templates / "readiness.yaml",
                              error_budget_file=templates / "error_budget.yaml",
                              baselines=templates / "baselines.yaml", policy_tests=templates / "policy_tests",
                              quality_file=templates / "quality.yaml", approvals_db=f"sqlite:///{(out / 'agentops.db').resolve()}")
        for name, path in paths.items():
            click.echo(f"  {name}: {path}")
        click.echo("\n" + paths["digest"].read_text())
