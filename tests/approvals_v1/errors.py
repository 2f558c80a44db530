"""Every refusal of the approvals queue is its own, specific exception."""

from __future__ import annotations

from agentops_kit.errors import AgentOpsError


class ApprovalError(AgentOpsError):
    """Root of the approvals errors."""


class StoreError(ApprovalError):
    """The database cannot be reached, or cannot be written."""


class RequestNotFound(ApprovalError):
    pass


class InvalidRequest(ApprovalError):
    """Bad input to submit/approve/reject (params not JSON-serialisable, missing reason, ...)."""


class UnknownAction(ApprovalError):
    """The action is not in the approvers file."""


class NotAllowed(ApprovalError):
    """The approver may not decide this action."""


class SelfApproval(NotAllowed):
    """Separation of duties: the requester cannot decide its own request."""


class AlreadyDecided(ApprovalError):
    def __init__(self, request_id: str, status: str, by: str | None, at):
        self.request_id, self.status, self.by, self.at = request_id, status, by, at
        when = at.isoformat() if hasattr(at, "isoformat") else at
        super().__init__(f"request {request_id} was already {status} by {by} at {when}")


class Expired(ApprovalError):
    def __init__(self, request_id: str, expires_at):
        self.request_id, self.expires_at = request_id, expires_at
        super().__init__(f"request {request_id} expired at {expires_at.isoformat()}; it can no longer be decided")


class ApprovalNotGranted(ApprovalError):
    """Raised to the agent: do not act. ``outcome`` says why."""

    def __init__(self, outcome):
        self.outcome = outcome
        super().__init__(outcome.message)


class ApprovalRejected(ApprovalNotGranted):
    pass


class ApprovalExpired(ApprovalNotGranted):
    pass


class ApprovalTimeout(ApprovalNotGranted):
    """The caller stopped waiting: the request stays pending. Not a decision."""


class ApprovalConsumed(ApprovalNotGranted):
    """The approval was already used for one execution and cannot be used again."""
