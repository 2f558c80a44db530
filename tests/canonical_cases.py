"""Hand-made trace sets in the kit's canonical JSONL: each run written out step by step, so that every
number a test expects can be counted by eye."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

UTC = dt.timezone.utc
MON = dt.datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # Monday of 2026-W46


def at(base: dt.datetime, seconds: float) -> str:
    return (base + dt.timedelta(seconds=seconds)).isoformat()


class Traces:
    """Runs of canonical records; ``write`` puts them in a JSONL file (and the labels in a CSV file)."""

    def __init__(self):
        self.records: list[dict] = []
        self.labels: list[tuple[str, str, str]] = []

    def run(self, run_id: str, agent: str = "Bot", start: dt.datetime = MON, outcome: str = "success",
            cost: float | None = 0.01, workflow: str = "wf", mode: str | None = None, input: str | None = None,
            output: str | None = None, seconds: float = 60, root_attributes: dict | None = None) -> Run:
        record = {"record": "run", "run_id": run_id, "agent": agent, "workflow": workflow, "outcome": outcome}
        if mode is not None:
            record["mode"] = mode
        self.records.append(record)
        root = {"record": "step", "run_id": run_id, "step_id": "root", "kind": "agent", "started_at": start.isoformat(),
                "ended_at": at(start, seconds), "input": input, "output": output}
        if root_attributes:
            root["attributes"] = root_attributes
        self.records.append(root)
        llm = {"record": "step", "run_id": run_id, "step_id": "llm", "parent_id": "root", "kind": "llm", "model": "m",
               "input_tokens": 10, "output_tokens": 5, "started_at": at(start, 1), "ended_at": at(start, 2)}
        if cost is not None:
            llm["cost_usd"] = cost
        self.records.append(llm)
        return Run(self, run_id, start)

    def label(self, run_id: str, name: str, value) -> Traces:
        self.labels.append((run_id, name, str(value)))
        return self

    def write(self, directory: Path, name: str = "traces") -> tuple[Path, Path | None]:
        traces = directory / f"{name}.jsonl"
        traces.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        if not self.labels:
            return traces, None
        labels = directory / f"{name}_labels.csv"
        labels.write_text("run_id,name,value\n" + "".join(f"{r},{n},{v}\n" for r, n, v in self.labels))
        return traces, labels

    def load(self, directory: Path, name: str = "traces", **options):
        import agentops_kit as ak

        traces, labels = self.write(directory, name)
        return ak.load_traces(traces, labels=labels, **options)


class Run:
    def __init__(self, traces: Traces, run_id: str, start: dt.datetime):
        self.traces, self.run_id, self.start, self.n = traces, run_id, start, 0

    def step(self, kind: str, at_seconds: float, **fields) -> Run:
        self.n += 1
        record = {"record": "step", "run_id": self.run_id, "step_id": fields.pop("step_id", f"s{self.n}"),
                  "parent_id": "root", "kind": kind, "started_at": at(self.start, at_seconds),
                  "ended_at": at(self.start, at_seconds + fields.pop("seconds", 1))}
        record.update(fields)
        self.traces.records.append(record)
        return self

    def tool(self, name: str, at_seconds: float, input=None, kind: str = "tool", **fields) -> Run:
        return self.step(kind, at_seconds, tool_name=name, input=None if input is None else json.dumps(input), **fields)

    def approval(self, action: str | None, at_seconds: float, decision: str = "approved", seconds: float = 5) -> Run:
        attributes = {"agentops.approval.action": action} if action else {}
        return self.step("approval", at_seconds, approval_decision=decision, approver="alice", seconds=seconds,
                         attributes=attributes)

    def retrieval(self, at_seconds: float, *docs: tuple[str, str | None]) -> Run:
        self.step("retrieval", at_seconds, name="kb_search")
        step_id = f"s{self.n}"
        for document_id, version in docs:
            self.traces.records.append({"record": "source", "run_id": self.run_id, "step_id": step_id,
                                        "document_id": document_id, "version": version})
        return self
