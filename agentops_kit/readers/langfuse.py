"""Langfuse exports: ``{"trace": …, "observations": […]}`` files, API pages (``{"data": […]}``), JSON
lists and JSONL of traces or observations. The trace itself becomes the run's root step; scores
become labels. Failure is ``level == "ERROR"`` (Langfuse has no status code)."""

from __future__ import annotations

from ..conventions import Conventions
from ..model import RejectReason
from .collector import Collector, to_text
from .otel_sdk import documents
from .spans import emit_span
from .timeparse import iso_ns

OBSERVATION_KIND = {
    "GENERATION": "llm", "EMBEDDING": "llm", "TOOL": "tool", "AGENT": "agent",
    "RETRIEVER": "retrieval", "CHAIN": "other", "EVALUATOR": "other", "GUARDRAIL": "other",
}


def flat_metadata(metadata) -> dict:
    """Scalar metadata keys, plus the OTel attributes Langfuse keeps under metadata.attributes."""
    if not isinstance(metadata, dict):
        return {}
    out = {k: v for k, v in metadata.items() if not isinstance(v, dict)}
    for nested in ("resourceAttributes", "attributes"):
        if isinstance(metadata.get(nested), dict):
            out.update(metadata[nested])
    return out


def _records(doc, line):
    """(trace or None, observations, line, index) groups found in one JSON value."""
    if isinstance(doc, dict) and "trace" in doc:
        yield doc["trace"], doc.get("observations") or [], line, None
    elif isinstance(doc, dict) and isinstance(doc.get("data"), list):
        for i, item in enumerate(doc["data"]):
            yield from ((t, o, line, i) for t, o, _, _ in _records(item, line))
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from ((t, o, line, i) for t, o, _, _ in _records(item, line))
    elif isinstance(doc, dict) and "type" in doc and "traceId" in doc:
        yield None, [doc], line, None
    elif isinstance(doc, dict):
        obs = doc.get("observations")
        yield doc, [o for o in obs if isinstance(o, dict)] if isinstance(obs, list) else [], line, None
    else:
        yield None, [doc], line, None


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    for line, doc in documents(data):
        if isinstance(doc, Exception):
            col.reject(file, RejectReason.MALFORMED_JSON, f"not valid JSON: {doc}", line=doc.lineno)
            continue
        for trace, observations, at_line, index in _records(doc, line):
            if trace is not None:
                read_trace(col, conv, trace, observations if isinstance(observations, list) else [], file, at_line, index)
            if not isinstance(observations, list):
                col.reject(file, RejectReason.WRONG_TYPE, "'observations' must be a list", line=at_line, index=index)
                continue
            trace = trace if isinstance(trace, dict) else None  # a trace that is not an object was rejected above
            for i, obs in enumerate(observations):
                read_observation(col, conv, obs, trace, file, at_line, i if index is None else index)


def read_trace(col, conv, trace, observations, file, line, index) -> None:
    trace_id = trace.get("id") if isinstance(trace, dict) else None
    if not isinstance(trace_id, str) or not trace_id:
        col.reject(file, RejectReason.MISSING_ID, "Langfuse trace without an 'id'", line=line, index=index)
        return
    try:
        start = iso_ns(trace.get("timestamp"))
        ends = [iso_ns(o.get("endTime")) for o in observations if isinstance(o, dict) and o.get("endTime")]
        latency = trace.get("latency")  # seconds, for traces
        end = max(ends) if ends else (start + int(float(latency) * 1e9) if start and latency else start)
        attrs = flat_metadata(trace.get("metadata"))
        attrs.update({
            "langfuse.trace.name": trace.get("name"), "session.id": trace.get("sessionId"),
            "user.id": trace.get("userId"), "langfuse.release": trace.get("release"),
            "langfuse.version": trace.get("version"), "langfuse.environment": trace.get("environment"),
            "langfuse.tags": trace.get("tags") or None,
        })
        attrs = {k: v for k, v in attrs.items() if v is not None}
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"trace {trace_id}: {exc}", line=line, index=index, record_id=trace_id)
        return
    emit_span(col, conv, run_id=trace_id, step_id=trace_id, parent_id=None, name=trace.get("name") or "",
              start_ns=start, end_ns=end, status="unset", status_message=None, attrs=attrs, file=file,
              line=line, index=index, kind="agent",
              overrides={"input": to_text(trace.get("input")), "output": to_text(trace.get("output"))})
    scores = trace.get("scores")
    for score in scores if isinstance(scores, list) else ():
        if isinstance(score, dict) and score.get("name"):
            value = score.get("stringValue") if score.get("value") is None else score.get("value")
            col.label(trace_id, score["name"], value, f"langfuse:{score.get('source') or 'score'}")


