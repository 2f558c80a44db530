"""`inventory score`: which processes to hand to agents first, and why."""

from __future__ import annotations

import click

from .app import main, print_frame


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
    from ..inventory import load_weights, score_inventory
    from ..inventory_store import save_scoring

    scored = score_inventory(inventory_file, weights=weights)
    if save_url:
        scoring_id = save_scoring(scored, save_url, label=label, weights=load_weights(weights).model_dump())
    columns = ["rank", "workflow", "tier", "score", "hours_per_week", "reasons"]
    print_frame(scored if fmt != "table" else scored.select(columns), fmt)
    if save_url:
        click.echo(f"saved scoring {scoring_id} to {save_url}", err=True)
