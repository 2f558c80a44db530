"""Approvals: a durable queue of actions awaiting a human, with a tamper-evident audit log."""

from .approvers import Approvers, load_approvers
from .audit import VerifyResult
from .decorator import require_approval
from .demo import seed_from_traces
from .errors import (
                     AlreadyDecided,
                     ApprovalConsumed,
                     ApprovalError,
                     ApprovalExpired,
                     ApprovalNotGranted,
                     ApprovalRejected,
                     ApprovalTimeout,
                     Expired,
                     InvalidRequest,
                     NotAllowed,
                     RequestNotFound,
                     SelfApproval,
                     StoreError,
                     UnknownAction,
)
from .queue import ApprovalQueue
from .request import ApprovalRequest, Outcome

__all__ = [
    "AlreadyDecided", "ApprovalConsumed", "ApprovalError", "ApprovalExpired", "ApprovalNotGranted", "ApprovalQueue",
    "ApprovalRejected", "ApprovalRequest", "ApprovalTimeout", "Approvers", "Expired", "InvalidRequest", "NotAllowed",
    "Outcome", "RequestNotFound", "SelfApproval", "StoreError", "UnknownAction", "VerifyResult", "load_approvers",
    "require_approval", "seed_from_traces",
]
