"""What a set of traces holds (weeks, agents, workflows), so that "nothing to show" is said plainly.

Asking for a week without runs, an agent with no runs (often a typo) or reading an empty export is not an
empty answer: it is an error that lists what the data does hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .errors import UsageError
from .weeks import week_of


class NothingToShow(UsageError):
    """The traces hold no run for what was asked (no runs at all, a week, an agent or a workflow)."""


@dataclass(frozen=True)
class Holdings:
    runs: int
    weeks: list[str]
    agents: list[str]
    workflows: list[str]

    def describe(self) -> str:
        if not self.runs:
            return "the traces hold no runs"
        weeks = (self.weeks[0] if len(self.weeks) == 1 else f"{self.weeks[0]} .. {self.weeks[-1]}") if self.weeks else "none"
        return (f"the traces hold {self.runs} runs; weeks: {weeks}; agents: {', '.join(self.agents) or 'none'}; "
                f"workflows: {', '.join(self.workflows) or 'none'}")


def holdings(ts) -> Holdings:
    """Runs, weeks (sorted), agents and workflows of a TraceSet, in one pass over the runs table."""
    row = ts.runs.select(
        pl.len().alias("runs"),
        # the Mondays, then their names: naming every run's week first would make a string per run
        pl.col("started_at").dt.truncate("1w").drop_nulls().unique().sort().implode().alias("weeks"),
        pl.col("agent").drop_nulls().unique().sort().implode().alias("agents"),
        pl.col("workflow").drop_nulls().unique().sort().implode().alias("workflows"),
    ).collect().row(0, named=True)
    return Holdings(row["runs"], [week_of(monday) for monday in row["weeks"] or []], row["agents"] or [],
                    row["workflows"] or [])


def require_runs(ts, week: str | None = None, agents=None, workflows=None, what: str = "") -> Holdings:
    """Raise NothingToShow, naming what the data holds, unless ``ts`` has runs for every name asked for."""
    held = holdings(ts)
    prefix = f"{what}: " if what else ""
    if not held.runs:
        raise NothingToShow(f"{prefix}the traces hold no runs (empty export, or every record was rejected)")
    missing = [f"agent {a!r}" for a in (agents or []) if a not in held.agents]
    missing += [f"workflow {w!r}" for w in (workflows or []) if w not in held.workflows]
    if week is not None and week not in held.weeks:
        missing.append(f"week {week}")
    if missing:
        raise NothingToShow(f"{prefix}no runs for {', '.join(missing)}; {held.describe()}")
    return held


def _not_held(kind: str, names, present: list[str]) -> list[str]:
    names = names if isinstance(names, dict) else dict.fromkeys(names)  # name -> where it is named, or None
    return [f"{kind} {n!r}" + (f" (in {where})" if where else "") for n, where in names.items() if n not in present]


def require_named(ts, what: str, agents=(), workflows=()) -> Holdings:
    """Raise NothingToShow unless every agent and workflow a configuration entry names (a policy, an error
    budget, a baseline) has runs in the traces as loaded: a name without runs is most often a typo, and
    checking it would report "0 runs, 0 problems". ``agents`` / ``workflows``: names, or a dict of name ->
    where it is named. The whole set loaded counts (``ts.whole`` when ``ts`` was filtered from it): an agent
    without runs in the week reported on is not a typo."""
    held = holdings(getattr(ts, "whole", None) or ts)
    if not held.runs:
        raise NothingToShow(f"{what}: the traces hold no runs (empty export, or every record was rejected)")
    missing = _not_held("agent", agents, held.agents) + _not_held("workflow", workflows, held.workflows)
    if missing:
        verb = "has" if len(missing) == 1 else "have"
        raise NothingToShow(f"{what}: {', '.join(missing)} {verb} no run in the traces loaded (a typo?); "
                            f"{held.describe()}")
    return held
