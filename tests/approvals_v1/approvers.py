"""Who may approve which action (an approvers YAML file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agentops_kit.config import Strict, load_model


class Approvers(Strict):
    """``actions`` maps an action to the people (or ``group:NAME``, or ``"*"`` for anyone) who may decide it;
    ``groups`` maps group names to people."""

    groups: dict[str, list[str]] = Field(default_factory=dict)
    actions: dict[str, list[str]] = Field(default_factory=dict)

    def knows(self, action: str) -> bool:
        return action in self.actions

    def may_decide(self, action: str, person: str) -> bool:
        for entry in self.actions.get(action, ()):
            if entry == "*" or entry == person:
                return True
            if entry.startswith("group:") and person in self.groups.get(entry[6:], ()):
                return True
        return False


def load_approvers(source) -> Approvers | None:
    if source is None or isinstance(source, Approvers):
        return source
    if isinstance(source, dict):
        return Approvers.model_validate(source)
    return load_model(Path(source), Approvers)