def _usage(obs) -> tuple:
    usage = obs.get("usageDetails") or obs.get("usage") or {}
    if not isinstance(usage, dict):
        raise TypeError("usageDetails must be an object")
    inp = usage.get("input", usage.get("promptTokens", obs.get("promptTokens")))
    out = usage.get("output", usage.get("completionTokens", obs.get("completionTokens")))
    cached = usage.get("input_cache_read", usage.get("input_cached_tokens", usage.get("cache_read_input_tokens")))
    write = usage.get("input_cache_creation", usage.get("cache_creation_input_tokens"))
    reasoning = usage.get("output_reasoning", usage.get("output_reasoning_tokens"))
    # Langfuse's SDKs take each detail (input_cache_read, output_reasoning, input_audio...) out of "input" and
    # "output" so that the entries add up to the total: they are added back, so that input tokens include cache
    # reads and writes and output tokens include reasoning, as in the GenAI conventions and the other readers
    def details(prefix: str) -> int:
        return sum(v for k, v in usage.items() if k.startswith(prefix) and isinstance(v, int) and not isinstance(v, bool))

    if "input" in usage and inp is not None:
        inp = int(inp) + details("input_")
    if "output" in usage and out is not None:
        out = int(out) + details("output_")
    return tuple(None if v is None else int(v) for v in (inp, out, cached, write, reasoning))


def _cost(obs, kind) -> float | None:
    details = obs.get("costDetails") or {}
    if isinstance(details, dict) and details.get("total") is not None:
        return float(details["total"])
    total = obs.get("totalCost", obs.get("calculatedTotalCost"))
    if kind == "llm" and not total:
        return None  # Langfuse writes 0 when it could not price a model: that is unknown, not free
    return None if total is None else float(total)


def read_observation(col, conv, obs, trace, file, line, index) -> None:
    if not isinstance(obs, dict):
        col.reject(file, RejectReason.WRONG_TYPE, "an observation must be an object", line=line, index=index)
        return
    obs_id, trace_id = obs.get("id"), obs.get("traceId") or (trace or {}).get("id")
    if not obs_id or not trace_id:
        col.reject(file, RejectReason.MISSING_ID, "observation without 'id' or 'traceId'", line=line, index=index,
                   record_id=obs_id)
        return
    try:
        attrs = flat_metadata(obs.get("metadata"))
        otype = str(obs.get("type") or "SPAN").upper()
        attrs["langfuse.observation.type"] = otype
        if obs.get("level"):
            attrs["langfuse.level"] = obs["level"]
        name = obs.get("name") or ""
        kind = OBSERVATION_KIND.get(otype) or conv.kind(attrs, name)
        if kind == "other" and name.startswith("execute_tool "):
            kind = "tool"
        inp, out, cached, write, reasoning = _usage(obs)
        error = obs.get("level") == "ERROR"
        start, end = iso_ns(obs.get("startTime")), iso_ns(obs.get("endTime"))
        overrides = {
            "model": obs.get("model"), "input_tokens": inp, "output_tokens": out,
            "cached_input_tokens": cached, "cache_write_input_tokens": write, "reasoning_output_tokens": reasoning,
            "cost_usd": _cost(obs, kind),
            "input": to_text(obs.get("input")), "output": to_text(obs.get("output")),
            "error": obs.get("statusMessage") if error else None,
        }
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"observation {obs_id}: {exc}", line=line, index=index, record_id=obs_id)
        return
    parent = obs.get("parentObservationId") or (trace_id if trace is not None else None)
    emit_span(col, conv, run_id=trace_id, step_id=obs_id, parent_id=parent, name=name, start_ns=start,
              end_ns=end, status="error" if error else "unset", status_message=obs.get("statusMessage"),
              attrs=attrs, file=file, line=line, index=index, kind=kind, overrides=overrides)
