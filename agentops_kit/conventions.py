"""GenAI and OpenInference semantic conventions: span attributes -> canonical step fields.

One ``Conventions`` object per load, built from the user's mapping; ``step(attrs, name)`` is called once
per span, so it does plain dictionary look-ups only.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import orjson

from .mapping import Mapping
from .model import TOOL_CALL_KINDS, Mode, StepKind

# gen_ai.operation.name -> kind. "call_llm" is any-agent's non-standard name for a chat call.
GENAI_OPERATION_KIND = {
    "chat": "llm", "generate_content": "llm", "text_completion": "llm", "embeddings": "llm",
    "call_llm": "llm", "execute_tool": "tool", "invoke_agent": "agent", "create_agent": "agent",
    "retrieval": "retrieval", "invoke_workflow": "other", "plan": "other",
    **{op: "memory" for op in ("search_memory", "create_memory", "update_memory", "upsert_memory", "delete_memory",
                               "create_memory_store", "delete_memory_store")},
}
WORKFLOW_SPAN_PREFIX = "invoke_workflow "  # the GenAI span name "invoke_workflow {gen_ai.workflow.name}"
OPENINFERENCE_KIND = {
    "LLM": "llm", "EMBEDDING": "llm", "TOOL": "tool", "AGENT": "agent", "RETRIEVER": "retrieval",
    "RERANKER": "retrieval", "CHAIN": "other", "GUARDRAIL": "other", "EVALUATOR": "other",
    "PROMPT": "other", "UNKNOWN": "other",
}
STEP_KINDS = frozenset(k.value for k in StepKind)

MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
)
CACHED_TOKEN_KEYS = (
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
# cache_write is the 2026 name, cache_creation the earlier one (and Anthropic's usage field)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens", "llm.token_count.prompt_details.cache_write",
)
REASONING_KEYS = ("gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning")
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider")  # gen_ai.system: the name before 2025
SESSION_KEYS = ("gen_ai.conversation.id", "session.id")  # session.id: OpenInference's
EXCEPTION_EVENT, EVALUATION_EVENT = "exception", "gen_ai.evaluation.result"
TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name")
TOOL_INPUT_KEYS = ("gen_ai.tool.call.arguments", "tool.parameters", "gen_ai.tool.args", "input.value", "input")
INPUT_KEYS = ("input.value", "gen_ai.input.messages", "gen_ai.prompt", "input")
OUTPUT_KEYS = (
    "gen_ai.tool.call.result", "output.value", "gen_ai.output.messages", "gen_ai.completion",
    "gen_ai.output", "output",
)
ERROR_KEYS = ("error.type", "exception.type")
COST_TOTAL_KEYS = ("llm.cost.total", "gen_ai.usage.cost", "gen_ai.usage.cost.total")
COST_PAIR_KEYS = (("llm.cost.prompt", "llm.cost.completion"), ("gen_ai.usage.input_cost", "gen_ai.usage.output_cost"))
_RETRIEVAL_DOC = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(id|score|version|metadata)$")


def first(attrs: dict, keys) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def first_key(attrs: dict, keys) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return key
    return None


def as_int(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("expected an integer token count, got a boolean")
    return int(value)


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def reported_cost(attrs: dict) -> float | None:
    """USD cost a span reports itself: OpenInference llm.cost.*, the proposed gen_ai.usage.cost,
    any-agent's gen_ai.usage.input_cost/output_cost."""
    total = first(attrs, COST_TOTAL_KEYS)
    if total is not None:
        return float(total)
    for a, b in COST_PAIR_KEYS:
        if a in attrs or b in attrs:
            return float(attrs.get(a) or 0.0) + float(attrs.get(b) or 0.0)
    return None


