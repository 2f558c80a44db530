"""Policy test cases, run the way OPA runs its tests: small YAML files of runs with the expected verdicts.

```yaml
policy: ../policies/support_refund_agent.yaml     # relative to this file
cases:
  - name: a refund without approval is flagged
    steps:                                        # canonical step records of one run (run_id filled in)
      - {step_id: root, kind: agent, started_at: "2026-11-16T10:00:00Z", ended_at: "2026-11-16T10:00:20Z"}
      - {step_id: s1, parent_id: root, kind: action, tool_name: refund_request_submit,
         started_at: "2026-11-16T10:00:05Z"}
    expect: [unapproved_action]                   # exactly these rules; [] means clean
```
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from ..config import Strict, load_model
from ..errors import ConfigError
from ..load import load_traces
from .policy import load_policy
from .policy_check import check_policy


class Case(Strict):
    name: str
    run: dict = Field(default_factory=dict)
    steps: list[dict] = Field(min_length=1)
    sources: list[dict] = Field(default_factory=list)
    expect: list[str]
    as_of: dt.datetime | None = None  # when retention is measured; default: the end of the case's run


class PolicyTestFile(Strict):
    policy: str
    cases: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    file: str
    name: str
    passed: bool
    expected: list[str]
    got: list[str]


def _yaml_scalar(value) -> str:
    """YAML reads an unquoted time (``started_at: 2026-11-16T10:00:00Z``) as a datetime: write it as ISO text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{value!r} cannot be written as JSON")


def run_policy_tests(paths) -> list[CaseResult]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = [f for p in map(Path, paths) for f in (sorted(p.glob("*.y*ml")) if p.is_dir() else [p])]
    empty = next((p for p in map(Path, paths) if p.is_dir() and not any(p.glob("*.y*ml"))), None)
    if empty is not None:  # no case run is not a pass
        raise ConfigError(str(empty), "holds no policy test files (*.yaml)")
    results = []
    for file in files:
        spec = load_model(file, PolicyTestFile)
        policy = load_policy((file.parent / spec.policy).resolve())
        for i, case in enumerate(spec.cases):
            run_id = f"test:{case.name}"
            records = [{"record": "run", "run_id": run_id, "agent": policy.name, **case.run}]
            records += [{"record": "step", "run_id": run_id, **s} for s in case.steps]
            records += [{"record": "source", "run_id": run_id, **s} for s in case.sources]
            try:
                text = "\n".join(json.dumps(r, default=_yaml_scalar) for r in records) + "\n"
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(file), f"case '{case.name}': {exc}", key=f"cases.{i}") from None
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "case.jsonl"
                path.write_text(text)
                ts = load_traces(path, format="canonical")
                runs = ts.runs.select("ended_at").collect()
                if runs.height != 1:
                    reasons = "; ".join(ts.rejected.collect()["reason"].to_list()) or "no step record"
                    raise ConfigError(str(file), f"case '{case.name}': its steps make no run ({reasons})",
                                      key=f"cases.{i}.steps")
                as_of = case.as_of or runs.item() or dt.datetime.now(dt.timezone.utc)
                got = sorted(set(check_policy(ts, [policy], as_of=as_of).violations["rule"].to_list()))
            results.append(CaseResult(str(file), case.name, got == sorted(set(case.expect)), sorted(set(case.expect)), got))
    return results
