"""Approvals: a durable queue of actions awaiting a human, with a keyed audit log that is the truth."""

from .approvers import Approvers, load_approvers
from .audit import Head
from .decorator import require_approval
from .demo import seed_from_traces
from .errors import (
                     AgentStopped,
                     AlreadyDecided,
                     ApprovalConsumed,
                     ApprovalError,
                     ApprovalExpired,
                     ApprovalMismatch,
                     ApprovalNotGranted,
                     ApprovalRejected,
                     ApprovalTimeout,
                     AuditMismatch,
                     Expired,
                     InvalidRequest,
                     KeyNotAdopted,
                     KeyRequired,
                     NoStore,
                     NotAllowed,
                     NotStopped,
                     PolicyConflict,
                     RequestNotFound,
                     SelfApproval,
                     StopStatusUnknown,
                     StoreError,
                     UnknownAction,
)
from .guard import Guard, guard
from .identity import normalise
from .keys import AuditKey, generate_key
from .queue import ApprovalQueue
from .request import ApprovalRequest, Outcome
from .stops import Stop
from .verify import VerifyResult, verify_export

__all__ = [
    "AgentStopped", "Guard", "NotStopped", "Stop", "StopStatusUnknown", "guard",
    "AlreadyDecided", "ApprovalConsumed", "ApprovalError", "ApprovalExpired", "ApprovalMismatch", "ApprovalNotGranted",
    "ApprovalQueue", "ApprovalRejected", "ApprovalRequest", "ApprovalTimeout", "Approvers", "AuditKey", "AuditMismatch",
    "Expired", "Head", "InvalidRequest", "KeyNotAdopted", "KeyRequired", "NoStore", "NotAllowed", "Outcome", "PolicyConflict",
    "RequestNotFound", "SelfApproval", "StoreError", "UnknownAction", "VerifyResult", "generate_key", "load_approvers",
    "normalise", "require_approval", "seed_from_traces", "verify_export",
]
