"""Tracing defaults for agent code: the OpenTelemetry SDK set up so that the kit reads an agent's traces with
no mapping at all.

``ak.tracing(agent=..., workflow=..., mode=..., endpoint=... | file=...)`` sets up a tracer provider of its
own (the global one is left alone) whose resource names the agent, its workflow and mode, exporting over
OTLP/HTTP to a receiver or appending OTLP/JSON lines (one ``ExportTraceServiceRequest`` per line, hex ids) to
a file that ``ak.load_traces`` reads. Its helpers record a run's outcome, an escalation, a tool call, an
irreversible action and an approval under exactly the attribute names the default mapping reads first: the
names below are taken from ``Mapping()``, so they cannot drift from what the readers look for.

Needs the optional extra: ``pip install 'agentops-kit[agent]'`` (opentelemetry-sdk and the OTLP/HTTP exporter).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AgentOpsError, UsageError
from .mapping import Mapping
from .model import Mode, Outcome

_DEFAULT = Mapping()
AGENT = _DEFAULT.agent_attributes[0]  # gen_ai.agent.name
AGENT_VERSION = _DEFAULT.agent_version_attributes[0]
WORKFLOW = _DEFAULT.workflow_attributes[0]
MODE = _DEFAULT.mode.attributes[0]
OUTCOME = _DEFAULT.outcome.attributes[0]
STEP_KIND = _DEFAULT.step_kind_attributes[0]
DECISION = _DEFAULT.approval.decision_attributes[0]
APPROVER = _DEFAULT.approval.approver_attributes[0]
APPROVAL_SPAN = _DEFAULT.approval.span_names[0]
APPROVAL_ACTION = "agentops.approval.action"  # which action an approval was for: the policy check reads it
APPROVAL_REQUEST = "agentops.approval.request_id"
ESCALATION_TOOL = "escalate_to_human"
assert ESCALATION_TOOL in _DEFAULT.outcome.escalation_tools
OUTCOMES = {Outcome.SUCCESS.value: _DEFAULT.outcome.success[0], Outcome.FAILURE.value: _DEFAULT.outcome.failure[0],
            Outcome.ESCALATED.value: _DEFAULT.outcome.escalated[0]}
MODES = {Mode.ACTIVE.value: Mode.ACTIVE.value, Mode.SHADOW.value: _DEFAULT.mode.shadow_values[0],
         Mode.RED_TEAM.value: _DEFAULT.red_team.mode_values[0]}
DECISIONS = {"approved": _DEFAULT.approval.approved_values[0], "rejected": _DEFAULT.approval.rejected_values[0]}
INSTALL = "pip install 'agentops-kit[agent]'"


class TracingError(AgentOpsError):
    """The tracing defaults cannot be set up (the OpenTelemetry SDK is missing, or the output is unusable)."""


def _sdk():
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise TracingError(f"ak.tracing needs the OpenTelemetry SDK and its OTLP exporter: {INSTALL}") from None
    return Resource, TracerProvider, BatchSpanProcessor, SimpleSpanProcessor


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


class OtlpJsonFileExporter:
    """A span exporter appending each batch to ``path`` as one OTLP/JSON ``ExportTraceServiceRequest`` line,
    the way the Collector's file exporter writes them (hex ids, enums as integers)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans) -> Any:
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.trace.export import SpanExportResult

        doc = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        for rs in doc.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:  # protobuf's JSON writes bytes as base64; OTLP/JSON wants hex
                            span[key] = _b64_hex(span[key])
        line = json.dumps(doc, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)  # one write per batch: a reader never sees half a request from this process
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _b64_hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()


def _endpoint_url(endpoint: str) -> str:
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"endpoint {endpoint!r}: expected an http:// or https:// URL of an OTLP/HTTP receiver")
    return endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"


@dataclass
class Run:
    """One agent run: the root span every step of the run sits under. ``run_id`` is the id the kit gives the
    run (the trace id, in hex): pass it to ``@ak.require_approval`` so decisions and traces join."""

    span: Any
    tracing: AgentTracing
    outcome_set: str | None = field(default=None)

    @property
    def run_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def outcome(self, outcome: str) -> None:
        """success | failure | escalated, under the attribute (and value) the default mapping reads first."""
        if outcome not in OUTCOMES:
            raise UsageError(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
        self.span.set_attribute(OUTCOME, OUTCOMES[outcome])
        self.outcome_set = outcome

    def escalate(self, reason: str, to: str = "human") -> None:
        """Hand the run to a human: an ``escalate_to_human`` tool call (an escalation tool of the default
        mapping) with the reason, and the run's outcome ``escalated``."""
        with self.tracing.tool(ESCALATION_TOOL, {"reason": reason, "to": to}):
            pass
        self.outcome(Outcome.ESCALATED.value)

    def approval(self, action: str, decision: str, approver: str | None, *, requested_at=None, decided_at=None,
                 request_id: str | None = None) -> None:
        """A human decision on ``action``, as an approval span from ``requested_at`` to ``decided_at``
        (datetimes; the policy check needs the decision to precede the action it covers)."""
        if decision not in DECISIONS:
            raise UsageError(f"decision {decision!r}: expected approved or rejected")
        attrs = {STEP_KIND: "approval", DECISION: DECISIONS[decision], APPROVAL_ACTION: action}
        if approver:
            attrs[APPROVER] = approver
        if request_id:
            attrs[APPROVAL_REQUEST] = request_id
        start = _ns(requested_at)
        span = self.tracing.tracer.start_span(APPROVAL_SPAN, attributes=attrs, start_time=start)
        span.end(end_time=_ns(decided_at) if decided_at is not None else None)

    def approval_from(self, queue, action: str) -> bool:
        """Record the decision the approvals store holds for this run and ``action`` (the latest one) as the
        store wrote it: approver, request and decision times. False when the store holds no decision (a request
        whose row disagrees with the audit log is no decision either)."""
        import polars as pl

        hits = (queue.requests().filter((pl.col("run_id") == self.run_id) & (pl.col("action") == action)
                                         & pl.col("status").is_in(list(DECISIONS)))
                .join(queue.decisions().select("request_id", "decision"), left_on="id", right_on="request_id")
                .filter(pl.col("decision").is_in(list(DECISIONS))).sort("decided_at"))
        if not hits.height:
            return False
        row = hits.row(hits.height - 1, named=True)
        self.approval(action, row["decision"], row["decided_by"], requested_at=row["requested_at"],
                      decided_at=row["decided_at"], request_id=row["id"])
        return True


def _ns(value) -> int | None:
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # the approvals store keeps UTC without a zone
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp() * 1_000_000) * 1000
    raise UsageError(f"expected a datetime, got {type(value).__name__}")


