"""``@require_approval``: a tool function that runs only after a human approved this exact call."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect

from .audit import canonical
from .errors import ApprovalConsumed, ApprovalExpired, ApprovalRejected, ApprovalTimeout
from .request import Outcome


def require_approval(queue, action: str, *, agent: str, requested_by: str,
                     expires_in: dt.timedelta = dt.timedelta(hours=4), timeout: float = 300.0, poll: float = 0.25):
    """Wrap a tool function. Call it with ``run_id=`` (required) and optionally ``approval_context={"before":
    …, "after": …, "sources": […], "uncertainty": "…"}``; the other arguments are the action's parameters.

    It submits the call (idempotent per run, action and parameters), waits up to ``timeout`` seconds, and
    runs the function only when approved, recording the execution so an approval is used once. Otherwise it
    raises ApprovalRejected, ApprovalExpired or ApprovalTimeout (the request stays pending: do not act, escalate).
    A retried run has a new run_id, so it never reuses an earlier run's decision.

    Example::

        >>> q = ak.ApprovalQueue("sqlite:///approvals.db")
        >>> @ak.require_approval(q, "refund_request_submit", agent="SupportRefundAgent",
        ...                      requested_by="svc-refund-agent", timeout=0)
        ... def refund_request_submit(order: str, amount: float):
        ...     return f"refunded {amount} on {order}"
        >>> refund_request_submit("O-1", 120.0, run_id="run-2")  # nobody has decided yet
        Traceback (most recent call last):
        agentops_kit.approvals.errors.ApprovalTimeout: request ... is not approved yet — do not act ...
        >>> decision = q.approve(q.pending()[0].id, approver="alice")
        >>> refund_request_submit("O-1", 120.0, run_id="run-2")
        'refunded 120.0 on O-1'
    """

    def decorate(func):
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args, run_id: str, approval_context: dict | None = None, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            context = approval_context or {}
            params = dict(bound.arguments)
            # one request per run, action and parameters, whatever context is shown to the approver
            key = f"{run_id}:{action}:" + hashlib.sha256(canonical(params).encode()).hexdigest()
            req = queue.submit(agent=agent, action=action, params=params, requested_by=requested_by,
                               run_id=run_id, before=context.get("before"), after=context.get("after"),
                               sources=context.get("sources"), uncertainty=context.get("uncertainty"),
                               expires_in=expires_in, idempotency_key=key)
            outcome = queue.wait(req.id, timeout=timeout, poll=poll)
            if outcome.state == "rejected":
                raise ApprovalRejected(outcome)
            if outcome.state == "expired":
                raise ApprovalExpired(outcome)
            if outcome.state == "pending":
                raise ApprovalTimeout(outcome)
            if queue.get(req.id).executed_at is not None:
                raise ApprovalConsumed(Outcome(req.id, "approved", outcome.decided_by, outcome.decided_at,
                                               "already executed once under this approval"))
            queue.mark_executed(req.id, actor=requested_by)
            return func(*bound.args, **bound.kwargs)

        return wrapper

    return decorate
