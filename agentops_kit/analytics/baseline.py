"""Human baselines per workflow, for time saved: minutes a human spends per task, loaded hourly cost,
and the human time an agent still costs (reviewing an approval, taking over an escalation).

From a small YAML file (``templates/baselines.yaml``) or from the workflow inventory.
"""

from __future__ import annotations

from pathlib import Path

import narwhals as nw
import polars as pl
from pydantic import Field, PrivateAttr

from ..config import Strict, load_model
from ..errors import ConfigError
from ..scope import require_named


class Baseline(Strict):
    human_minutes_per_run: float = Field(gt=0)
    hourly_cost_usd: float | None = Field(default=None, ge=0)
    review_minutes_per_approval: float = Field(default=2.0, ge=0)
    minutes_per_escalation: float = Field(default=3.0, ge=0,
                                          description="human time spent reading the agent's hand-off, on top of doing the task")


class Baselines(Strict):
    workflows: dict[str, Baseline] = Field(default_factory=dict)
    _source: str | None = PrivateAttr(default=None)  # the baselines file, when read from one
    _from_inventory: bool = PrivateAttr(default=False)

    def require_runs(self, ts) -> None:
        """A workflow of a baselines file with no run in the traces loaded (a typo, most often) raises
        NothingToShow. Baselines taken from the inventory are not checked: an inventory lists candidates for
        automation, most of them without an agent yet."""
        if self.workflows and not self._from_inventory:
            require_named(ts, f"baselines {self._source}" if self._source else "baselines",
                          workflows=dict.fromkeys(self.workflows))

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(w, b.human_minutes_per_run, b.hourly_cost_usd, b.review_minutes_per_approval, b.minutes_per_escalation)
             for w, b in self.workflows.items()], orient="row",
            schema={"workflow": pl.String, "human_minutes_per_run": pl.Float64, "hourly_cost_usd": pl.Float64,
                    "review_minutes_per_approval": pl.Float64, "minutes_per_escalation": pl.Float64})

    def columns(self) -> list[nw.Expr]:
        """The baseline of each run's workflow as columns (null for a workflow without one), on any engine: a
        choice among the few workflows of the file, cheaper than joining every run with the table."""
        def of(field: str) -> nw.Expr:
            value: nw.Expr = nw.lit(None, dtype=nw.Float64)
            for workflow, baseline in reversed(self.workflows.items()):
                number = getattr(baseline, field)
                value = nw.when(nw.col("workflow") == workflow).then(
                    nw.lit(None if number is None else float(number), dtype=nw.Float64)).otherwise(value)
            return value.alias(field)
        return [of(f) for f in Baseline.model_fields]

    @classmethod
    def from_inventory(cls, inventory) -> Baselines:
        from ..inventory import read_inventory, validate

        frame, file = read_inventory(inventory)
        inv = validate(frame, file)
        made = cls(workflows={r["workflow"]: Baseline(human_minutes_per_run=r["human_minutes_per_run"],
                                                      hourly_cost_usd=r["hourly_cost_usd"])
                              for r in inv.iter_rows(named=True)})
        made._from_inventory = True
        return made


def load_baselines(source) -> Baselines:
    if source is None:
        return Baselines()
    if isinstance(source, Baselines):
        return source
    path = Path(source)
    if path.suffix.lower() in (".csv",):
        return Baselines.from_inventory(path)
    loaded = load_model(path, Baselines)
    if not loaded.workflows:  # an empty file would give every workflow "no baseline" without a word
        raise ConfigError(str(path), "no workflows: expected 'workflows:' with a human_minutes_per_run for each",
                          key="workflows")
    loaded._source = str(path)
    return loaded
