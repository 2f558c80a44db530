"""LangSmith runs: JSONL or JSON lists of run objects (exports), or the SDK's ``{"post": […],
"patch": […]}`` batches (a patch completes the posted run with the same id). ``trace_id`` is the run;
feedback becomes labels."""

from __future__ import annotations

from ..conventions import Conventions
from ..model import TOOL_CALL_KINDS, RejectReason
from .collector import Collector, to_text
from .otel_sdk import documents
from .spans import emit_span
from .timeparse import iso_ns

RUN_TYPE_KIND = {
    "llm": "llm", "embedding": "llm", "tool": "tool", "retriever": "retrieval", "chain": "other",
    "prompt": "other", "parser": "other",
}


def _is_id(value) -> bool:
    return bool(value) and isinstance(value, (str, int)) and not isinstance(value, bool)


def _runs(doc, line):
    """(run, line, index) for every run in one JSON value; post/patch pairs merged."""
    if isinstance(doc, dict) and ("post" in doc or "patch" in doc):
        merged: dict = {}
        order = []
        batches = [doc.get("post") or [], doc.get("patch") or []]  # a lone run object in place of a list, too
        for i, run in enumerate(r for b in batches for r in (b if isinstance(b, list) else [b])):
            if not isinstance(run, dict) or not _is_id(run.get("id")):
                yield run, line, i
                continue
            if run["id"] not in merged:
                merged[run["id"]] = {}
                order.append(run["id"])
            merged[run["id"]].update({k: v for k, v in run.items() if v is not None})
        for i, run_id in enumerate(order):
            yield merged[run_id], line, i
    elif isinstance(doc, list):
        for i, run in enumerate(doc):
            yield run, line, i
    else:
        yield doc, line, None


def _usage(run) -> tuple:
    outputs = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
    meta = outputs.get("usage_metadata") or {}
    usage = outputs.get("usage") or {}
    llm_output = outputs.get("llm_output") if isinstance(outputs.get("llm_output"), dict) else {}
    usage = usage or llm_output.get("token_usage") or {}
    inp = run.get("prompt_tokens", meta.get("input_tokens", usage.get("prompt_tokens", usage.get("input_tokens"))))
    out = run.get("completion_tokens",
                  meta.get("output_tokens", usage.get("completion_tokens", usage.get("output_tokens"))))
    details_in, details_out = meta.get("input_token_details") or {}, meta.get("output_token_details") or {}
    # LangChain's usage_metadata: output_tokens include reasoning, input_tokens cache reads and writes
    cached, write, reasoning = details_in.get("cache_read"), details_in.get("cache_creation"), details_out.get("reasoning")
    if reasoning is None:  # OpenAI's own usage object
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return tuple(None if v is None else int(v) for v in (inp, out, cached, write, reasoning))


def _model(run) -> str | None:
    extra = run.get("extra") or {}
    meta, params = extra.get("metadata") or {}, extra.get("invocation_params") or {}
    outputs = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
    inputs = run.get("inputs") if isinstance(run.get("inputs"), dict) else {}
    return outputs.get("model") or meta.get("ls_model_name") or params.get("model") or inputs.get("model")


def _cost(run) -> float | None:
    if run.get("total_cost") is not None:
        return float(run["total_cost"])
    if run.get("prompt_cost") is not None or run.get("completion_cost") is not None:
        return float(run.get("prompt_cost") or 0) + float(run.get("completion_cost") or 0)
    return None


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    for line, doc in documents(data):
        if isinstance(doc, Exception):
            col.reject(file, RejectReason.MALFORMED_JSON, f"not valid JSON: {doc}", line=doc.lineno)
            continue
        for run, at_line, index in _runs(doc, line):
            read_run(col, conv, run, file, at_line, index)


def read_run(col, conv, run, file, line, index) -> None:
    if not isinstance(run, dict):
        col.reject(file, RejectReason.WRONG_TYPE, "a LangSmith run must be an object", line=line, index=index)
        return
    run_id = run.get("id")
    trace_id = run.get("trace_id") or (run_id if not run.get("parent_run_id") else None)
    if not run_id or not trace_id:
        col.reject(file, RejectReason.MISSING_ID, "run without 'id' (or a child run without 'trace_id')",
                   line=line, index=index, record_id=run_id)
        return
    if not all(_is_id(v) for v in (run_id, trace_id, run.get("parent_run_id") or "-")):
        col.reject(file, RejectReason.WRONG_TYPE, "'id', 'trace_id' and 'parent_run_id' must be text",
                   line=line, index=index, record_id=run_id)
        return
    try:
        run_type = str(run.get("run_type") or "chain").lower()
        is_root = not run.get("parent_run_id")
        kind = RUN_TYPE_KIND.get(run_type, "other")
        if kind == "other" and is_root and run_type == "chain":
            kind = "agent"
        extra = run.get("extra") or {}
        attrs = {k: v for k, v in (extra.get("metadata") or {}).items() if not isinstance(v, dict)}
        attrs["langsmith.run_type"] = run_type
        if run.get("tags"):
            attrs["langsmith.tags"] = run["tags"]
        if run.get("session_name"):
            attrs["langsmith.project"] = run["session_name"]
        inp, out, cached, write, reasoning = _usage(run)
        error = run.get("error")
        overrides = {
            "model": _model(run) if kind == "llm" else None, "input_tokens": inp, "output_tokens": out,
            "cached_input_tokens": cached, "cache_write_input_tokens": write, "reasoning_output_tokens": reasoning,
            "cost_usd": _cost(run),
            "input": to_text(run.get("inputs")), "output": to_text(run.get("outputs")),
            "error": to_text(error) if error else None,
        }
        if kind in TOOL_CALL_KINDS and not attrs.get("tool.name"):
            attrs["tool.name"] = run.get("name")
        start, end = iso_ns(run.get("start_time")), iso_ns(run.get("end_time"))
        status = "error" if error or run.get("status") == "error" else (
            "ok" if run.get("status") == "success" or run.get("end_time") else "unset")
    except (TypeError, ValueError, AttributeError, OverflowError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"run {run_id}: {exc}", line=line, index=index, record_id=run_id)
        return
    emit_span(col, conv, run_id=str(trace_id), step_id=str(run_id),
              parent_id=None if is_root else str(run["parent_run_id"]), name=run.get("name") or "",
              start_ns=start, end_ns=end, status=status, status_message=None, attrs=attrs, file=file,
              line=line, index=index, kind=kind, overrides=overrides)
    stats = run.get("feedback_stats")
    if isinstance(stats, dict):
        for key, stat in stats.items():
            value = stat.get("avg") if isinstance(stat, dict) else stat
            col.label(str(trace_id), key, value, "langsmith:feedback")
