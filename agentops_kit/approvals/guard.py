"""``guard``: agent code that does nothing while its agent is stopped — and nothing when that cannot be told."""

from __future__ import annotations

import functools
from pathlib import Path

from .errors import AgentStopped, StopStatusUnknown
from .identity import required_name


class Guard:
    """See ``guard``. ``check()`` asks the store once; entering the context and each decorated call check."""

    def __init__(self, queue, agent: str, key_file: str | Path | None = None):
        self.agent = required_name(agent, "agent")
        self._queue = queue if not isinstance(queue, (str, Path)) else None
        self._url = str(queue)  # used only when given a URL
        self._key_file: str | Path | None = key_file

    def _store(self):
        if self._queue is None:
            from .queue import ApprovalQueue

            # an agent never creates the store it is guarded by: no store is no answer
            self._queue = ApprovalQueue(self._url, key_file=self._key_file, create=False)
        return self._queue

    def check(self) -> None:
        """Return when the agent may act; else AgentStopped (StopStatusUnknown when the store cannot tell)."""
        try:
            stop = self._store().agent_status(self.agent)
        except AgentStopped:
            raise
        except Exception as exc:  # fail closed on anything: unreachable, tampered, no key, a driver's own error
            raise StopStatusUnknown(self.agent, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        if stop is not None:
            raise AgentStopped(stop.agent, stop.stopped_by, stop.stopped_at, stop.reason)

    def __enter__(self) -> Guard:
        self.check()
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, func):
        @functools.wraps(func)
        def guarded(*args, **kwargs):
            self.check()
            return func(*args, **kwargs)

        return guarded


def guard(queue, *, agent: str, key_file: str | Path | None = None) -> Guard:
    """Refuse to act for a stopped agent: a context manager and a decorator that raise ``AgentStopped``.

    ``queue`` is an ``ApprovalQueue`` or the URL of its store (then ``key_file``, or the usual environment
    variables, give the audit key). The store is asked on entering the ``with`` block and on every call of a
    decorated function. It fails closed: when the store cannot be reached, or its stop records do not check
    against the audit log, it raises ``StopStatusUnknown`` (an ``AgentStopped``) — the agent does nothing.
    Stop an agent with ``agentops-kit agents stop AGENT --reason R --as ME`` or ``queue.stop_agent``.

    Example::

        >>> q = ak.ApprovalQueue("sqlite:///approvals.db")
        >>> @ak.guard(q, agent="SupportRefundAgent")
        ... def handle_ticket(ticket: str) -> str:
        ...     return f"handled {ticket}"
        >>> handle_ticket("T-1")
        'handled T-1'
        >>> stop = q.stop_agent("SupportRefundAgent", reason="refunds paid twice", actor="alice")
        >>> handle_ticket("T-2")
        Traceback (most recent call last):
        agentops_kit.approvals.errors.AgentStopped: agent SupportRefundAgent is stopped (by alice at ...
        >>> with ak.guard(q, agent="SupportRefundAgent"):
        ...     pass
        Traceback (most recent call last):
        agentops_kit.approvals.errors.AgentStopped: agent SupportRefundAgent is stopped (by alice at ...
        >>> q.resume_agent("SupportRefundAgent", actor="bob").resumed_by
        'bob'
        >>> handle_ticket("T-3")
        'handled T-3'
    """
    return Guard(queue, agent, key_file)