class AgentTracing:
    """What ``ak.tracing`` returns: ``run()`` opens a run, ``tool()`` / ``action()`` record calls inside it,
    ``tracer`` makes any other span; ``shutdown()`` (or leaving ``with``) flushes the exporter."""

    def __init__(self, provider, agent: str, workflow: str, mode: str, target: str):
        self.provider = provider
        self.tracer = provider.get_tracer("agentops_kit.tracing")
        self.agent, self.workflow, self.mode, self.target = agent, workflow, mode, target

    @contextlib.contextmanager
    def run(self, name: str | None = None) -> Iterator[Run]:
        """The run's root span. An exception leaving it marks the span as an error (the kit reads a failed
        root span as a failed run unless an outcome was recorded) and is raised again."""
        attrs = {"gen_ai.operation.name": "invoke_agent", AGENT: self.agent, WORKFLOW: self.workflow, MODE: self.mode}
        with self.tracer.start_as_current_span(name or f"invoke_agent {self.agent}", attributes=attrs) as span:
            yield Run(span, self)

    @contextlib.contextmanager
    def tool(self, name: str, arguments: Any = None, *, kind: str = "tool") -> Iterator[Call]:
        """A tool call (``kind="action"`` for an irreversible one) with its arguments; ``call.output(x)``
        records the result."""
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, STEP_KIND: kind}
        if arguments is not None:
            attrs["gen_ai.tool.call.arguments"] = _json_text(arguments)
        with self.tracer.start_as_current_span(f"execute_tool {name}", attributes=attrs) as span:
            yield Call(span)

    def action(self, name: str, arguments: Any = None):
        """An irreversible action (step kind ``action``, whatever the mapping's ``action_tools``)."""
        return self.tool(name, arguments, kind="action")

    def shutdown(self) -> None:
        self.provider.shutdown()

    def __enter__(self) -> AgentTracing:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<AgentTracing {self.agent} ({self.workflow}, {self.mode}) -> {self.target}>"


@dataclass
class Call:
    span: Any

    def output(self, value: Any) -> None:
        self.span.set_attribute("gen_ai.tool.call.result", _json_text(value))


def tracing(agent: str, workflow: str, mode: str = "active", *, endpoint: str | None = None,
            file: str | Path | None = None, version: str | None = None, service: str | None = None) -> AgentTracing:
    """Set up OpenTelemetry for an agent so that the kit reads its traces with no mapping: the resource names
    the agent (``service.name``, ``gen_ai.agent.name``), its workflow and mode; spans go over OTLP/HTTP to
    ``endpoint`` (a receiver, e.g. ``http://127.0.0.1:4318``) or as OTLP/JSON lines to ``file``.

    Example::

        >>> t = ak.tracing(agent="ExampleRefundAgent", workflow="support_refunds", file="example.otlp.jsonl")
        >>> with t.run() as run:
        ...     with t.tool("order_lookup", {"order": "O-1"}) as call:
        ...         call.output({"paid": 12.5})
        ...     run.outcome("success")
        >>> t.shutdown()
        >>> ak.load_traces("example.otlp.jsonl").runs.select("agent", "workflow", "mode", "outcome").collect().row(0)
        ('ExampleRefundAgent', 'support_refunds', 'active', 'success')
    """
    if not agent or not workflow:
        raise UsageError("ak.tracing: name the agent and its workflow (agent=..., workflow=...)")
    if mode not in MODES:
        raise UsageError(f"ak.tracing: mode {mode!r}: expected one of {', '.join(MODES)}")
    if (endpoint is None) == (file is None):
        raise UsageError("ak.tracing: give exactly one of endpoint= (an OTLP/HTTP receiver) or file= (OTLP/JSON lines)")
    Resource, TracerProvider, BatchSpanProcessor, SimpleSpanProcessor = _sdk()
    attrs = {"service.name": service or agent, AGENT: agent, WORKFLOW: workflow, MODE: MODES[mode]}
    if version:
        attrs[AGENT_VERSION] = version
    provider = TracerProvider(resource=Resource.create(attrs))
    if file is not None:
        path = Path(file)
        if path.is_dir() or not path.parent.is_dir():
            raise TracingError(f"{path}: expected a file in an existing folder for the OTLP/JSON lines")
        # written as each span ends: a crash loses at most the span being written
        provider.add_span_processor(SimpleSpanProcessor(OtlpJsonFileExporter(path)))
        target = str(path)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        target = _endpoint_url(str(endpoint))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=target)))
    return AgentTracing(provider, agent, workflow, MODES[mode], target)
