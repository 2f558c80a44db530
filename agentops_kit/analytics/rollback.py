"""Rollback plans: per agent, who rolls it back and how (the ``rollback`` section of the readiness file).

An agent with an owner and a plan passes the go/no-go line ``rollback_plan``; an agent whose entry is
``none`` (said out loud: there is no way back) or that the section does not name has the line open (no-go).
The weekly report shows the plan next to every agent in breach.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import Strict
from ..model import Verdict

CHECK = "rollback_plan"
DEFINITION = "the readiness file names who rolls the agent back and how"


class RollbackPlan(Strict):
    owner: str = Field(min_length=1)
    plan: str = Field(min_length=1)


Rollback = dict[str, RollbackPlan | Literal["none"]]


def describe(rollback: Rollback | None, agent: str) -> str:
    """One line for a reader: the owner and plan, or why there is none."""
    entry = (rollback or {}).get(agent)
    if isinstance(entry, RollbackPlan):
        return f"rollback: {entry.owner} — {entry.plan}"
    if entry == "none":
        return "rollback plan: none (the readiness file says so)"
    return "rollback plan: missing (not named in the readiness file)"


def rollback_lines(agents: list[str], rollback: Rollback | None) -> list[dict]:
    """One go/no-go line per agent, in the readiness line schema."""
    rows = []
    for agent in agents:
        entry = (rollback or {}).get(agent)
        planned = isinstance(entry, RollbackPlan)
        rows.append({"agent": agent, "area": "Rollback", "check": CHECK,
                     "verdict": (Verdict.GO if planned else Verdict.NO_GO).value, "measured": None,
                     "threshold": "owner and plan named", "evidence": describe(rollback, agent),
                     "owner": entry.owner if isinstance(entry, RollbackPlan) else None, "definition": DEFINITION})
    return rows
