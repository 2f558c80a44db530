"""TraceSet: the canonical tables of one load, lazily, with a summary that renders in Jupyter."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from .labels import PROBLEMS, label_problems
from .model import CostSource, Outcome, conform
from .pricing import unpriced_models
from .tableset import table_paths, write_set
from .terminal import safe
from .weeks import week_of

TABLES = ("runs", "steps", "sources", "labels", "rejected")


@dataclass
class TraceSet:
    """The canonical tables of one load — ``runs``, ``steps``, ``sources``, ``labels``, ``rejected`` — as
    polars LazyFrames, with a summary that renders in Jupyter. ``ak.load_traces`` makes one.

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> ts.summary()["agents"]
        {'SupportRefundAgent': 237, 'InvoiceCategorizer': 222, 'SocAlertTriage': 157}
        >>> folder = ts.write_parquet("tables")
        >>> ak.TraceSet.read_parquet("tables").runs.collect().height
        616
    """

    runs: pl.LazyFrame
    steps: pl.LazyFrame
    sources: pl.LazyFrame
    labels: pl.LazyFrame
    rejected: pl.LazyFrame
    inputs: list[str] = field(default_factory=list)
    priced_by: str | None = None  # the price list this load used (pricing_source), None when none applied
    # labels naming no run, runs labelled both ways, unreadable values (see labels.py); when not given,
    # worked out from the tables
    label_problems: pl.LazyFrame | None = field(default=None, repr=False)
    # the TraceSet as loaded, when this one was filtered from it: names in policies, budgets and baselines
    # are checked against the whole of it (an agent with no run in one week is not a typo)
    whole: TraceSet | None = field(default=None, repr=False, compare=False)
    # the Parquet files each table was read from, as written (a table set, a store): DuckDB and Spark scan
    # them directly (analytics/engine.py); None for tables built in memory or narrowed since
    files: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    # a store's week partitions (ISO week of the run's start -> the TraceSet of that week alone): analytics that
    # group by week aggregate one partition at a time, so their memory is that of a week, not of the store
    partitions: dict[str, TraceSet] | None = field(default=None, repr=False, compare=False)
    _summary: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.label_problems is None:
            self.label_problems = label_problems(self.labels, self.runs)

    # ---- persistence (agentops_kit/tableset.py) ------------------------------------------------
    def write_parquet(self, out_dir: str | Path) -> Path:
        """Write every table into ``out_dir`` as one table set, published all at once (see ``tableset``):
        a reader sees the previous set or this one, never a mix. Refuses an existing file or a folder that
        holds anything but a table set, before writing."""
        # written over the folder it was read from: its frames still scan the replaced set, so that set
        # stays until the next write
        own = any(Path(source).resolve() == Path(out_dir).resolve() for source in self.inputs)
        return write_set({name: getattr(self, name) for name in TABLES}, out_dir, keep_replaced=own)

    @classmethod
    def read_parquet(cls, directory: str | Path) -> TraceSet:
        """The complete table set in ``directory``; ``TableSetError`` names what is missing, changed or unlisted."""
        paths = table_paths(directory, TABLES)
        frames = {table: conform(pl.scan_parquet(path), table) for table, path in paths.items()}
        return cls(runs=frames["runs"], steps=frames["steps"], sources=frames["sources"], labels=frames["labels"],
                   rejected=frames["rejected"], inputs=[str(directory)],
                   files={table: [str(path)] for table, path in paths.items()})

    def filter_runs(self, predicate: pl.Expr) -> TraceSet:
        """The runs matching ``predicate`` (an expression on the runs table), with their steps, sources and labels."""
        ids = self.runs.filter(predicate).select("run_id")
        # the runs themselves are filtered, not joined with their own ids: a join would hold every id at once
        parts = {w: part.filter_runs(predicate) for w, part in self.partitions.items()} if self.partitions else None
        return replace(self.only_runs(ids), runs=self.runs.filter(predicate), partitions=parts)

    def week_parts(self) -> list[TraceSet]:
        """The week partitions of a store, in order (each run in the one of its start's ISO week); ``[self]``
        for a TraceSet that has none. Results grouped by week are the same computed part by part."""
        return [self.partitions[w] for w in sorted(self.partitions)] if self.partitions else [self]

    def week(self, start: dt.datetime, end: dt.datetime) -> TraceSet:
        """The runs that started in ``[start, end)`` (one ISO week): the store's partition of that week when
        there is one (nothing else is scanned), otherwise the runs filtered by their start."""
        name = week_of(start.date())
        if self.partitions is not None and start.weekday() == 0 and end - start == dt.timedelta(weeks=1):
            return self.partitions.get(name) or self.filter_runs(pl.lit(False))
        return self.filter_runs((pl.col("started_at") >= start) & (pl.col("started_at") < end))

    def only_runs(self, ids: pl.LazyFrame) -> TraceSet:
        """The runs whose ``run_id`` is in ``ids`` (a lazy frame with that column), with their steps, sources and
        labels; configuration names are still checked against the whole set loaded (``whole``)."""
        return TraceSet(runs=self.runs.join(ids, on="run_id", how="semi"),
                        steps=self.steps.join(ids, on="run_id", how="semi"),
                        sources=self.sources.join(ids, on="run_id", how="semi"),
                        labels=self.labels.join(ids, on="run_id", how="semi"),
                        rejected=self.rejected, inputs=self.inputs, priced_by=self.priced_by,
                        label_problems=self.label_problems, whole=self.whole or self)

    # ---- summary -----------------------------------------------------------------------------
    def summary(self) -> dict:
        """Counts a human checks first: runs, steps, agents, date range, outcomes, cost coverage, rejects."""
        if self._summary is None:
            runs = self.runs.select(
                pl.len().alias("runs"),
                pl.col("agent").n_unique().alias("agent_count"),
                pl.col("started_at").min().alias("first"),
                pl.col("started_at").max().alias("last"),
                (pl.col("cost_source") == CostSource.UNKNOWN).sum().alias("cost_unknown_runs"),
                pl.col("root_missing").sum().alias("root_missing_runs"),
                pl.col("orphan_steps").sum().alias("orphan_steps"),
                (pl.col("orphan_steps") > 0).sum().alias("orphan_runs"),
            ).collect().row(0, named=True)
            agents = self.runs.group_by("agent").agg(pl.len().alias("runs")).sort("runs", descending=True).collect()
            outcomes = dict(self.runs.group_by("outcome").agg(pl.len()).collect().iter_rows())
            rejected = self.rejected.select(pl.len()).collect().item()
            reasons = dict(self.rejected.group_by("reason_code").agg(pl.len()).sort("reason_code").collect().iter_rows())
            self._summary = {
                "runs": runs["runs"],
                "steps": self.steps.select(pl.len()).collect().item(),
                "agents": dict(agents.iter_rows()),
                "first_run": runs["first"],
                "last_run": runs["last"],
                "outcomes": {k.value: outcomes.get(k.value, 0) for k in Outcome},
                "cost_unknown_runs": runs["cost_unknown_runs"],
                "root_missing_runs": runs["root_missing_runs"],
                "orphan_steps": runs["orphan_steps"] or 0,
                "orphan_runs": runs["orphan_runs"] or 0,
                "unpriced_models": unpriced_models(self.steps),
                "priced_by": self.priced_by,
                "rejected": rejected,
                "rejected_reasons": reasons,
                "labels": self.labels.select(pl.len()).collect().item(),
                "label_problems": dict(self.label_problems.group_by("problem").agg(pl.len())  # type: ignore[union-attr]
                                       .sort("problem").collect().iter_rows()),  # (set by __post_init__)
                "sources": self.sources.select(pl.len()).collect().item(),
            }
        return self._summary

    def summary_text(self) -> str:
        """The summary as plain text for a terminal: names from the traces have their control characters
        shown escaped (``terminal.safe``), so an agent name cannot recolour or rewrite the screen."""
        s = self.summary()
        span = (f"{s['first_run']:%Y-%m-%d %H:%M} .. {s['last_run']:%Y-%m-%d %H:%M} UTC"
                if s["first_run"] else "no timestamps")
        lines = [
            f"runs: {s['runs']}   steps: {s['steps']}   agents: {len(s['agents'])}   labels: {s['labels']}",
            f"date range: {span}",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()),
            f"prices: {s['priced_by'] or 'no price list applied in this load (costs as read)'}",
            f"runs with unknown cost: {s['cost_unknown_runs']}"
            + (f" (unpriced models: {', '.join(map(safe, s['unpriced_models']))})" if s["unpriced_models"] else ""),
            f"runs without their root span: {s['root_missing_runs']}   spans whose parent never arrived: "
            f"{s['orphan_steps']} (in {s['orphan_runs']} runs; kept)",
            f"rejected records: {s['rejected']}"
            + ("  [" + ", ".join(f"{safe(k)}: {v}" for k, v in s["rejected_reasons"].items()) + "]"
               if s["rejected_reasons"] else ""),
            "label problems: " + (", ".join(f"{k}: {v}" for k, v in s["label_problems"].items())
                                  + " (see .label_problems)" if s["label_problems"] else "none"),
            "agents: " + ", ".join(f"{safe(a)} ({n})" for a, n in s["agents"].items()),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "TraceSet\n" + self.summary_text()

    def _repr_html_(self) -> str:
        s = self.summary()
        esc = html.escape
        cells = [
            ("Runs", s["runs"]), ("Steps", s["steps"]), ("Agents", len(s["agents"])),
            ("From", s["first_run"] or "–"), ("To", s["last_run"] or "–"),
            ("Unknown-cost runs", s["cost_unknown_runs"]), ("Rejected records", s["rejected"]),
        ]
        head = "".join(f"<th>{esc(str(k))}</th>" for k, _ in cells)
        body = "".join(f"<td>{esc(str(v))}</td>" for _, v in cells)
        agents = "".join(f"<tr><td>{esc(str(a))}</td><td>{n}</td></tr>" for a, n in s["agents"].items())
        outcomes = ", ".join(f"{esc(k)}: {v}" for k, v in s["outcomes"].items())
        warn = f"<p>Prices: {esc(s['priced_by'] or 'no price list applied in this load (costs as read)')}</p>"
        if s["unpriced_models"]:
            warn += f"<p><b>Unpriced models</b> (cost unknown): {esc(', '.join(s['unpriced_models']))}</p>"
        if s["rejected"]:
            reasons = ", ".join(f"{esc(k)}: {v}" for k, v in s["rejected_reasons"].items())
            warn += f"<p><b>{s['rejected']} rejected records</b> ({reasons}) — see <code>.rejected</code></p>"
        if s["label_problems"]:
            problems = ", ".join(f"{esc(k)}: {v}" for k, v in s["label_problems"].items())
            explained = "; ".join(f"{esc(k)} = {esc(PROBLEMS[k])}" for k in s["label_problems"] if k in PROBLEMS)
            warn += (f"<p><b>{sum(s['label_problems'].values())} label problems</b> ({problems}) — see "
                     f"<code>.label_problems</code> <small>({explained})</small></p>")
        return (
            "<div class='agentops-traceset'><h4>TraceSet</h4>"
            f"<table><tr>{head}</tr><tr>{body}</tr></table>"
            f"<p>Outcomes — {outcomes}</p>{warn}"
            f"<details><summary>Runs per agent</summary><table>{agents}</table></details></div>"
        )