class Conventions:
    def __init__(self, mapping: Mapping):
        self.m = mapping
        self.action_patterns = tuple(mapping.action_tools)
        self._action_cache: dict[str, bool] = {}
        self.approval_names = {n.lower() for n in mapping.approval.span_names}
        self.approved = {v.lower() for v in mapping.approval.approved_values}
        self.rejected = {v.lower() for v in mapping.approval.rejected_values}
        self.shadow = {v.lower() for v in mapping.mode.shadow_values}
        self.red_team_modes = {v.lower() for v in mapping.red_team.mode_values}
        o = mapping.outcome
        self.outcome_values = {
            **{v.lower(): "failure" for v in o.failure},
            **{v.lower(): "escalated" for v in o.escalated},
            **{v.lower(): "success" for v in o.success},
        }

    def is_action(self, tool_name: str | None) -> bool:
        if not tool_name or not self.action_patterns:
            return False
        hit = self._action_cache.get(tool_name)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(tool_name, p) for p in self.action_patterns)
            self._action_cache[tool_name] = hit
        return hit

    def kind(self, attrs: dict, name: str) -> str:
        explicit = first(attrs, self.m.step_kind_attributes)
        if isinstance(explicit, str) and explicit.lower() in STEP_KINDS:
            return explicit.lower()
        if first(attrs, self.m.approval.decision_attributes) is not None or (
            name and name.lower() in self.approval_names
        ):
            return "approval"
        oi = attrs.get("openinference.span.kind")
        if isinstance(oi, str) and oi.upper() in OPENINFERENCE_KIND:
            return OPENINFERENCE_KIND[oi.upper()]
        op = attrs.get("gen_ai.operation.name")
        if isinstance(op, str) and op in GENAI_OPERATION_KIND:
            return GENAI_OPERATION_KIND[op]
        if first(attrs, TOOL_NAME_KEYS) is not None:
            return "tool"
        if first(attrs, MODEL_KEYS) is not None and first(attrs, INPUT_TOKEN_KEYS) is not None:
            return "llm"
        return "other"

    def step(self, attrs: dict, name: str, kind: str | None = None) -> dict:
        """Canonical step fields for one span. Raises ValueError/TypeError on wrongly typed values."""
        kind = kind or self.kind(attrs, name)
        tool_name = first(attrs, TOOL_NAME_KEYS)
        if tool_name is None and kind == "tool" and name and name.startswith("execute_tool "):
            tool_name = name[len("execute_tool "):]
        if kind == "tool" and self.is_action(tool_name):
            kind = "action"
        is_tool = kind in TOOL_CALL_KINDS
        decision = approver = None
        if kind == "approval":
            raw = first(attrs, self.m.approval.decision_attributes)
            if raw is not None:
                low = str(raw).lower()
                decision = "approved" if low in self.approved else "rejected" if low in self.rejected else low
            approver = _text(first(attrs, self.m.approval.approver_attributes))
        input_key = first_key(attrs, TOOL_INPUT_KEYS if is_tool else INPUT_KEYS)
        output_key = first_key(attrs, OUTPUT_KEYS)
        return {
            "kind": kind,
            "tool_name": _text(tool_name),
            "model": _text(first(attrs, MODEL_KEYS)),
            "input_tokens": as_int(first(attrs, INPUT_TOKEN_KEYS)),
            "output_tokens": as_int(first(attrs, OUTPUT_TOKEN_KEYS)),
            "cached_input_tokens": as_int(first(attrs, CACHED_TOKEN_KEYS)),
            "cache_write_input_tokens": as_int(first(attrs, CACHE_WRITE_KEYS)),
            "reasoning_output_tokens": as_int(first(attrs, REASONING_KEYS)),
            "provider": _text(first(attrs, PROVIDER_KEYS)),
            "cost_usd": reported_cost(attrs),
            "input": _text(attrs[input_key]) if input_key else None,
            "output": _text(attrs[output_key]) if output_key else None,
            "text_keys": (input_key, output_key),  # stored in input/output, not again in attributes
            "error": _text(first(attrs, ERROR_KEYS)),
            "approval_decision": decision,
            "approver": approver,
        }

    def hints(self, attrs: dict, name: str = "") -> tuple:
        """Run-level facts this span carries, in collector.RUN_HINTS order."""
        m = self.m
        workflow = _text(first(attrs, m.workflow_attributes))
        if workflow is None and name.startswith(WORKFLOW_SPAN_PREFIX) and len(name) > len(WORKFLOW_SPAN_PREFIX):
            workflow = name[len(WORKFLOW_SPAN_PREFIX):]
        mode = first(attrs, m.mode.attributes)
        if mode is not None:
            low = str(mode).lower()
            mode = (Mode.RED_TEAM if low in self.red_team_modes else Mode.SHADOW if low in self.shadow else Mode.ACTIVE).value
        outcome = first(attrs, m.outcome.attributes)
        if outcome is not None:
            outcome = self.outcome_values.get(str(outcome).lower(), "unknown")
        fallback = first(attrs, m.agent_fallback_attributes)
        if isinstance(fallback, str) and fallback.startswith("unknown_service"):
            fallback = None  # the OpenTelemetry SDK's default when no service name was set
        return (
            _text(first(attrs, m.agent_attributes)),
            _text(first(attrs, m.agent_version_attributes)),
            workflow,
            mode,
            outcome,
            _text(fallback),
            _text(first(attrs, SESSION_KEYS)),
        )

    @staticmethod
    def exception_error(events) -> str | None:
        """The error an ``exception`` span event records: its exception.type, else its message."""
        for name, attrs in events:
            if name == EXCEPTION_EVENT:
                found = first(attrs, ("exception.type", "exception.message"))
                if found is not None:
                    return _text(found)
        return None

    @staticmethod
    def evaluations(events) -> list[tuple[str, Any]]:
        """(label name, value) of each ``gen_ai.evaluation.result`` event: the score value under the
        evaluation's name, its score label and explanation under ``NAME.label`` and ``NAME.explanation``."""
        out: list[tuple[str, Any]] = []
        for name, attrs in events:
            if name != EVALUATION_EVENT:
                continue
            metric = attrs.get("gen_ai.evaluation.name")
            if metric is None or metric == "":
                continue
            for suffix, key in (("", "gen_ai.evaluation.score.value"), (".label", "gen_ai.evaluation.score.label"),
                                (".explanation", "gen_ai.evaluation.explanation")):
                value = attrs.get(key)
                if value is not None and value != "":
                    out.append((f"{_text(metric)}{suffix}", value))
        return out

    @staticmethod
    def retrieval_documents(attrs: dict) -> list[tuple[str | None, str | None, float | None]]:
        """(document id, version, score) of each ``retrieval.documents.N.document.*`` entry, in N order."""
        docs: dict[int, dict] = {}
        for key, value in attrs.items():
            if key.startswith("retrieval.documents."):
                hit = _RETRIEVAL_DOC.match(key)
                if hit:
                    docs.setdefault(int(hit.group(1)), {})[hit.group(2)] = value
        out = []
        for _, doc in sorted(docs.items()):
            version = doc.get("version")
            meta = doc.get("metadata")
            if version is None and meta is not None:
                if isinstance(meta, str):
                    try:
                        meta = orjson.loads(meta)
                    except orjson.JSONDecodeError:
                        meta = None
                if isinstance(meta, dict):
                    version = meta.get("version")
            score = doc.get("score")
            out.append((_text(doc.get("id")), None if version is None else str(version),
                        None if score is None else float(score)))
        return out
