"""Provenance rules: require a human confirmation when an action's provenance is unclear.

An *acting step* is a call to one of the policy's gated actions (``actions_require_approval``) or an
outbound call (a tool or action whose input names a URL or an e-mail address). With ``provenance:`` in the
agent's policy, an acting step is a violation — unless an approved human approval precedes it in its run
(an approval step for that action, or for none named, or an approved decision from the approvals store) —
when the retrievals of its run before it:

- ``provenance_no_documents``  returned no document at all (``require_documents``; a run that retrieved
  nothing counts);
- ``provenance_unversioned``   returned a document without a version (``require_versions``);
- ``provenance_stale``         returned a version older than ``max_document_age_days`` at the time of the
  action. A version's date is the ISO date its text carries (``2026-03-01``, ``kb-2026-03-01``), else the
  first time the traces show it — a lower bound of its age, so the rule fires only on versions known to
  be that old.

``superseded_actions`` lists (does not flag) the acting steps that used a document version a later run
shows was superseded: a run started after it retrieved a newer version of the same document. Newer is the
order of the version numbers when every version of that document is a number (``7``, ``v7``, ``1.2.10``,
``2026-03-01``); otherwise the order in which the versions first appear in the traces.
"""

from __future__ import annotations

import polars as pl

from ..model import TOOL_CALL_KINDS

NUMBERED = r"^[vV]?\d+([._-]\d+)*$"
DATE_IN_VERSION = r"(\d{4}-\d{2}-\d{2})"
RULES = {"provenance_no_documents": "retrieved no document", "provenance_unversioned": "used a document without a version",
         "provenance_stale": "used a document version older than the policy allows"}


def acting_steps(steps: pl.LazyFrame, policies, url: str, email: str) -> pl.LazyFrame:
    """(run_id, agent, step_id, tool_name, started_at, acted): the gated and outbound calls of the agents
    whose policy has a ``provenance:`` section. ``steps`` carry the run's agent."""
    names = [p.name for p in policies if p.provenance is not None]
    gated = pl.LazyFrame([(p.name, t) for p in policies if p.provenance is not None for t in p.actions_require_approval],
                         schema={"agent": pl.String, "tool_name": pl.String}, orient="row").with_columns(
        pl.lit(True).alias("_gated"))
    text = pl.col("input").fill_null("")
    return (steps.filter(pl.col("kind").is_in(TOOL_CALL_KINDS) & pl.col("agent").is_in(names))
            .join(gated, on=["agent", "tool_name"], how="left")
            .with_columns(pl.col("_gated").fill_null(False),
                          (text.str.contains(url) | text.str.contains(email)).alias("_outbound"))
            .filter(pl.col("_gated") | pl.col("_outbound"))
            .select("run_id", "agent", "step_id", "tool_name", "started_at",
                    pl.when(pl.col("_gated")).then(pl.lit("gated action")).otherwise(pl.lit("outbound call")).alias("acted")))


