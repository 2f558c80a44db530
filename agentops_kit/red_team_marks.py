"""Which runs are red-team exercises, by an attribute or a label the mapping names (``red_team:``).

A mode value is read with the other run facts (``mode`` becomes ``red_team``); the attribute and label
markers are resolved here, once, when the runs are assembled, so that every analysis afterwards keeps
red-team runs apart by the one canonical fact ``mode == Mode.RED_TEAM``, with no mapping at hand.
"""

from __future__ import annotations

import polars as pl

from .labels import truth
from .mapping import RedTeamMapping


def _true(value: pl.Expr) -> pl.Expr:
    return truth(value).fill_null(False)


def marked_runs(steps: pl.LazyFrame, labels: pl.LazyFrame, red_team: RedTeamMapping) -> pl.LazyFrame:
    """run_id of the runs that a true red-team attribute (on any of their spans) or label marks."""
    parts = []
    for name in red_team.attributes:
        key = name.replace("\\", "\\\\").replace('"', '\\"')
        # the substring test is cheap; the JSON is parsed only on the few spans it finds (collected first:
        # the optimiser would otherwise merge both filters and parse every span's attributes)
        hits = steps.filter(pl.col("attributes").str.contains(f'"{key}"', literal=True)).select("run_id", "attributes")
        parts.append(hits.collect().lazy().filter(_true(pl.col("attributes").str.json_path_match(f'$["{key}"]')))
                     .select("run_id"))
    if red_team.label:
        parts.append(labels.filter(pl.col("name") == red_team.label).group_by("run_id")
                     .agg(pl.col("value").last()).filter(_true(pl.col("value"))).select("run_id"))
    if not parts:
        return pl.LazyFrame(schema={"run_id": pl.String})
    return pl.concat(parts).unique()
