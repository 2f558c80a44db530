"""One run's steps as a tree on a time axis: the rows of its waterfall, and the step that caused a failure.

Children sit under their parent, siblings in start order. A step whose parent never arrived (an orphan) is
drawn at the top level and marked, never dropped. Times are seconds since the run's first step started.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
import polars as pl

SORT_KEY_WIDTH = 6  # zero-padded sibling rank: up to a million siblings sort correctly as text


def waterfall_rows(steps: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """The steps of one run in tree order, with ``depth``, ``offset_s``, ``duration_s``, ``tokens``, a
    ``label``, ``is_error``, ``is_cause`` (an error none of whose descendants failed) and ``orphan``."""
    frame = steps.lazy() if isinstance(steps, pl.DataFrame) else steps
    ids = frame.select("step_id")
    base = (
        frame.with_columns(
            # a parent that is not a step of this run (never arrived, or the step itself) makes a top-level row
            pl.col("parent_id").is_in(ids.collect()["step_id"].implode()).not_().and_(pl.col("parent_id").is_not_null())
            .alias("orphan"),
        )
        .with_columns(pl.when(pl.col("orphan") | (pl.col("parent_id") == pl.col("step_id")))
                      .then(None).otherwise(pl.col("parent_id")).alias("_parent"))
        .with_columns(
            pl.struct(pl.col("started_at").is_null().alias("_no_time"), "started_at", "step_id")
            .rank("ordinal").over("_parent").cast(pl.Int64).alias("_sibling"),
        )
        .with_columns(pl.col("_sibling").cast(pl.String).str.zfill(SORT_KEY_WIDTH).alias("_path"),
                      pl.col("_parent").alias("_up"), pl.lit(0, pl.Int64).alias("depth"))
        .collect()
    )
    if not base.height:
        return _finish(base)
    own = base.select("step_id", pl.col("_sibling").cast(pl.String).str.zfill(SORT_KEY_WIDTH).alias("_key"),
                      pl.col("_parent").alias("_next"))
    # climb one level per pass, prefixing each row's path with its ancestor's key; a cycle ends after height passes
    for _ in range(base.height):
        if base["_up"].null_count() == base.height:
            break
        base = (base.join(own, left_on="_up", right_on="step_id", how="left")
                .with_columns(pl.when(pl.col("_up").is_not_null())
                              .then(pl.col("_key") + "/" + pl.col("_path")).otherwise(pl.col("_path")).alias("_path"),
                              (pl.col("depth") + pl.col("_up").is_not_null().cast(pl.Int64)).alias("depth"),
                              pl.when(pl.col("_up").is_not_null()).then(pl.col("_next")).alias("_up"))
                .drop("_key", "_next"))
    return _finish(base.sort("_path"))


def _finish(rows: pl.DataFrame) -> pl.DataFrame:
    t0 = rows["started_at"].min() if rows.height else None
    failed = (pl.col("status") == "error") | pl.col("error").is_not_null()
    rows = rows.with_columns(
        failed.alias("is_error"),
        ((pl.col("started_at") - pl.lit(t0)).dt.total_microseconds() / 1e6 if t0 is not None
         else pl.lit(None, pl.Float64)).alias("offset_s"),
        ((pl.col("ended_at") - pl.col("started_at")).dt.total_microseconds() / 1e6).alias("duration_s"),
        pl.when(pl.col("input_tokens").is_null() & pl.col("output_tokens").is_null()).then(None)
        .otherwise(pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)).alias("tokens"),
        pl.coalesce(
            pl.when(pl.col("kind").is_in(["tool", "action"])).then(pl.col("tool_name")),
            pl.when(pl.col("kind") == "llm").then(pl.col("model")),
            pl.col("name"), pl.col("kind"),
        ).alias("label"),
    ).with_row_index("row")
    # a failed step is the cause when none of the steps below it failed too
    failed_paths = rows.filter(pl.col("is_error")).select(pl.col("_path").alias("_failed"))
    below = (rows.filter(pl.col("is_error")).select("step_id", "_path")
             .join(failed_paths, how="cross")
             .filter(pl.col("_failed").str.starts_with(pl.col("_path") + "/"))
             .select("step_id").unique())
    rows = rows.with_columns((pl.col("is_error") & ~pl.col("step_id").is_in(below["step_id"].implode())).alias("is_cause"))
    return rows.drop([c for c in rows.columns if c.startswith("_")])


@dataclass(frozen=True)
class FailureCause:
    step_id: str
    step: str  # the step's label (tool, model or name)
    kind: str
    error_type: str | None
    message: str | None
    also_failed: int  # other failed steps that were not below it


ERROR_MESSAGE_KEYS = ("exception.message", "error.message", "otel.status_description", "status_message")


def failure_cause(rows: pl.DataFrame) -> FailureCause | None:
    """The first failed step (in time) none of whose children failed: the real cause, rather than the
    run's root span that only reports "run failed"."""
    causes = rows.filter(pl.col("is_cause")).sort("offset_s", "row", nulls_last=True)
    if not causes.height:
        return None
    top = causes.row(0, named=True)
    try:
        attrs = orjson.loads(top["attributes"] or "{}")
    except orjson.JSONDecodeError:
        attrs = {}
    message = next((str(attrs[k]) for k in ERROR_MESSAGE_KEYS if isinstance(attrs, dict) and attrs.get(k)), None)
    error_type, text = split_error(top["error"])
    message = message or text
    return FailureCause(top["step_id"], top["label"], top["kind"], error_type, message, causes.height - 1)


_TYPED = re.compile(r"^([A-Za-z_][\w.]*)(?::\s*(.*))?$", re.S)


def split_error(error: str | None) -> tuple[str | None, str | None]:
    """("TimeoutError", None) from "TimeoutError"; ("ValueError", "bad id") from "ValueError: bad id";
    (None, text) from a sentence, which names no type."""
    if not error or not error.strip():
        return None, None
    hit = _TYPED.match(error.strip())
    if hit:
        return hit.group(1), (hit.group(2) or None)
    return None, error.strip()
