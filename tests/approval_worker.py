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


if __name__ == "__main__":
    cmd, url, *rest = sys.argv[1:]
    if cmd == "race":
        race(url, rest[0], rest[1:])
    elif cmd == "approve_when_pending":
        approve_when_pending(url, rest[0], float(rest[1]))
    elif cmd == "die":
        die_mid_decision(url, rest[0])
