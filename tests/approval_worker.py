"""Helper processes for the approvals tests (run as `python -m tests.approval_worker CMD ...`)."""

from __future__ import annotations

import json
import os
import sys
import time

from agentops_kit.approvals import AlreadyDecided, ApprovalQueue


def race(url: str, approver: str, ids: list[str]) -> None:
    """Try to decide every request; print which ones this process won."""
    q = ApprovalQueue(url)
    won, lost = [], []
    for request_id in ids:
        try:
            if approver.endswith("-rejecter"):
                q.reject(request_id, approver, reason="race")
            else:
                q.approve(request_id, approver)
            won.append(request_id)
        except AlreadyDecided:
            lost.append(request_id)
    print(json.dumps({"won": won, "lost": lost}))


def approve_when_pending(url: str, approver: str, timeout: float) -> None:
    """Wait for a pending request to appear, then approve it (the human in the decorator test)."""
    q = ApprovalQueue(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = q.pending()
        if items:
            q.approve(items[0].id, approver, note="checked the diff")
            print(items[0].id)
            return
        time.sleep(0.1)
    sys.exit("nothing to approve")


def die_mid_decision(url: str, request_id: str) -> None:
    """Start a decision and die after the UPDATE, before the audit row and commit."""
    from agentops_kit.approvals import audit

    def killed(*_a, **_k):
        os._exit(9)

    audit.append = killed
    ApprovalQueue(url).approve(request_id, "mallory")


def guarded(url: str, agents: list[str]) -> None:
    """Act as each agent: once inside ``ak.guard``, once through ``@require_approval``; print what happened."""
    from agentops_kit.approvals import AgentStopped, guard, require_approval

    queue = ApprovalQueue(url, create=False)
    done = {}
    for agent in agents:
        done[agent] = {}
        try:
            with guard(url, agent=agent):
                done[agent]["guard"] = "acted"
        except AgentStopped as exc:
            done[agent]["guard"] = f"{type(exc).__name__}: {exc}"

        @require_approval(queue, "pay", agent=agent, requested_by="svc-worker", timeout=0)
        def pay(invoice: str) -> str:
            return "acted"

        try:
            done[agent]["decorator"] = pay("I-1", run_id=f"run-{agent}")
        except AgentStopped as exc:
            done[agent]["decorator"] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # e.g. not approved yet: the agent was not refused for being stopped
            done[agent]["decorator"] = type(exc).__name__
    print(json.dumps(done))


if __name__ == "__main__":
    cmd, url, *rest = sys.argv[1:]
    if cmd == "race":
        race(url, rest[0], rest[1:])
    elif cmd == "approve_when_pending":
        approve_when_pending(url, rest[0], float(rest[1]))
    elif cmd == "guarded":
        guarded(url, rest)
    elif cmd == "die":
        die_mid_decision(url, rest[0])
