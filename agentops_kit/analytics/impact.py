"""Customer-impact errors as their own list: averages hide rare, high-impact failures.

``customer_impact_errors`` returns the frame; ``ImpactList.compute`` wraps it in the face of every result
(``results.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..labels import true_runs
from ..model import TOOL_CALL_KINDS
from ..rendering import table
from ..results import Result
from ..runs_behind import Counted, RunsBehind
from .definitions import CUSTOMER_IMPACT, PRODUCTION


def customer_impact_errors(ts) -> pl.DataFrame:
    """Every run labelled customer_impact = true: run, agent, workflow, when, outcome, what it did (its tool
    and action calls in order), the error, and where the label came from."""
    labels = true_runs(ts.labels, CUSTOMER_IMPACT).rename({"source": "label_source"})  # every source saying true
    # the tool calls of the labelled runs only (a few), not of every run
    actions = (ts.steps.filter(pl.col("kind").is_in(TOOL_CALL_KINDS))
               .join(labels.select("run_id"), on="run_id", how="semi")
               .sort("started_at", "step_id", nulls_last=True).group_by("run_id")
               .agg(pl.col("tool_name").str.join(" → ").alias("what_it_did")))
    return (ts.runs.filter(PRODUCTION).join(labels, on="run_id", how="inner").join(actions, on="run_id", how="left")
            .select("run_id", "agent", "workflow", "mode", pl.col("started_at").alias("when"), "outcome",
                    "error_type", "what_it_did", "label_source", "cost_usd")
            .sort("when", descending=True).collect())


def counted_impact(impact: pl.DataFrame, section: str = "Customer-impact errors") -> Counted:
    """The runs of ``customer_impact_errors`` counted per agent."""
    return Counted(section, impact.lazy(), ("agent",), {"customer_impact_errors": None})


@dataclass
class ImpactList(Result):
    """The runs of ``customer_impact_errors``, with the face of every result (no chart: the list is the point)."""

    frame: pl.DataFrame
    title = "Customer-impact errors"

    @classmethod
    def compute(cls, ts) -> ImpactList:
        return cls(customer_impact_errors(ts))

    def to_polars(self) -> pl.DataFrame:
        return self.frame

    def runs_behind(self) -> list[RunsBehind]:
        """The count per agent with the runs it counts (``runs_behind.py``)."""
        counted = counted_impact(self.frame)
        return counted.all_behind(counted.totals())

    def html(self) -> str:
        return f"<p class='agentops-lead'>{self.frame.height} runs hurt a customer</p>" + table(self.frame, max_rows=500)
