"""Where an export keeps what the conventions don't standardise: outcome, workflow, mode, agent, approvals.

Every list of attribute names is tried in order; the first attribute present wins. Defaults fit the
bundled sample data and exports that follow the GenAI / OpenInference conventions. See
``templates/mapping.yaml`` for the documented file.
"""

from __future__ import annotations

import os

from pydantic import Field

from .config import Strict, load_model


class OutcomeMapping(Strict):
    attributes: list[str] = ["agentops.outcome", "outcome"]
    success: list[str] = ["success", "succeeded", "ok", "resolved", "completed", "done"]
    escalated: list[str] = ["escalated", "escalation", "handoff", "handed_off", "transferred"]
    failure: list[str] = ["failure", "failed", "error", "aborted"]
    escalation_tools: list[str] = [
        "transfer_to_human_agents", "escalate_to_human", "handoff_to_human", "escalate",
    ]
    error_status_is_failure: bool = True
    label: str | None = "reward"
    label_success_min: float = 1.0


class ModeMapping(Strict):
    attributes: list[str] = ["agentops.mode", "deployment.mode"]
    shadow_values: list[str] = ["shadow", "dry_run", "dry-run"]


class ApprovalMapping(Strict):
    span_names: list[str] = ["approval", "human_approval", "approval_decision"]
    decision_attributes: list[str] = ["agentops.approval.decision", "approval.decision"]
    approver_attributes: list[str] = ["agentops.approval.approver", "approval.approver"]
    approved_values: list[str] = ["approved", "approve", "yes", "granted"]
    rejected_values: list[str] = ["rejected", "reject", "no", "denied"]


class RedTeamMapping(Strict):
    """How a red-team exercise run is marked: it is kept out of the production numbers and scored on its own.
    Any one marker is enough."""

    mode_values: list[str] = ["red_team", "red-team", "redteam"]  # a value of the mode attributes
    attributes: list[str] = ["agentops.red_team"]  # an attribute, on any span of the run, that is true
    label: str | None = "red_team"  # a label that is true


class Mapping(Strict):
    agent_attributes: list[str] = ["gen_ai.agent.name", "agent.name"]
    # used only when no span of the run names its agent
    agent_fallback_attributes: list[str] = ["service.name", "langfuse.trace.name"]
    agent_version_attributes: list[str] = ["gen_ai.agent.version", "agent.version", "service.version"]
    workflow_attributes: list[str] = ["agentops.workflow", "workflow.name", "gen_ai.workflow.name"]
    step_kind_attributes: list[str] = ["agentops.step.kind"]
    action_tools: list[str] = Field(default_factory=list)
    outcome: OutcomeMapping = OutcomeMapping()
    mode: ModeMapping = ModeMapping()
    approval: ApprovalMapping = ApprovalMapping()
    red_team: RedTeamMapping = RedTeamMapping()


def load_mapping(mapping: str | os.PathLike[str] | Mapping | None) -> Mapping:
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    return load_model(mapping, Mapping)
