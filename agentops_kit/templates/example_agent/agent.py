"""An example agent using the kit's agent side: the kill switch (``ak.guard``), an approval gate
(``@ak.require_approval``) and the tracing defaults (``ak.tracing``), whose traces the kit reads with no
mapping. No LLM call: the "decision" is a rule, so the example runs anywhere.

    python agent.py --db sqlite:///approvals.db --traces example.otlp.jsonl --order O-1 --amount 42.50

It waits (up to --timeout seconds) for a person to approve the refund, e.g. with
``agentops-kit approvals approve ID --as alice --db sqlite:///approvals.db``; then
``agentops-kit metrics example.otlp.jsonl`` shows the run.
"""

from __future__ import annotations

import argparse

import agentops_kit as ak
from agentops_kit.approvals import ApprovalRejected, ApprovalTimeout

AGENT, WORKFLOW, ACTION = "ExampleRefundAgent", "support_refunds", "refund_request_submit"


def handle(order: str, amount: float, queue, tracing, timeout: float = 300.0) -> str:
    """One run: look the order up, ask a human to approve the refund, submit it once approved."""

    @ak.require_approval(queue, ACTION, agent=AGENT, requested_by="svc-example-agent", timeout=timeout, poll=0.1)
    def refund_request_submit(order: str, amount: float) -> str:
        with tracing.action(ACTION, {"order": order, "amount": amount}) as call:  # runs only once approved
            call.output({"status": "submitted"})
        return "refunded"

    with tracing.run() as run, ak.guard(queue, agent=AGENT):  # a stopped agent's run ends here, traced as failed
        with tracing.tool("order_lookup", {"order": order}) as call:
            call.output({"order": order, "paid": amount, "damaged": True})  # a real agent asks its order system
        try:
            result = refund_request_submit(order, amount, run_id=run.run_id)
        except ApprovalRejected:
            run.approval_from(queue, ACTION)
            run.escalate("the refund was rejected by a person")
            return "rejected"
        except ApprovalTimeout:
            run.escalate(f"no decision on the refund within {timeout} s")
            return "escalated"
        run.approval_from(queue, ACTION)  # the decision, as the approvals store wrote it
        run.outcome("success")
        return result


def main(argv=None) -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--db", required=True, help="approvals store URL")
    args.add_argument("--traces", required=True, help="file the OTLP/JSON lines are appended to")
    args.add_argument("--order", required=True)
    args.add_argument("--amount", type=float, required=True)
    args.add_argument("--timeout", type=float, default=300.0)
    a = args.parse_args(argv)
    with ak.tracing(agent=AGENT, workflow=WORKFLOW, mode="active", file=a.traces) as tracing:
        try:
            print(handle(a.order, a.amount, ak.ApprovalQueue(a.db, create=False), tracing, a.timeout))
        except ak.AgentOpsError as exc:  # stopped, no store, or the store cannot tell: do nothing, say why
            raise SystemExit(f"not acting: {exc}") from None


if __name__ == "__main__":
    main()
