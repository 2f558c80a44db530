"""τ-bench trajectories: a JSON list of ``{task_id, trial, reward, info, traj}`` with OpenAI-style
messages. Each record is one run: a root step, an llm step per assistant turn and a tool step per tool
call (results joined from the following tool messages). No timestamps, tokens or agent cost exist in
these files, so times and cost stay unknown. ``reward`` becomes a label."""

from __future__ import annotations

import re

import orjson

from ..conventions import Conventions
from ..model import RejectReason
from .collector import Collector
from .spans import emit_span

FILE_NAME = re.compile(r"^(?P<model>.+)-(?P<env>airline|retail)\.json", re.I)


def read(col: Collector, conv: Conventions, data: bytes, file: str) -> None:
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        col.reject(file, RejectReason.MALFORMED_JSON, f"not valid JSON: {exc}", line=getattr(exc, "lineno", None))
        return
    if not isinstance(records, list):
        col.reject(file, RejectReason.NOT_TAU_BENCH, "expected a list of trajectories", line=1)
        return
    from pathlib import Path

    hit = FILE_NAME.match(Path(file).name)
    model, env = (hit.group("model"), hit.group("env").lower()) if hit else (None, "tau")
    for index, rec in enumerate(records):
        read_record(col, conv, rec, file, index, model, env)


def read_record(col, conv, rec, file, index, model, env) -> None:
    if not isinstance(rec, dict) or "task_id" not in rec or not isinstance(rec.get("traj"), list):
        col.reject(file, RejectReason.MISSING_ID, "trajectory without 'task_id' or 'traj' list", index=index)
        return
    run_id = f"tau-{env}-task{rec['task_id']}-trial{rec.get('trial', 0)}"
    root = f"{run_id}/root"
    first_user = next((m.get("content") for m in rec["traj"] if isinstance(m, dict) and m.get("role") == "user"), None)
    attrs = {"gen_ai.agent.name": f"tau-bench-{env}", "tau.task_id": rec["task_id"],
             "tau.trial": rec.get("trial"), "tau.reward": rec.get("reward")}
    try:
        pending = _steps(rec["traj"], run_id, model, first_user)
    except (TypeError, ValueError, AttributeError) as exc:
        col.reject(file, RejectReason.WRONG_TYPE, f"trajectory {run_id}: {exc}", index=index, record_id=run_id)
        return
    emit_span(col, conv, run_id=run_id, step_id=root, parent_id=None, name=f"{env} support conversation",
              start_ns=None, end_ns=None, status="unset", status_message=None, attrs=attrs, file=file,
              line=None, index=index, kind="agent", overrides={"input": first_user})
    col.label(run_id, "reward", rec.get("reward"), "tau-bench")
    for step_id, kind, name, _tool, step_attrs, inp, out, status in pending:
        step_attrs = {k: v for k, v in step_attrs.items() if v is not None}
        emit_span(col, conv, run_id=run_id, step_id=step_id, parent_id=root, name=name, start_ns=None,
                  end_ns=None, status=status, status_message=out if status == "error" else None,
                  attrs=step_attrs, file=file, line=None, index=index, kind=kind,
                  overrides={"input": inp, "output": out})


def _steps(traj: list, run_id: str, model: str | None, first_user) -> list[list]:
    """An llm step per assistant turn and a tool step per call, each call's result joined from its tool message."""
    seq = 0
    open_calls: dict[str, list[int]] = {}  # tool_call_id -> positions of steps awaiting a result
    pending: list[list] = []
    last_input = first_user
    for msg in traj:
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role == "assistant":
            seq += 1
            calls = msg.get("tool_calls") or []
            pending.append([f"{run_id}/{seq:03d}", "llm", "assistant", None,
                            {"gen_ai.operation.name": "chat", "gen_ai.request.model": model},
                            last_input, msg.get("content") or (orjson.dumps(calls).decode() if calls else None),
                            "unset"])
            for call in calls:
                seq += 1
                fn = call.get("function") or {}
                pending.append([f"{run_id}/{seq:03d}", "tool", fn.get("name") or "", fn.get("name"),
                                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": fn.get("name"),
                                 "gen_ai.tool.call.id": call.get("id")},
                                fn.get("arguments"), None, "unset"])
                open_calls.setdefault(call.get("id"), []).append(len(pending) - 1)
        elif role == "tool":
            waiting = open_calls.get(msg.get("tool_call_id")) or []
            if waiting:
                step = pending[waiting.pop(0)]
                content = msg.get("content")
                step[6] = content
                step[7] = "error" if isinstance(content, str) and content.startswith("Error") else "ok"
            last_input = msg.get("content")
        elif role == "user":
            last_input = msg.get("content")
    return pending
