"""Customer-impact errors as their own list: averages hide rare, high-impact failures.

``customer_impact_errors`` returns the frame; ``ImpactList.compute`` wraps it in the face of every result
(``results.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import polars as pl

from ..labels import true_runs
from ..model import TOOL_CALL_KINDS, UTC_TS
from ..rendering import table
from ..results import Result
from ..runs_behind import Counted, RunsBehind
from .definitions import CUSTOMER_IMPACT, production
from .engine import get_engine


def customer_impact_errors(ts, engine=None) -> pl.DataFrame:
    """Every run labelled customer_impact = true: run, agent, workflow, when, outcome, what it did (its tool
    and action calls in order), the error, and where the label came from. ``engine``: where the runs and
    their calls are found (``engine.py``); the labels are read in polars."""
    eng = get_engine(engine)
    t = eng.tables(ts)
    labels = eng.frame(true_runs(ts.labels, CUSTOMER_IMPACT).rename({"source": "label_source"}))  # every source saying true
    runs = (t.runs.filter(production(nw)).join(labels, on="run_id", how="inner")
            .select("run_id", "agent", "workflow", "mode", nw.col("started_at").alias("when"), "outcome",
                    "error_type", "label_source", "cost_usd"))
    calls = eng.collect(t.steps.filter(nw.col("kind").is_in(TOOL_CALL_KINDS)).join(runs.select("run_id"), on="run_id")
                        .select("run_id", "step_id", "started_at", "tool_name"))
    actions = (calls.sort("started_at", "step_id", nulls_last=True).group_by("run_id", maintain_order=True)
               .agg(pl.col("tool_name").str.join(" → ").alias("what_it_did")))
    return (eng.collect(runs).join(actions, on="run_id", how="left")
            .select("run_id", "agent", "workflow", "mode", pl.col("when").cast(UTC_TS), "outcome", "error_type",
                    "what_it_did", "label_source", "cost_usd")
            .sort("when", descending=True))


def counted_impact(impact: pl.DataFrame, section: str = "Customer-impact errors") -> Counted:
    """The runs of ``customer_impact_errors`` counted per agent."""
    return Counted(section, impact.lazy(), ("agent",), {"customer_impact_errors": None})


@dataclass
class ImpactList(Result):
    """The runs of ``customer_impact_errors``, with the face of every result (no chart: the list is the point)."""

    frame: pl.DataFrame
    title = "Customer-impact errors"

    @classmethod
    def compute(cls, ts, engine=None) -> ImpactList:
        return cls(customer_impact_errors(ts, engine=engine))

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def runs_behind(self) -> list[RunsBehind]:
        """The count per agent with the runs it counts (``runs_behind.py``)."""
        counted = counted_impact(self.frame)
        return counted.all_behind(counted.totals())

    def html(self) -> str:
        return f"<p class='agentops-lead'>{self.frame.height} runs hurt a customer</p>" + table(self.frame, max_rows=500)
