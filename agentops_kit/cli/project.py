"""`sample` and `demo`: the bundled sample data and the main job run on it."""

from __future__ import annotations

from pathlib import Path

import click

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
    from ..report.notebook import sample_settings

    out = Path(out_dir)
    settings = sample_settings()  # the sample's settings: applied here, never as any command's defaults
    ts = load(settings["traces"], settings["mapping"], settings["pricing"], settings["labels"], None, progress=False)
    ts.write_parquet(out / "tables")
    click.echo(ts.summary_text())
    click.echo(f"canonical tables: {out / 'tables'}/")
    from ..inventory import score_inventory
    from ..inventory_store import save_scoring

    scored = score_inventory(settings["inventory"])
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
        paths = weekly_report(out / "reports", week, settings["traces"],
                              **{k: v for k, v in settings.items() if k not in ("traces", "inventory")},
                              approvals_db=f"sqlite:///{(out / 'agentops.db').resolve()}")
        for name, path in paths.items():
            click.echo(f"  {name}: {path}")
        click.echo("\n" + paths["digest"].read_text())
