"""Who may approve which action (an approvers YAML file), compared by normalised identity."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..config import Strict, load_model
from .errors import InvalidRequest
from .identity import MAX_NAME, check_identity, check_name, normalise


def _check_entry(entry: str, where: str) -> str:
    if entry == "*" or entry.startswith("group:"):
        return entry if entry == "*" else "group:" + check_name(entry[6:], f"{where}: group name", MAX_NAME)
    return check_identity(entry, f"{where}: person")


def _as_value_error(check):
    """Run a name check inside a pydantic validator, where only a ValueError becomes a located error."""
    def run(cls, value):
        try:
            return check(value)
        except InvalidRequest as exc:
            raise ValueError(str(exc)) from None
    return run


class Approvers(Strict):
    """``actions`` maps an action to the people (or ``group:NAME``, or ``"*"`` for anyone but the requester)
    who may decide it; ``groups`` maps group names to people; ``admins`` are the people who may change this
    policy once it is stored (empty: anyone who can write to the store, recorded in the audit log)."""

    groups: dict[str, list[str]] = Field(default_factory=dict)
    actions: dict[str, list[str]] = Field(default_factory=dict)
    admins: list[str] = Field(default_factory=list)

    _people_in_groups = field_validator("groups")(classmethod(_as_value_error(lambda groups: {
        check_name(g, "group name", MAX_NAME): [check_identity(p, f"group {g}: person") for p in people]
        for g, people in groups.items()})))
    _entries = field_validator("actions")(classmethod(_as_value_error(lambda actions: {
        check_name(a, "action", MAX_NAME): [_check_entry(e, f"action {a}") for e in entries]
        for a, entries in actions.items()})))
    _admins = field_validator("admins")(classmethod(_as_value_error(
        lambda admins: [check_identity(p, "admins: person") for p in admins])))

    @model_validator(mode="after")
    def _groups_exist(self) -> Approvers:
        for action, entries in self.actions.items():
            for entry in entries:
                if entry.startswith("group:") and entry[6:] not in self.groups:
                    raise ValueError(f"action {action} names {entry}, but no group {entry[6:]} is defined")
        return self

    def knows(self, action: str) -> bool:
        return action in self.actions

    def may_decide(self, action: str, person: str) -> bool:
        who = normalise(person)
        for entry in self.actions.get(action, ()):
            if entry == "*" or (not entry.startswith("group:") and normalise(entry) == who):
                return True
            if entry.startswith("group:") and who in {normalise(p) for p in self.groups.get(entry[6:], ())}:
                return True
        return False

    def may_change(self, person: str) -> bool:
        return not self.admins or normalise(person) in {normalise(p) for p in self.admins}

    def fingerprint(self) -> str:
        """SHA-256 of the policy's canonical JSON: two files saying the same thing have one fingerprint."""
        from .audit import canonical

        return hashlib.sha256(canonical(self.model_dump()).encode()).hexdigest()


def load_approvers(source) -> Approvers | None:
    if source is None or isinstance(source, Approvers):
        return source
    if isinstance(source, dict):
        from pydantic import ValidationError

        try:
            return Approvers.model_validate(source)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise InvalidRequest(f"approvers policy, {where}: {first['msg'].removeprefix('Value error, ')}") from None
    return load_model(Path(source), Approvers)
