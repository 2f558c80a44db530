"""The postmortem's sections as markdown. Every text that came from a trace goes through ``md`` (inline) or
``fenced`` (a code block no trace text can close): it is shown as written, never rendered."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from ..report.markdown import code, md
from ..terminal import safe

TEXT_LIMIT = 2000  # characters of one input or output shown; the rest is counted, and stays in the trace
CALL_KINDS = ("llm", "tool", "action", "retrieval", "approval", "agent")


def fenced(text: str, info: str = "text") -> str:
    """``text`` in a fenced code block whose fence is longer than any run of backticks inside it."""
    body = safe(text, keep_newlines=True)
    fence = "`" * max(3, max((len(r) for r in re.findall(r"`+", body)), default=0) + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def clipped(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n… ({len(text) - TEXT_LIMIT} more characters in the trace)"


def when(value) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "unknown" if value is None else md(value)


def seconds(value) -> str:
    return "unknown" if value is None else f"{value:,.1f} s"


def money(value) -> str:
    return f"${value:,.2f}" if value >= 100 else f"${value:.4g}"


def table(frame: pl.DataFrame, columns: dict[str, str], formats: dict | None = None) -> str:
    """A markdown table of ``frame``'s columns (name -> header), every cell escaped."""
    formats = formats or {}
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for row in frame.iter_rows(named=True):  # a postmortem's rows: a handful, shown to a person
        cells = [formats[c](row[c]) if c in formats else md(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(run: dict, unpriced: int) -> str:
    cost = money(run["cost_usd"]) if run["cost_usd"] is not None else (
        f"unknown ({unpriced} step{'s' if unpriced != 1 else ''} of unknown cost)")
    tokens = ("unknown" if run["input_tokens"] is None and run["output_tokens"] is None
              else f"{run['input_tokens'] or 0:,} in, {run['output_tokens'] or 0:,} out")
    fields = [("run", code(run["run_id"])), ("agent", md(run["agent"])), ("version", md(run["agent_version"])),
              ("workflow", md(run["workflow"])), ("mode", md(run["mode"])), ("outcome", md(run["outcome"])),
              ("error type", md(run["error_type"])), ("started", when(run["started_at"])),
              ("ended", when(run["ended_at"])), ("duration", seconds(run["duration_s"])), ("cost", cost),
              ("tokens", tokens), ("LLM calls", md(run["llm_calls"])), ("tool calls", md(run["tool_calls"])),
              ("source", code(run["source_file"]) if run["source_file"] else "–")]
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in fields)


def timeline(rows: pl.DataFrame) -> str:
    """Every step in tree order (depth shown by leading dots), when it started after the run began, what it
    took, and which failed step is the cause."""
    if not rows.height:
        return "No steps recorded."
    lines = ["| at | step | kind | took | status | error | |", "|---|---|---|---|---|---|---|"]
    for r in rows.iter_rows(named=True):
        at = "unknown" if r["offset_s"] is None else f"+{r['offset_s']:,.1f} s"
        mark = ("**cause**" if r["is_cause"] else "failed" if r["is_error"] else
                "parent missing" if r["orphan"] else "")
        lines.append(f"| {at} | {'· ' * r['depth']}{md(r['label'])} | {md(r['kind'])} | {seconds(r['duration_s'])} | "
                     f"{md(r['status'])} | {md(r['error']) if r['error'] else ''} | {mark} |")
    return "\n".join(lines)


def calls(rows: pl.DataFrame, sources: pl.DataFrame) -> str:
    """What the run saw and called, step by step: chat messages (read by the run inspector's message
    parser), tool arguments and results, documents retrieved."""
    from ..inspection.messages import step_messages

    parts = []
    for r in rows.filter(pl.col("kind").is_in(CALL_KINDS)).iter_rows(named=True):
        at = "" if r["offset_s"] is None else f"+{r['offset_s']:,.1f} s · "
        body = []
        chat = step_messages(r)
        for side, messages, raw in (("in", chat.input, chat.raw_input), ("out", chat.output, chat.raw_output)):
            for m in messages:
                text = clipped(m.text) if m.text else ""
                calls_made = "".join(f"\n→ calls {c.name}({c.arguments})" for c in m.tool_calls)
                if text or calls_made:
                    body.append(f"{'saw' if side == 'in' else 'said'} — {md(m.role)}:\n\n{fenced(text + calls_made)}")
            if raw:
                body.append(f"{'input' if side == 'in' else 'output'}:\n\n{fenced(clipped(raw))}")
        docs = sources.filter(pl.col("step_id") == r["step_id"])
        if docs.height:
            body.append("documents:\n\n" + table(docs, {"document_id": "document", "version": "version", "score": "score"}))
        if r["kind"] == "approval":
            body.append(f"decision: {md(r['approval_decision'])}, by {md(r['approver'])}")
        if r["error"]:
            body.append(f"error: {md(r['error'])}")
        if body:
            parts.append(f"### {at}{md(r['kind'])} {md(r['label'])} (step {code(r['step_id'])})\n\n" + "\n\n".join(body))
    return "\n\n".join(parts) or "No step recorded an input, an output or a message."


def cost(run: dict, rows: pl.DataFrame) -> str:
    priced = rows.filter(pl.col("cost_usd").is_not_null() | (pl.col("cost_source") == "unknown"))
    unknown = rows.filter(pl.col("cost_source") == "unknown").height
    total = money(run["cost_usd"]) if run["cost_usd"] is not None else (
        f"unknown: {unknown} step{'s' if unknown != 1 else ''} of unknown cost (an unpriced model, or tokens not reported)")
    lead = f"Total: {total} (source: {md(run['cost_source'])})."
    if not priced.height:
        return lead + " No step reported or incurred a cost."
    return lead + "\n\n" + table(priced, {"label": "step", "kind": "kind", "model": "model", "input_tokens": "tokens in",
                                          "output_tokens": "tokens out", "cost_usd": "cost", "cost_source": "source"},
                                 {"cost_usd": lambda v: "unknown" if v is None else money(v)})


def violations(frame: pl.DataFrame | None, policy_file: str | None) -> str:
    if frame is None:
        return "Not checked: no policy names this agent (pass `--policy` with its policy file or folder)."
    where = f" (policy {code(policy_file)})" if policy_file else ""
    if not frame.height:
        return f"None: the run broke no rule of its policy{where}."
    return f"{frame.height} violation{'s' if frame.height != 1 else ''}{where}:\n\n" + table(
        frame, {"rule": "rule", "severity": "severity", "step_id": "step", "detail": "detail"})


def approvals(in_trace: pl.DataFrame, in_store: pl.DataFrame | None) -> str:
    parts = []
    if in_trace.height:
        parts.append("In the traces:\n\n" + table(
            in_trace, {"ended_at": "decided", "action": "action", "approval_decision": "decision", "approver": "by",
                       "step_id": "step"}, {"ended_at": when}))
    else:
        parts.append("No approval step in the traces.")
    if in_store is None:
        parts.append("The approvals store was not consulted (pass `--approvals-db` to add its decisions).")
    elif in_store.height:
        parts.append("In the approvals store:\n\n" + table(
            in_store, {"decided_at": "decided", "action": "action", "decision": "decision", "approver": "by",
                       "request_id": "request"}, {"decided_at": when}))
    else:
        parts.append("The approvals store holds no decision for this run.")
    return "\n\n".join(parts)


def labels(frame: pl.DataFrame, given: bool) -> str:
    if not given:
        return "No labels given (pass `--labels` with your feedback or incident-review labels)."
    if not frame.height:
        return "None: the labels given hold nothing for this run."
    return table(frame, {"name": "label", "value": "value", "source": "source"})


def cause(found) -> str:
    if found is None:
        return "No step failed: the traces show no error to start from."
    what = f"{md(found.kind)} {md(found.step)} (step {code(found.step_id)})"
    error = ": ".join(md(x) for x in (found.error_type, found.message) if x) or "an error without a message"
    more = f" {found.also_failed} other step{'s' if found.also_failed != 1 else ''} failed too." if found.also_failed else ""
    return f"The first failed step none of whose children failed: {what} — {error}.{more}"
