"""Labels: facts learned after a run (customer impact, the human decision in shadow mode, a reward score).

A labels file is CSV or JSONL keyed by ``run_id``. Long form has ``run_id, name, value[, source]``;
wide form has ``run_id`` and one column per label (an empty cell is no label). Values are kept as text.

The rules, in this one module, that the metrics, the error budget, the impact list, the report and the
widgets all use:

- **Run ids** match when equal after surrounding whitespace is removed. Hex trace ids (16 or 32 hex digits,
  as OpenTelemetry, W3C and B3 write them) and UUIDs are compared case-insensitively, as their formats
  define them; any other id must be equal exactly.
- **True / false**: ``true, t, yes, y, on`` or a number equal to 1 (``1``, ``1.0``, ``1e0``) are true;
  ``false, f, no, n, off`` or a number equal to 0 are false (case and surrounding spaces do not count).
  Anything else is neither: a problem (``unreadable_value``), never silently false.
- **The score label** of the outcome mapping (``reward`` by default): a finite number, or a true/false value
  (1 / 0). Anything else is ``unreadable_value`` (the run's outcome stays unknown).
- **Conflicts**: a run labelled both true and false for one true/false label counts as true (a reported
  customer impact is not cancelled by another label saying otherwise); a run with several different scores
  takes the lowest. Both are listed (``conflicting_values``).
- A label naming no run (``no_such_run``), or whose id matches several runs under these rules
  (``ambiguous_run_id``), is kept in ``labels`` but joins no run.

Every problem is a row of ``TraceSet.label_problems`` and is counted in the load summary.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from .errors import ConfigError
from .model import LABELS_SCHEMA

# the labels the kit reads as true/false
BOOLEAN_LABELS = ("customer_impact",)
TRUE_WORDS = ("true", "t", "yes", "y", "on")
FALSE_WORDS = ("false", "f", "no", "n", "off")
HEX_OR_UUID = (r"^(?:[0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}"
               r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$")
PROBLEMS = {
    "no_such_run": "names no run of the traces",
    "ambiguous_run_id": "its run id matches several runs",
    "conflicting_values": "one run labelled both ways (true and false, or different scores)",
    "unreadable_value": "a value that is neither true nor false (or, for a score, not a number)",
}
PROBLEM_SCHEMA = pl.Schema({"run_id": pl.String, "name": pl.String, "value": pl.String, "problem": pl.String,
                            "source": pl.String})


def load_labels(path: str | os.PathLike[str]) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "labels file not found")
    kind = "JSONL" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "CSV"
    try:
        if kind == "JSONL":
            frame = pl.read_ndjson(path, infer_schema_length=None)
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # polars raises several error types for unreadable files
        raise ConfigError(str(path), f"cannot be read as {kind}: {exc}") from None
    if "run_id" not in frame.columns:
        raise ConfigError(str(path), "a labels file needs a 'run_id' column", key="run_id", line=1)
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    if nested:
        raise ConfigError(str(path), f"column '{nested[0]}' holds lists or objects: label values are plain text, "
                          "numbers or true/false", key=nested[0])
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
    if {"name", "value"} <= set(frame.columns):
        long = frame.with_columns(
            (pl.col("source") if "source" in frame.columns else pl.lit(None, pl.String))
            .fill_null(path.name).alias("source")
        )
    elif {"name", "value"} & set(frame.columns):
        half = sorted({"name", "value"} & set(frame.columns))[0]
        raise ConfigError(str(path), f"a '{half}' column without its pair: long form needs 'run_id, name, value', "
                          "wide form one column per label named after it", key=half, line=1)
    else:
        long = frame.unpivot(index="run_id", variable_name="name", value_name="value").with_columns(
            pl.lit(path.name).alias("source")
        )
    missing = long.filter(pl.col("run_id").is_null() | (pl.col("run_id").str.strip_chars() == ""))
    if missing.height:
        raise ConfigError(str(path), "a row has an empty run_id", key="run_id")
    if long.select(pl.col("name").is_null().any()).item():
        raise ConfigError(str(path), "a row has an empty label name", key="name")
    return long.filter(pl.col("value").is_not_null() & (pl.col("value") != "")).select(list(LABELS_SCHEMA))


# ---- the rules -----------------------------------------------------------------------------------
def id_key(run_id: pl.Expr) -> pl.Expr:
    """The form two run ids are compared in: trimmed, and lower-cased when a hex trace id or a UUID."""
    trimmed = run_id.str.strip_chars()
    return pl.when(trimmed.str.contains(HEX_OR_UUID)).then(trimmed.str.to_lowercase()).otherwise(trimmed)


def truth(value: pl.Expr) -> pl.Expr:
    """True, False, or null for a value that is neither (see the module docstring)."""
    word = value.str.strip_chars().str.to_lowercase()
    number = word.cast(pl.Float64, strict=False)
    return (pl.when(word.is_in(TRUE_WORDS) | (number == 1)).then(True)
            .when(word.is_in(FALSE_WORDS) | (number == 0)).then(False)
            .otherwise(None))


def score(value: pl.Expr) -> pl.Expr:
    """A finite number, or 1.0 / 0.0 for a true/false value; null when unreadable."""
    number = value.str.strip_chars().cast(pl.Float64, strict=False)
    return (pl.when(number.is_finite()).then(number)
            .otherwise(truth(value).cast(pl.Float64)))


def true_runs(labels: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """(run_id, source) of the runs labelled ``name`` = true by any of their labels; ``source`` names where
    the true labels came from."""
    return (labels.filter((pl.col("name") == name) & truth(pl.col("value")).fill_null(False))
            .group_by("run_id")
            .agg(pl.col("source").drop_nulls().unique().sort().str.join("; ").alias("source")))


def run_scores(labels: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """(run_id, _score): the lowest readable score a run is labelled with under ``name``."""
    return (labels.filter(pl.col("name") == name).group_by("run_id")
            .agg(score(pl.col("value")).min().alias("_score")))


# ---- matching and problems -----------------------------------------------------------------------
def _problem_rows(frame: pl.DataFrame | pl.LazyFrame, problem: str) -> pl.LazyFrame:
    return frame.lazy().select("run_id", "name", "value", pl.lit(problem).alias("problem"), "source")


def match_runs(labels: pl.DataFrame, run_ids: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labels with each run id replaced by the id of the run it names (the rules above), and the rows of
    labels naming no run, or several."""
    labels = labels.with_columns(pl.col("run_id").str.strip_chars())
    if labels.height == 0:
        return labels, pl.DataFrame(schema=PROBLEM_SCHEMA)
    wanted = labels.select(pl.col("run_id").unique())
    runs = run_ids.select(pl.col("run_id").drop_nulls())
    exact = runs.join(wanted.lazy(), on="run_id", how="semi").unique().select(
        "run_id", pl.col("run_id").alias("_run")).collect()
    rest = wanted.join(exact, on="run_id", how="anti").with_columns(id_key(pl.col("run_id")).alias("_key"))
    resolved = pl.DataFrame(schema={"run_id": pl.String, "_run": pl.String, "_candidates": pl.UInt32})
    if rest.height:  # only then is every run id put in its compared form
        by_key = (runs.unique().with_columns(id_key(pl.col("run_id")).alias("_key"))
                  .join(rest.lazy().select("_key"), on="_key", how="semi")
                  .group_by("_key").agg(pl.col("run_id").unique().sort().alias("_runs")).collect())
        resolved = rest.join(by_key, on="_key", how="left").select(
            "run_id", pl.when(pl.col("_runs").list.len() == 1).then(pl.col("_runs").list.first()).alias("_run"),
            pl.col("_runs").list.len().fill_null(0).alias("_candidates"))
    found = pl.concat([exact.with_columns(pl.lit(1, pl.UInt32).alias("_candidates")), resolved])
    joined = labels.join(found, on="run_id", how="left", maintain_order="left")
    problems = pl.concat([
        _problem_rows(joined.filter(pl.col("_candidates").fill_null(0) == 0), "no_such_run"),
        _problem_rows(joined.filter(pl.col("_candidates") > 1), "ambiguous_run_id"),
    ]).collect()
    matched = joined.with_columns(pl.coalesce("_run", "run_id").alias("run_id")).select(list(LABELS_SCHEMA))
    return matched, problems


