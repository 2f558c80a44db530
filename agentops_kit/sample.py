"""Deterministic sample data: several agents over several weeks, as an OTLP/JSON file-exporter export.

``write_sample(out_dir)`` writes ``traces.otlp.jsonl.gz``, ``labels.csv`` and ``quality_labels.csv`` (CSAT,
re-contact within 7 days and reconciliation results, for ``templates/quality.yaml``; drawn from their own
random stream, so that the traces stay as they were). The same seed gives the same bytes, so the checked-in
copy in ``data/sample/`` can be regenerated and compared.

What it contains, so that the demo exercises every part of the kit: successes, failures (error status
and ``error.type``), escalations (``transfer_to_human_agents``), shadow-mode runs with a recommendation
and a ``human_decision`` label, retrievals with document ids and versions (some without versions),
approval-gated actions (approved, rejected, and executed without approval), runs over their runtime,
tool-call and cost caps, a tool outside the allowlist, an outbound call outside the allowed domains,
calls to a model missing from the price list, customer-impact labels, and one tool output carrying
HTML/script text (which every view must escape).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

END = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)  # Monday 00:00 after ISO week 2026-W47
WEEKS = 7
XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class AgentSpec:
    name: str
    version: str
    workflow: str
    service: str
    model: str
    response_model: str
    runs_per_week: int
    tools: tuple[str, ...]
    action: str | None  # approval-gated action
    knowledge: tuple[str, ...]  # documents it retrieves


AGENTS = (
    AgentSpec("SupportRefundAgent", "1.4.2", "support_refunds", "support-refund-agent", "gpt-4o-mini",
              "gpt-4o-mini-2024-07-18", 34, ("order_lookup", "refund_request_create"),
              "refund_request_submit", ("kb/refund-policy", "kb/shipping-faq", "kb/damaged-items")),
    AgentSpec("InvoiceCategorizer", "0.9.0", "invoice_categorisation", "invoice-categorizer", "gpt-4.1-mini",
              "gpt-4.1-mini-2025-04-14", 30, ("erp_invoice_fetch", "vendor_lookup"),
              "ledger_category_set", ("policy/chart-of-accounts", "policy/expense-rules")),
    AgentSpec("SocAlertTriage", "2.1.0", "soc_alert_triage", "soc-triage-agent", "claude-sonnet-4",
              "claude-sonnet-4-20250514", 20, ("siem_alert_fetch", "threat_intel_lookup", "ticket_create"),
              "host_isolate", ("runbook/phishing", "runbook/malware", "runbook/brute-force")),
)
CATEGORIES = ("software", "travel", "office_supplies", "consulting", "hardware")
APPROVERS = ("alice@example.com", "bob@example.com", "carol@example.com")


class _Trace:
    """Builds the spans of one run in OTLP/JSON form."""

    def __init__(self, rng: random.Random, start: dt.datetime):
        self.rng = rng
        self.trace_id = f"{rng.getrandbits(128):032x}"
        self.clock = start
        self.spans: list[dict] = []
        self.root_id = self.new_id()

    def new_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def span(self, name, attrs, seconds, parent=None, error=None, span_id=None):
        start = self.clock
        self.clock = start + dt.timedelta(seconds=seconds)
        span = {
            "traceId": self.trace_id, "spanId": span_id or self.new_id(),
            "parentSpanId": parent if parent is not None else self.root_id,
            "name": name, "kind": 1,
            "startTimeUnixNano": str(_ns(start)), "endTimeUnixNano": str(_ns(self.clock)),
            "attributes": [_kv(k, v) for k, v in attrs.items() if v is not None],
            "status": {"code": 2, "message": error} if error else {},
        }
        self.spans.append(span)
        self.clock += dt.timedelta(milliseconds=self.rng.randint(20, 300))
        return span


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def _kv(key, value) -> dict:
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, (list, tuple)):
        v = {"arrayValue": {"values": [{"stringValue": str(x)} for x in value]}}
    else:
        v = {"stringValue": str(value)}
    return {"key": key, "value": v}


def _run(rng: random.Random, agent: AgentSpec, start: dt.datetime, week: int, n: int):
    """One run: (spans, labels, run facts)."""
    t = _Trace(rng, start)
    shadow = agent.workflow == "invoice_categorisation" and week < 3 or rng.random() < 0.04
    roll = rng.random()
    outcome = "success" if roll < 0.74 else "escalated" if roll < 0.88 else "failure"
    labels: dict[str, str] = {}
    model = agent.model
    if agent.name == "SocAlertTriage" and rng.random() < 0.08:
        model = "mistral-large-2411"  # a model missing from the price list: its cost stays unknown
    customer = f"C-{rng.randint(10000, 99999)}"
    question = {
        "SupportRefundAgent": f"Customer {customer}: my order arrived damaged, I want a refund.",
        "InvoiceCategorizer": f"Categorise invoice INV-{rng.randint(100000, 999999)} from vendor V-{rng.randint(100, 999)}.",
        "SocAlertTriage": f"Triage SIEM alert AL-{rng.randint(1000, 9999)} on host ws-{rng.randint(10, 99)}.",
    }[agent.name]
    if agent.name == "SupportRefundAgent" and week == WEEKS - 1 and n == 3:
        question = f"Customer {customer}: refund please {XSS}"

    def chat(prompt, answer):
        tokens_in = rng.randint(600, 2400)
        t.span(f"chat {model}", {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai" if "gpt" in model else "anthropic",
            "gen_ai.request.model": model, "gen_ai.response.model": agent.response_model if model == agent.model else model,
            "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": rng.randint(40, 420),
            "gen_ai.usage.cache_read.input_tokens": tokens_in // 3 if rng.random() < 0.3 else None,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
        }, rng.uniform(0.6, 4.5))

    def tool(name, args, result, error=None, kind=None):
        t.span(f"execute_tool {name}", {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": f"call_{rng.getrandbits(40):010x}",
            "gen_ai.tool.call.arguments": json.dumps(args), "gen_ai.tool.call.result": json.dumps(result),
            "agentops.step.kind": kind, "error.type": error,
        }, rng.uniform(0.05, 1.8), error=error)

    def retrieve(query):
        docs = rng.sample(agent.knowledge, k=min(2, len(agent.knowledge)))
        attrs = {"openinference.span.kind": "RETRIEVER", "input.value": query}
        versionless = rng.random() < 0.06
        for i, doc in enumerate(docs):
            attrs[f"retrieval.documents.{i}.document.id"] = doc
            attrs[f"retrieval.documents.{i}.document.score"] = round(rng.uniform(0.55, 0.97), 3)
            if not versionless:
                attrs[f"retrieval.documents.{i}.document.metadata"] = json.dumps({"version": f"v{rng.randint(3, 9)}"})
        t.span("knowledgebase_search", attrs, rng.uniform(0.1, 0.6))

    chat(question, "Looking up the facts first.")
    retrieve(question)
    for name in agent.tools[: rng.randint(1, len(agent.tools))]:
        tool(name, {"query": customer}, {"status": "ok", "id": f"R-{rng.randint(1, 99999)}"})
    if agent.name == "SupportRefundAgent" and week == WEEKS - 1 and n == 3:
        tool("order_lookup", {"customer": customer}, {"note": XSS})
    extra_calls = rng.random() < 0.07  # a run that loops on tools (over its tool-call cap)
    for _ in range(5 if extra_calls else 0):
        tool(agent.tools[0], {"retry": True}, {"status": "ok"})
    if agent.name == "SocAlertTriage" and rng.random() < 0.1:
        tool("web_search", {"q": "ioc lookup", "url": "https://pastebin.example.net/raw/1"}, {"hits": 3})
    if outcome == "escalated":
        chat("Can this be resolved automatically?", "No: handing over to a human.")
        tool("transfer_to_human_agents", {"summary": "needs a human decision"}, {"ticket": f"H-{rng.randint(1, 9999)}"})
    elif outcome == "failure":
        err = rng.choice(["TimeoutError", "UpstreamHTTP500", "ValidationError"])
        tool(agent.tools[-1], {"customer": customer}, {"error": err}, error=err)
        t.spans[-1]["status"] = {"code": 2, "message": f"{err} while calling {agent.tools[-1]}"}
    else:
        chat("Decide and act.", "Proceeding with the action.")
        if agent.action and not shadow:
            gate = rng.random()
            if gate < 0.84:  # approved first
                approver = rng.choice(APPROVERS)
                t.span("approval", {"agentops.approval.decision": "approved", "agentops.approval.approver": approver,
                                    "agentops.approval.action": agent.action}, rng.uniform(30, 600))
                tool(agent.action, {"customer": customer, "amount": round(rng.uniform(5, 400), 2)},
                     {"status": "done"}, kind="action")
            elif gate < 0.93:  # rejected: the agent does not act
                t.span("approval", {"agentops.approval.decision": "rejected", "agentops.approval.approver": rng.choice(APPROVERS),
                                    "agentops.approval.action": agent.action}, rng.uniform(30, 600))
                outcome = "escalated"
            else:  # executed with no approval at all: a policy breach
                tool(agent.action, {"customer": customer, "amount": round(rng.uniform(5, 400), 2)},
                     {"status": "done"}, kind="action")
        if agent.name == "SupportRefundAgent" and rng.random() < 0.5:
            tool("customer_email_send", {"to": f"{customer.lower()}@example.com", "template": "refund_confirmation"},
                 {"status": "queued"}, kind="action")
    slow = rng.random() < 0.05  # a run that overruns its runtime cap
    if slow:
        t.clock += dt.timedelta(seconds=rng.uniform(60, 180))
    root_end = t.clock
    recommendation = rng.choice(CATEGORIES) if agent.workflow == "invoice_categorisation" else None
    root_attrs = {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent.name, "gen_ai.agent.version": agent.version,
        "agentops.workflow": agent.workflow, "agentops.mode": "shadow" if shadow else "active",
        "agentops.outcome": outcome, "agentops.recommendation": recommendation,
        "input.value": question, "error.type": None,
    }
    root = {
        "traceId": t.trace_id, "spanId": t.root_id, "parentSpanId": "", "name": f"invoke_agent {agent.name}",
        "kind": 2, "startTimeUnixNano": str(_ns(start)), "endTimeUnixNano": str(_ns(root_end)),
        "attributes": [_kv(k, v) for k, v in root_attrs.items() if v is not None],
        "status": {"code": 2, "message": "run failed"} if outcome == "failure" else {"code": 1},
    }
    spans = [root, *t.spans]
    run_id = t.trace_id
    if outcome == "failure" and rng.random() < 0.45 or outcome == "success" and rng.random() < 0.015:
        labels["customer_impact"] = "true"
    if shadow and recommendation:
        labels["human_decision"] = recommendation if rng.random() < 0.86 else rng.choice(CATEGORIES)
    return spans, {k: v for k, v in labels.items()}, run_id, agent


def _batches(rng: random.Random, runs):
    """Export batches as the Collector writes them: spans of many traces, a trace split across lines."""
    spans = [(agent, span) for spans, _, _, agent in runs for span in spans]
    spans.sort(key=lambda item: int(item[1]["endTimeUnixNano"]))
    lines = []
    i = 0
    while i < len(spans):
        size = rng.randint(20, 60)
        chunk, i = spans[i:i + size], i + size
        by_agent: dict[str, list] = {}
        for agent, span in chunk:
            by_agent.setdefault(agent.name, []).append(span)
        resource_spans = []
        for spec in AGENTS:
            if spec.name in by_agent:
                resource_spans.append({
                    "resource": {"attributes": [_kv("service.name", spec.service), _kv("service.version", spec.version)]},
                    "scopeSpans": [{"scope": {"name": "agentops.sample", "version": "1"}, "spans": by_agent[spec.name]}],
                })
        lines.append(json.dumps({"resourceSpans": resource_spans}, separators=(",", ":")))
    return lines


def generate(seed: int = 7):
    rng = random.Random(seed)
    runs = []
    for week in range(WEEKS):
        week_start = END - dt.timedelta(weeks=WEEKS - week)
        for agent in AGENTS:
            count = agent.runs_per_week + rng.randint(-4, 4)
            for n in range(count):
                # business hours, Monday to Saturday; a few runs cross midnight
                day = rng.randint(0, 5)
                start = week_start + dt.timedelta(days=day, hours=rng.randint(7, 23), minutes=rng.randint(0, 59),
                                                  seconds=rng.randint(0, 59))
                runs.append(_run(rng, agent, start, week, n))
    return runs, _batches(rng, runs)


def write_sample(out_dir: str | Path, seed: int = 7) -> dict[str, Path]:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder: the sample's two files are written into a folder")
    out.mkdir(parents=True, exist_ok=True)
    runs, lines = generate(seed)
    traces = out / "traces.otlp.jsonl.gz"
    with traces.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(("\n".join(lines) + "\n").encode())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run_id", "name", "value", "source"])
    for _, labels, run_id, _ in runs:
        for name, value in sorted(labels.items()):
            writer.writerow([run_id, name, value, "incident-review" if name == "customer_impact" else "shadow-review"])
    labels_path = out / "labels.csv"
    labels_path.write_text(buf.getvalue())
    quality_path = out / "quality_labels.csv"
    quality_path.write_text(_quality_labels(random.Random(f"quality-{seed}"), runs))
    return {"traces": traces, "labels": labels_path, "quality_labels": quality_path}


def _quality_labels(rng: random.Random, runs) -> str:
    """Labels learned days after a run: CSAT (1-5) and re-contact within 7 days for support runs, the
    reconciliation result for invoice runs; many runs get no label, as in real feedback."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run_id", "name", "value", "source"])
    for spans, _, run_id, agent in runs:
        attrs = {a["key"]: a["value"].get("stringValue") for a in spans[0]["attributes"]}
        if attrs.get("agentops.mode") != "active":
            continue
        ok = attrs.get("agentops.outcome") == "success"
        if agent.name == "SupportRefundAgent":
            if rng.random() < 0.55:
                writer.writerow([run_id, "csat", rng.choice((4, 5, 5, 5, 3) if ok else (1, 2, 3, 3, 4)), "csat-survey"])
            if rng.random() < 0.7:
                writer.writerow([run_id, "recontact_7d", str(rng.random() < (0.06 if ok else 0.4)).lower(), "crm"])
        elif agent.name == "InvoiceCategorizer" and rng.random() < 0.8:
            writer.writerow([run_id, "reconciliation", "match" if rng.random() < (0.97 if ok else 0.5) else "mismatch",
                             "month-end-close"])
    return buf.getvalue()
