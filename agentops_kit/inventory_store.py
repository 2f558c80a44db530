"""Saved inventory scorings (SQLite by default, any SQLAlchemy URL), to compare the ranking between quarters.

Each ``save_scoring`` writes one scoring and all its rows in a single transaction: a failure leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator

import polars as pl
import sqlalchemy as sa

from .errors import AgentOpsError

META = sa.MetaData()
SCORINGS = sa.Table(
    "inventory_scorings", META,
    sa.Column("scoring_id", sa.String(36), primary_key=True),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("label", sa.String(200)),
    sa.Column("weights", sa.Text, nullable=False),
)
ROWS = sa.Table(
    "inventory_scores", META,
    sa.Column("scoring_id", sa.String(36), sa.ForeignKey("inventory_scorings.scoring_id"), primary_key=True),
    sa.Column("workflow", sa.String(300), primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("hours_per_week", sa.Float, nullable=False),
    sa.Column("row", sa.Text, nullable=False),  # the whole scored row as JSON
)


class InventoryStoreError(AgentOpsError):
    """The store cannot be opened or written: a URL that is not one, a missing driver, a database that
    refuses. Names the store (password hidden) and the reason, never the SQL or its parameters."""


def _shown(url) -> str:
    if isinstance(url, sa.Engine):
        url = url.url
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return str(url)


@contextlib.contextmanager
def _store_errors(url) -> Iterator[None]:
    try:
        yield
    except sa.exc.NoSuchModuleError:
        raise InventoryStoreError(f"inventory store {_shown(url)}: unknown database kind; write e.g. "
                                  "sqlite:///inventory.db or postgresql+psycopg://user@host/db") from None
    except sa.exc.ArgumentError as exc:
        raise InventoryStoreError(f"inventory store {_shown(url)!r}: not a database URL ({exc}); write e.g. "
                                  "sqlite:///inventory.db or postgresql+psycopg://user@host/db") from None
    except ImportError as exc:
        raise InventoryStoreError(f"inventory store {_shown(url)}: its database driver is not installed "
                                  f"({exc.name or exc})") from None
    except sa.exc.DBAPIError as exc:  # the driver's own message, without the statement SQLAlchemy appends
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise InventoryStoreError(f"inventory store {_shown(url)}: {reason}") from None


def _engine(url: str | sa.Engine) -> sa.Engine:
    with _store_errors(url):
        engine = url if isinstance(url, sa.Engine) else sa.create_engine(url)
        META.create_all(engine)
    return engine


def save_scoring(scored: pl.DataFrame, url: str | sa.Engine = "sqlite:///inventory.db", label: str | None = None,
                 weights: dict | None = None, scored_at: dt.datetime | None = None) -> str:
    """Store a scoring; returns its id."""
    engine = _engine(url)
    scoring_id = str(uuid.uuid4())
    when = scored_at or dt.datetime.now(dt.timezone.utc)
    rows = [
        {"scoring_id": scoring_id, "workflow": r["workflow"], "rank": r["rank"], "tier": r["tier"],
         "score": r["score"], "hours_per_week": r["hours_per_week"], "row": json.dumps(r, default=str)}
        for r in scored.iter_rows(named=True)
    ]
    with _store_errors(url), engine.begin() as conn:
        conn.execute(SCORINGS.insert(), {"scoring_id": scoring_id, "scored_at": when, "label": label,
                                         "weights": json.dumps(weights or {})})
        conn.execute(ROWS.insert(), rows)
    return scoring_id


def scoring_history(url: str | sa.Engine = "sqlite:///inventory.db") -> pl.DataFrame:
    """Every saved row with its scoring's id, time and label, oldest first."""
    engine = _engine(url)
    query = (sa.select(SCORINGS.c.scoring_id, SCORINGS.c.scored_at, SCORINGS.c.label, ROWS.c.workflow, ROWS.c.rank,
                       ROWS.c.tier, ROWS.c.score, ROWS.c.hours_per_week)
             .join(ROWS, ROWS.c.scoring_id == SCORINGS.c.scoring_id)
             .order_by(SCORINGS.c.scored_at, ROWS.c.rank))
    with _store_errors(url), engine.connect() as conn:
        result = conn.execute(query)
        frame = pl.DataFrame([tuple(r) for r in result], schema=list(result.keys()), orient="row",
                             infer_schema_length=None)
    scored_at = frame["scored_at"].dtype if frame.height else None
    if isinstance(scored_at, pl.Datetime) and scored_at.time_zone is None:  # SQLite drops the zone; it was UTC
        frame = frame.with_columns(pl.col("scored_at").dt.replace_time_zone("UTC"))
    return frame


def compare_scorings(url: str | sa.Engine, before: str, after: str) -> pl.DataFrame:
    """Per workflow: score, rank and tier in two saved scorings, and how they moved."""
    hist = scoring_history(url)
    a = hist.filter(pl.col("scoring_id") == before).select("workflow", *[pl.col(c).alias(f"{c}_before") for c in ("rank", "tier", "score")])
    b = hist.filter(pl.col("scoring_id") == after).select("workflow", *[pl.col(c).alias(f"{c}_after") for c in ("rank", "tier", "score")])
    return a.join(b, on="workflow", how="full", coalesce=True).with_columns(
        (pl.col("score_after") - pl.col("score_before")).round(2).alias("score_change"),
        (pl.col("rank_before") - pl.col("rank_after")).alias("rank_gain"),
        (pl.col("tier_before") != pl.col("tier_after")).alias("tier_changed"),
    ).sort("rank_after", nulls_last=True)