def value_problems(labels: pl.LazyFrame, score_label: str | None = None) -> pl.LazyFrame:
    """Unreadable values of the true/false labels and of the score label, and runs labelled both ways."""
    boolean = labels.filter(pl.col("name").is_in(BOOLEAN_LABELS)).with_columns(truth(pl.col("value")).alias("_v"))
    scored = labels.filter(pl.col("name") == score_label) if score_label else labels.clear()
    scored = scored.with_columns(score(pl.col("value")).cast(pl.String).alias("_v"))
    parts = []
    for frame in (boolean, scored):
        parts.append(_problem_rows(frame.filter(pl.col("_v").is_null()), "unreadable_value"))
        conflicts = (frame.filter(pl.col("_v").is_not_null()).group_by("run_id", "name")
                     .agg(pl.col("_v").n_unique().alias("_n"),
                          pl.col("value").str.strip_chars().unique().sort().str.join(" | ").alias("value"),
                          pl.col("source").drop_nulls().unique().sort().str.join("; ").alias("source"))
                     .filter(pl.col("_n") > 1))
        parts.append(_problem_rows(conflicts, "conflicting_values"))
    return pl.concat(parts).cast(dict(PROBLEM_SCHEMA))


def label_problems(labels: pl.LazyFrame, runs: pl.LazyFrame, score_label: str | None = None) -> pl.LazyFrame:
    """Every problem of labels already matched to runs: labels naming no run, unreadable values, conflicts."""
    unmatched = _problem_rows(labels.join(runs.select("run_id"), on="run_id", how="anti"), "no_such_run")
    return pl.concat([unmatched.cast(dict(PROBLEM_SCHEMA)), value_problems(labels, score_label)])
