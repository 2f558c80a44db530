"""Shadow mode: what the agent recommended against what the human decided, on shadow runs.

The agent's recommendation comes from a root-span attribute (default ``agentops.recommendation``), the
human's decision from the ``human_decision`` label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import narwhals as nw
import polars as pl

from ..charts import shadow_confusion
from ..model import UTC_TS, Mode
from ..rendering import pct, table
from ..results import Result, records
from ..runs_behind import Counted, RunsBehind
from .definitions import agreement
from .engine import get_engine


@dataclass
class ShadowReport(Result):
    pairs: pl.DataFrame  # run_id, agent, started_at, recommendation, human_decision, agree
    title = "Shadow mode"

    @property
    def compared(self) -> int:
        return self.pairs.height

    @property
    def agreement_rate(self) -> float | None:
        return self.pairs.select(agreement()).item() if self.pairs.height else None

    def by_agent(self) -> pl.DataFrame:
        return self.pairs.group_by("agent").agg(pl.len().alias("compared"), agreement().alias("agreement_rate")).sort("agent")

    def confusion(self) -> pl.DataFrame:
        """Rows: the agent's recommendation; columns: the human's decision; cells: runs."""
        if not self.pairs.height:
            return pl.DataFrame({"recommendation": []}, schema={"recommendation": pl.String})
        return (self.pairs.group_by("recommendation", "human_decision").len()
                .pivot(on="human_decision", index="recommendation", values="len", sort_columns=True)
                .fill_null(0).sort("recommendation"))

    def disagreements(self) -> pl.DataFrame:
        return self.pairs.filter(~pl.col("agree"))

    def counted(self) -> dict[str, Counted]:
        """Where the counts of shadow mode come from: disagreements in all, compared and disagreements per agent,
        runs per cell of the confusion table."""
        pairs, disagree = self.pairs.lazy(), ~pl.col("agree")
        return {"all": Counted("Shadow mode", pairs, (), {"disagreements": disagree}),
                "by_agent": Counted("Shadow mode, per agent", pairs, ("agent",),
                                    {"compared": None, "disagreements": disagree}),
                "confusion": Counted("Shadow mode: agent recommendation against human decision", pairs,
                                     ("recommendation", "human_decision"), {"runs": None})}

    def runs_behind(self) -> list[RunsBehind]:
        """Every count shadow mode shows with the runs it counts (``runs_behind.py``)."""
        return [s for c in self.counted().values() for s in c.all_behind(c.totals())]

    def export_regression_set(self, path: str | Path, ts=None) -> Path:
        """The disagreements as JSONL eval cases: the run's input, the agent's answer, the expected (human) answer."""
        path = Path(path)
        cases = self.disagreements()
        if ts is not None:
            inputs = (ts.steps.filter(pl.col("parent_id").is_null()).select("run_id", "input").unique("run_id").collect())
            cases = cases.join(inputs, on="run_id", how="left")
        with path.open("w") as out:
            for row in cases.iter_rows(named=True):
                out.write(json.dumps({"run_id": row["run_id"], "agent": row["agent"], "input": row.get("input"),
                                      "agent_output": row["recommendation"], "expected": row["human_decision"]}) + "\n")
        return path

    def to_polars(self) -> pl.DataFrame:
        return self.pairs

    def to_dict(self) -> dict:
        return {"title": self.title, "compared": self.compared, "agreement_rate": self.agreement_rate,
                "by_agent": records(self.by_agent()), "confusion": records(self.confusion()),
                "pairs": records(self.pairs)}

    def html(self) -> str:
        return (f"<p class='agentops-lead'>{self.compared} runs compared, agreement {pct(self.agreement_rate)}, "
                f"{self.disagreements().height} disagreements</p>"
                + table(self.confusion(), caption="agent recommendation (rows) against human decision (columns)")
                + table(self.by_agent(), caption="by agent"))

    def _repr_html_(self) -> str:
        return f"<div class='agentops-shadow'><h4>{self.title}</h4>{self.html()}</div>"

    def figure(self):
        return shadow_confusion(self.confusion())


def shadow_report(ts, recommendation_attribute: str = "agentops.recommendation", engine=None) -> ShadowReport:
    """Shadow runs' recommendations (a root-span attribute) against the ``human_decision`` labels. ``engine``:
    where the shadow runs and their root spans are found (``engine.py``); the attribute is read in polars.

    Example (``ts`` is a TraceSet; run in a folder made by ``agentops-kit init``)::

        >>> shadow = ak.shadow_report(ts)
        >>> shadow.compared, round(shadow.agreement_rate, 3)
        (98, 0.806)
    """
    eng = get_engine(engine)
    t = eng.tables(ts)
    decisions = (ts.labels.filter(pl.col("name") == "human_decision").group_by("run_id")
                 .agg(pl.col("value").last().alias("human_decision")))
    shadow = t.runs.filter(nw.col("mode") == Mode.SHADOW.value).select("run_id", "agent", "started_at")
    roots = (t.steps.filter(nw.col("parent_id").is_null()
                            & nw.col("attributes").str.contains(recommendation_attribute, literal=True))
             .select("run_id", "attributes").join(shadow, on="run_id", how="inner"))
    recommendations = (eng.collect(roots).lazy()
                       .select("run_id", "agent", pl.col("started_at").cast(UTC_TS),
                               pl.col("attributes").str.json_path_match(f'$["{recommendation_attribute}"]')
                               .alias("recommendation"))
                       .filter(pl.col("recommendation").is_not_null()).unique("run_id"))
    pairs = (recommendations.join(decisions, on="run_id", how="inner")
             .with_columns((pl.col("recommendation").str.strip_chars().str.to_lowercase()
                            == pl.col("human_decision").str.strip_chars().str.to_lowercase()).alias("agree"))
             .select("run_id", "agent", "started_at", "recommendation", "human_decision", "agree")
             .sort("started_at").collect())
    return ShadowReport(pairs)
