"""Labels: facts learned after a run (customer impact, the human decision in shadow mode, ...).

A labels file is CSV or JSONL keyed by ``run_id``. Long form has ``run_id, name, value[, source]``;
wide form has ``run_id`` and one column per label. Values are kept as text.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .errors import ConfigError
from .model import LABELS_SCHEMA

TRUTHY = ["true", "1", "yes", "y", "t"]  # label values read as true (compared lower-cased and stripped)


def load_labels(path: str | Path) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "labels file not found")
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            frame = pl.read_ndjson(path, infer_schema_length=None)
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # polars raises several error types for unreadable files
        raise ConfigError(str(path), f"cannot be read as {'JSONL' if path.suffix.lower() != '.csv' else 'CSV'}: {exc}") from None
    if "run_id" not in frame.columns:
        raise ConfigError(str(path), "a labels file needs a 'run_id' column", key="run_id", line=1)
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
    if {"name", "value"} <= set(frame.columns):
        long = frame.with_columns(
            (pl.col("source") if "source" in frame.columns else pl.lit(None, pl.String))
            .fill_null(path.name).alias("source")
        )
    else:
        long = frame.unpivot(index="run_id", variable_name="name", value_name="value").with_columns(
            pl.lit(path.name).alias("source")
        )
    missing = long.filter(pl.col("run_id").is_null() | (pl.col("run_id") == ""))
    if missing.height:
        raise ConfigError(str(path), "a row has an empty run_id", key="run_id")
    return long.filter(pl.col("value").is_not_null() & (pl.col("value") != "")).select(list(LABELS_SCHEMA))
