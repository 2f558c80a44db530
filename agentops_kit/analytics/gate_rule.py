"""The rule (``gate_removal:`` in the readiness YAML) that says when an approval gate may be relaxed.

It lives apart from ``gates.py`` so that the readiness file can hold it without readiness importing the
evidence it is applied to (see ``gates.py`` for what each bound is compared with).
"""

from __future__ import annotations

from pydantic import Field

from ..config import Strict


class GateRule(Strict):
    min_decisions: int = Field(ge=1)
    min_weeks: int = Field(ge=1, description="consecutive ISO weeks without a rejection, up to as_of")
    max_rejections: int = Field(0, ge=0)
    max_edits: int = Field(0, ge=0)
    max_customer_impact_errors: int = Field(0, ge=0)
    max_policy_violations: int | None = Field(0, ge=0, description="null: not part of the rule")
    window_weeks: int | None = Field(None, gt=0, description="evidence window; null: the whole history")
    edited_values: list[str] = ["edited", "edit", "modified", "approved_with_edits", "approved_with_changes"]
