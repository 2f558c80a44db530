"""Every refusal of the approvals queue is its own, specific exception."""

from __future__ import annotations

from ..errors import AgentOpsError


class ApprovalError(AgentOpsError):
    """Root of the approvals errors. Messages quote names and values from the store, which may have been
    edited to hold terminal escape sequences: they are made visible here, once for all."""

    def __init__(self, *args):
        from ..terminal import safe

        super().__init__(*(safe(a) if isinstance(a, str) else a for a in args))


class StoreError(ApprovalError):
    """The database cannot be reached, or cannot be written."""


class NoStore(StoreError):
    """There is no approvals store at the URL (and the command only reads, so none is created)."""


class KeyRequired(ApprovalError):
    """The store's audit chain is keyed and no key was given: its MACs can be neither checked nor continued."""

    def __init__(self, key_id: str):
        self.key_id = key_id
        super().__init__(f"this store's audit log is keyed (key id {key_id}): give its key with --key-file, "
                         "$AGENTOPS_AUDIT_KEY or $AGENTOPS_AUDIT_KEY_FILE")


class KeyNotAdopted(ApprovalError):
    """A key was given for a store whose log was written without one: it is adopted only explicitly."""

    def __init__(self, rows: int):
        super().__init__(f"this store's audit log holds {rows} rows written without a key: adopt the key explicitly "
                         "with `agentops-kit approvals adopt-key --db URL --key-file FILE --checkpoint FILE` (the "
                         "log is verified first), or work without the key")


class PolicyConflict(ApprovalError):
    """An approvers policy was passed that differs from the one stored: the stored one stays in force."""


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
        super().__init__(f"request {request_id[:40]} expired at {expires_at.isoformat()}; it can no longer be decided")


class ApprovalNotGranted(ApprovalError):
    """Raised to the agent: do not act. ``outcome`` says why."""

    def __init__(self, outcome, message: str | None = None):
        self.outcome = outcome
        super().__init__(message or outcome.message)


class ApprovalRejected(ApprovalNotGranted):
    pass


class ApprovalExpired(ApprovalNotGranted):
    pass


class ApprovalTimeout(ApprovalNotGranted):
    """The caller stopped waiting: the request stays pending. Not a decision."""


class ApprovalConsumed(ApprovalNotGranted):
    """The approval was already used for one execution and cannot be used again."""


class ApprovalMismatch(ApprovalNotGranted):
    """The arguments the tool is about to run with are not the ones that were approved."""


class AuditMismatch(ApprovalNotGranted):
    """The store disagrees with its own audit log (a request row, or the chain itself): nothing it says about
    this request counts as approved. ``outcome`` is None when the problem is with the whole store."""

    exit_code = 1  # tampering found, as `approvals verify` says it

    @classmethod
    def of_store(cls, problem: str) -> AuditMismatch:
        return cls(None, f"the approvals store does not match its audit log: {problem}; "
                         "run `agentops-kit approvals verify`")


class AgentStopped(ApprovalNotGranted):
    """The agent is stopped (kill switch): it must not act. ``agent``, ``stopped_by``, ``stopped_at`` (ISO-8601
    UTC), ``reason`` say by whom, when and why. A subclass of ApprovalNotGranted, so code that already treats
    "not granted" as "do not act, escalate" does the same for a stop."""

    def __init__(self, agent: str, stopped_by: str | None = None, stopped_at: str | None = None,
                 reason: str | None = None, message: str | None = None):
        self.agent, self.stopped_by, self.stopped_at, self.reason = agent, stopped_by, stopped_at, reason
        super().__init__(None, message or (f"agent {agent} is stopped (by {stopped_by} at {stopped_at}: {reason}) "
                                           "— do not act; a second person resumes it with `agentops-kit agents "
                                           "resume`"))


class StopStatusUnknown(AgentStopped):
    """Whether the agent is stopped cannot be told (the store cannot be reached, or its stop records do not
    check): refused all the same — the kill switch fails closed."""

    def __init__(self, agent: str, problem: str):
        self.problem = problem
        super().__init__(agent, message=f"cannot tell whether agent {agent} is stopped ({problem}) — refusing to "
                                        "act (the kill switch fails closed)")


class NotStopped(ApprovalError):
    """A resume was asked for an agent that is not stopped."""