def version_dates(sources: pl.LazyFrame, steps: pl.LazyFrame) -> pl.LazyFrame:
    """(document_id, version, version_date, first_seen): the date a version carries, else its first sighting."""
    seen = (sources.filter(pl.col("version").is_not_null())
            .join(steps.select("run_id", "step_id", pl.col("started_at").alias("_at")), on=["run_id", "step_id"], how="left")
            .group_by("document_id", "version").agg(pl.col("_at").min().alias("first_seen")))
    carried = (pl.col("version").str.extract(DATE_IN_VERSION).str.to_date("%Y-%m-%d", strict=False)
               .cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    return seen.with_columns(pl.coalesce(carried, pl.col("first_seen")).alias("version_date"))


def _documents_before(acts: pl.LazyFrame, steps: pl.LazyFrame, sources: pl.LazyFrame) -> pl.LazyFrame:
    """Every document retrieved in the act's run at or before the act (unknown times count as before)."""
    got = sources.join(steps.select("run_id", "step_id", pl.col("started_at").alias("_retrieved_at")),
                       on=["run_id", "step_id"], how="left")
    return (acts.join(got.select("run_id", "_retrieved_at", "document_id", "version"), on="run_id")
            .filter(pl.col("_retrieved_at").is_null() | pl.col("started_at").is_null()
                    | (pl.col("_retrieved_at") <= pl.col("started_at"))))


def provenance_violations(steps: pl.LazyFrame, sources: pl.LazyFrame, all_steps: pl.LazyFrame, policies,
                          covered, url: str, email: str) -> pl.LazyFrame:
    """Violation rows (run_id, agent, rule, detail, step_id) of the provenance rules. ``steps``: the checked
    agents' steps with their agent; ``all_steps``: every step (for the first sighting of versions);
    ``covered(candidates)``: the (run_id, step_id) of candidates with an approval before them."""
    conf = pl.LazyFrame([{"agent": p.name, "_docs": p.provenance.require_documents,
                          "_versions": p.provenance.require_versions, "_max_age": p.provenance.max_document_age_days}
                         for p in policies if p.provenance is not None],
                        schema={"agent": pl.String, "_docs": pl.Boolean, "_versions": pl.Boolean, "_max_age": pl.Int64})
    acts = acting_steps(steps, policies, url, email).join(conf, on="agent")
    acts = acts.join(covered(acts), on=["run_id", "step_id"], how="anti")
    docs = (_documents_before(acts, steps, sources)
            .join(version_dates(sources, all_steps).select("document_id", "version", "version_date"),
                  on=["document_id", "version"], how="left")
            .with_columns(((pl.col("started_at") - pl.col("version_date")).dt.total_days()).alias("_age")))
    per_act = docs.group_by("run_id", "step_id").agg(
        pl.col("document_id").is_not_null().sum().alias("_n"),
        pl.col("document_id").filter(pl.col("document_id").is_not_null() & pl.col("version").is_null()).unique().sort()
        .alias("_unversioned"),
        pl.format("{}@{} ({} days)", "document_id", "version", "_age")
        .filter(pl.col("_max_age").is_not_null() & (pl.col("_age") > pl.col("_max_age"))).unique().sort().alias("_stale"))
    acts = acts.join(per_act, on=["run_id", "step_id"], how="left").with_columns(pl.col("_n").fill_null(0))
    what = pl.format("{} '{}'", "acted", "tool_name")
    parts = [
        acts.filter(pl.col("_docs") & (pl.col("_n") == 0)).select(
            "run_id", "agent", pl.lit("provenance_no_documents").alias("rule"),
            pl.format("{} with no document retrieved before it, and no approval first", what).alias("detail"), "step_id"),
        acts.filter(pl.col("_versions") & (pl.col("_unversioned").list.len() > 0)).select(
            "run_id", "agent", pl.lit("provenance_unversioned").alias("rule"),
            pl.format("{} on documents without a version ({}), and no approval first", what,
                      pl.col("_unversioned").list.join(", ")).alias("detail"), "step_id"),
        acts.filter(pl.col("_stale").list.len() > 0).select(
            "run_id", "agent", pl.lit("provenance_stale").alias("rule"),
            pl.format("{} on versions older than {} days ({}), and no approval first", what, "_max_age",
                      pl.col("_stale").list.join(", ")).alias("detail"), "step_id"),
    ]
    return pl.concat(parts)


def _version_order(versions: pl.LazyFrame) -> pl.LazyFrame:
    """(document_id, version, _rank): higher is newer (see the module docstring)."""
    numbered = versions.with_columns(
        pl.col("version").str.contains(NUMBERED).all().over("document_id").alias("_numbered"),
        pl.col("version").str.extract_all(r"\d+").list.eval(pl.element().cast(pl.Int64)).alias("_key"))
    by_number = (numbered.sort("document_id", "_key", "version")
                 .with_columns(pl.int_range(pl.len()).over("document_id").alias("_by_number")))
    return (by_number.sort("document_id", "first_seen", "version", nulls_last=True)
            .with_columns(pl.int_range(pl.len()).over("document_id").alias("_by_sight"))
            .with_columns(pl.when(pl.col("_numbered")).then(pl.col("_by_number")).otherwise(pl.col("_by_sight"))
                          .alias("_rank"))
            .select("document_id", "version", "_rank"))


def superseded_actions(ts, policies, url: str, email: str) -> pl.DataFrame:
    """The acting steps (of agents with ``provenance: {list_superseded: true}``) that used a document version
    a later run shows was superseded, with the newer version and the last run that retrieved it."""
    pols = [p for p in policies if p.provenance is not None and p.provenance.list_superseded]
    steps = ts.steps.join(ts.runs.select("run_id", "agent"), on="run_id")
    acts = acting_steps(steps, pols, url, email).join(ts.runs.select("run_id", pl.col("started_at").alias("_run_start")),
                                                       on="run_id")
    used = _documents_before(acts, ts.steps, ts.sources).filter(pl.col("version").is_not_null())
    order = _version_order(version_dates(ts.sources, ts.steps))
    sightings = (ts.sources.filter(pl.col("version").is_not_null()).join(ts.runs.select("run_id", "started_at"), on="run_id")
                 .group_by("document_id", "version").agg(pl.col("started_at").max().alias("_last_run_start"),
                                                          pl.col("run_id").sort_by("started_at").last().alias("_last_run")))
    newer = order.join(sightings, on=["document_id", "version"]).select(
        "document_id", pl.col("version").alias("superseded_by"), pl.col("_rank").alias("_new_rank"),
        "_last_run_start", pl.col("_last_run").alias("shown_by_run"))
    return (used.join(order.select("document_id", "version", "_rank"), on=["document_id", "version"])
            .join(newer, on="document_id")
            .filter((pl.col("_new_rank") > pl.col("_rank")) & (pl.col("_last_run_start") > pl.col("_run_start")))
            .sort("_new_rank").group_by("run_id", "step_id", "document_id", "version", maintain_order=True).agg(
                pl.col("agent", "tool_name", "acted", "started_at").first(),
                pl.col("superseded_by", "shown_by_run").last())
            .select("run_id", "agent", "step_id", "tool_name", "acted", pl.col("started_at").alias("acted_at"),
                    "document_id", pl.col("version").alias("version_used"), "superseded_by", "shown_by_run")
            .sort("acted_at", "run_id", "document_id", nulls_last=True).collect())
