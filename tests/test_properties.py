"""Property-based tests: whatever bytes, JSON or YAML a user hands the kit, every reader and every config loader
ends in one of two ways — loaded, or rejected with a reason (a rejected record with its reason, or an
AgentOpsError naming the file) — never another exception.

Inputs are random bytes, random JSON/YAML, and real records (the third-party exports under tests/data and the
shipped templates) with random parts replaced or removed, so that the readers get past their first check.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import agentops_kit as ak
from agentops_kit.errors import AgentOpsError, ConfigError
from agentops_kit.readers.registry import NAMES as FORMATS
from agentops_kit.traceset import TABLES

from .conftest import TEMPLATES, THIRD_PARTY, otlp_line, otlp_span

# 80 examples per test keep the suite quick; AGENTOPS_PROPERTY_EXAMPLES=2000 runs a deeper search
SETTINGS = settings(max_examples=int(os.environ.get("AGENTOPS_PROPERTY_EXAMPLES", 80)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats() | st.text(max_size=24))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
FILE_NAMES = ("export.jsonl", "export.json", "export.jsonl.gz", "data.bin", "runs.csv", "steps.parquet",
              "labels.csv")


def mutate(draw, doc, times: int = 3):
    """``doc`` with up to ``times`` random parts replaced by random JSON values or removed."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, times))):
        doc = _mutate_once(draw, doc)
    return doc


def _mutate_once(draw, node):
    if isinstance(node, (dict, list)) and node and draw(st.integers(0, 4)):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(("descend", "descend", "replace", "delete")))
        if action == "descend":
            node[key] = _mutate_once(draw, node[key])
        elif action == "replace":
            node[key] = draw(json_values)
        else:
            del node[key]
        return node
    return draw(json_values)


def loaded_or_rejected(path: Path, **kwargs) -> None:
    """load_traces returns a TraceSet whose tables all collect and whose rejected rows all carry a reason,
    or raises an AgentOpsError with a message; nothing else."""
    try:
        ts = ak.load_traces(path, **kwargs)
        for name in TABLES:
            getattr(ts, name).collect()
        ts.summary_text()
        ts.label_problems.collect()
    except AgentOpsError as exc:
        assert str(exc).strip()
        return
    reasons = ts.rejected.select("reason_code", "reason").collect()
    assert reasons.null_count().sum_horizontal().item() == 0


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


# ---- readers ---------------------------------------------------------------------------------------------
@SETTINGS
@given(data=st.binary(max_size=3000), name=st.sampled_from(FILE_NAMES), fmt=st.sampled_from((None, *FORMATS)))
@example(data=b"", name="steps.parquet", fmt=None)  # found by these tests: a polars error escaped
@example(data=b"", name="runs.csv", fmt=None)
def test_random_bytes_any_reader(tmp_path, data, name, fmt):
    loaded_or_rejected(write(tmp_path / name, data), format=fmt)


@SETTINGS
@given(docs=st.lists(json_values, min_size=1, max_size=4), lines=st.booleans(),
       name=st.sampled_from(FILE_NAMES[:4]), fmt=st.sampled_from((None, *FORMATS)))
def test_random_json_any_reader(tmp_path, docs, lines, name, fmt):
    text = "\n".join(json.dumps(d) for d in docs) if lines else json.dumps(docs)
    loaded_or_rejected(write(tmp_path / name, text.encode()), format=fmt)


def _tau_bench_seed() -> list:
    run = json.loads((THIRD_PARTY / "tau-bench" / "gpt-4o-airline.json").read_text())[0]
    return [{**run, "traj": run["traj"][:6]}]


SEEDS = {  # real records of each format, as one JSON document (or a list of JSON lines)
    "otlp_lines": [json.loads(otlp_line(
        otlp_span(attrs={"gen_ai.agent.name": {"stringValue": "Bot"}, "gen_ai.request.model": {"stringValue": "gpt-4o"},
                         "gen_ai.usage.input_tokens": {"intValue": "12"}, "agentops.outcome": {"stringValue": "success"}}),
        otlp_span(span_id="c" * 16, parent="b" * 16, name="tool",
                  attrs={"gen_ai.tool.name": {"stringValue": "lookup"}, "gen_ai.operation.name": {"stringValue": "execute_tool"}})))],
    "otlp_file": json.loads((THIRD_PARTY / "otel" / "opentelemetry-proto_examples_trace.json").read_text()),
    "otel_sdk": json.loads((THIRD_PARTY / "any-agent" / "OPENAI_trace.json").read_text()),
    "langfuse": json.loads((THIRD_PARTY / "langfuse-framework-traces" / "autogen-2025-06-06.json").read_text()),
    "langsmith": json.loads((THIRD_PARTY / "langsmith-sdk" / "langsmith_py_wrap_openai_.json").read_text()),
    "tau_bench": _tau_bench_seed(),
    "canonical_lines": [
        {"record": "run", "run_id": "r1", "agent": "Bot", "workflow": "wf", "outcome": "success"},
        {"record": "step", "run_id": "r1", "step_id": "s1", "kind": "llm", "model": "gpt-4o", "input_tokens": 10,
         "output_tokens": 5, "started_at": "2026-11-16T10:00:00Z", "ended_at": "2026-11-16T10:00:02Z"},
        {"record": "step", "run_id": "r1", "step_id": "s2", "parent_id": "s1", "kind": "tool", "tool_name": "x",
         "cost_usd": 0.01, "started_at": "2026-11-16T10:00:01Z"},
        {"record": "label", "run_id": "r1", "name": "customer_impact", "value": "true"},
    ],
}


@SETTINGS
@given(data=st.data(), seed=st.sampled_from(sorted(SEEDS)), fmt=st.sampled_from((None, "forced")))
def test_mutated_real_records(tmp_path, data, seed, fmt):
    doc = mutate(data.draw, SEEDS[seed])
    if seed.endswith("_lines") and isinstance(doc, list):
        text = "\n".join(json.dumps(d) for d in doc)
    else:
        text = json.dumps(doc)
    forced = {"otlp_lines": "otlp", "otlp_file": "otlp", "canonical_lines": "canonical"}.get(seed, seed)
    loaded_or_rejected(write(tmp_path / "export.jsonl", text.encode()), format=forced if fmt else None)


@SETTINGS
@given(data=st.data(), table=st.sampled_from(("runs", "steps", "labels", "sources")))
def test_mutated_canonical_table_files(tmp_path, data, table):
    """A canonical table as CSV with random cells: read, or refused naming the file."""
    rows = [{"run_id": "r1", "agent": "Bot", "step_id": "s1", "name": "customer_impact", "value": "true",
             "started_at": "2026-11-16T10:00:00Z", "cost_usd": "0.5", "kind": "llm", "document_id": "d"}]
    cells = data.draw(st.dictionaries(st.sampled_from(sorted(rows[0])), st.text(max_size=12) | st.none()))
    frame = pl.DataFrame([{**rows[0], **cells}], schema={c: pl.String for c in rows[0]})
    frame.write_csv(tmp_path / f"{table}.csv")
    loaded_or_rejected(tmp_path / f"{table}.csv")


# ---- config loaders --------------------------------------------------------------------------------------
def small_traces(tmp_path: Path) -> Path:
    spans = [otlp_span(trace_id=f"{i:032x}", span_id=f"{i:016x}", start=1_763_456_400_000_000_000 + i * 10**12,
                       end=1_763_456_460_000_000_000 + i * 10**12,
                       attrs={"gen_ai.agent.name": {"stringValue": "SupportRefundAgent"},
                              "agentops.workflow": {"stringValue": "support_refunds"},
                              "gen_ai.request.model": {"stringValue": "gpt-4o"},
                              "gen_ai.usage.input_tokens": {"intValue": "100"}})
             for i in range(1, 4)]
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(otlp_line(s) for s in spans) + "\n")
    return path


def _use(kind: str, path: Path, tmp_path: Path) -> None:
    """Load the config file of ``kind``; when it loads, use it the way the kit does."""
    from agentops_kit.analytics.baseline import load_baselines
    from agentops_kit.analytics.error_budget import load_budgets
    from agentops_kit.analytics.policy import load_policy
    from agentops_kit.analytics.readiness import load_readiness
    from agentops_kit.approvals.approvers import load_approvers
    from agentops_kit.inventory import load_weights
    from agentops_kit.labels import load_labels
    from agentops_kit.mapping import load_mapping
    from agentops_kit.pricing import load_pricing

    traces = small_traces(tmp_path)
    if kind == "mapping":
        ak.load_traces(traces, mapping=load_mapping(path)).runs.collect()
    elif kind == "pricing":
        ak.load_traces(traces, pricing=load_pricing(path)).runs.collect()
    elif kind == "labels":
        load_labels(path)
        ak.weekly_metrics(ak.load_traces(traces, labels=path))
    elif kind == "policy":
        ak.check_policy(ak.load_traces(traces), [load_policy(path)])
    elif kind == "error_budget":
        ak.error_budget(ak.load_traces(traces), load_budgets(path))
    elif kind == "baselines":
        ak.weekly_metrics(ak.load_traces(traces), baselines=load_baselines(path))
    elif kind == "readiness":
        ak.readiness(ak.load_traces(traces), load_readiness(path))
    elif kind == "approvers":
        load_approvers(path)
    elif kind == "inventory":
        ak.score_inventory(path)
    elif kind == "weights":
        ak.score_inventory(TEMPLATES / "inventory.csv", weights=load_weights(path))
    elif kind == "policy_tests":
        ak.run_policy_tests(path)


def loaded_or_config_error(kind: str, path: Path, tmp_path: Path) -> None:
    try:
        _use(kind, path, tmp_path)
    except AgentOpsError as exc:  # ConfigError naming the file, or NothingToShow naming what the traces hold
        assert str(exc).strip()
        if isinstance(exc, ConfigError):
            assert exc.file == str(path)


YAML_TEMPLATES = {
    "mapping": TEMPLATES / "mapping.yaml", "pricing": TEMPLATES / "pricing.yaml",
    "policy": TEMPLATES / "policies" / "support_refund_agent.yaml", "error_budget": TEMPLATES / "error_budget.yaml",
    "baselines": TEMPLATES / "baselines.yaml", "readiness": TEMPLATES / "readiness.yaml",
    "approvers": TEMPLATES / "approvers.yaml", "weights": TEMPLATES / "inventory_weights.yaml",
    "policy_tests": TEMPLATES / "policy_tests" / "support_refund_agent_test.yaml",
}
ALL_KINDS = (*YAML_TEMPLATES, "inventory", "labels")
YAML_CHARS = st.sampled_from(list(":-?[]{},#&*!|>'\"%@` \n\t.0123456789abcxyz_=~<") + ["\n  ", ": ", "- ", ".inf", "<<"])


@SETTINGS
@given(data=st.binary(max_size=2000), kind=st.sampled_from(ALL_KINDS), suffix=st.sampled_from((".yaml", ".csv", ".jsonl")))
@example(data=b"\x00", kind="mapping", suffix=".yaml")  # found by these tests: yaml's ReaderError escaped
@example(data=b"\x80", kind="inventory", suffix=".csv")  # ... and a UnicodeDecodeError
def test_random_bytes_any_config(tmp_path, data, kind, suffix):
    path = tmp_path / f"config{suffix}"
    path.write_bytes(data)
    loaded_or_config_error(kind, path, tmp_path)


@SETTINGS
@given(text=st.lists(YAML_CHARS, max_size=80).map("".join), kind=st.sampled_from(ALL_KINDS))
@example(text="?\n  -", kind="mapping")  # found by these tests: a list as a mapping key
@example(text="a: 2026-13-01", kind="pricing")  # a date that does not exist
def test_random_yaml_text_any_config(tmp_path, text, kind):
    path = tmp_path / ("config.csv" if kind in ("inventory", "labels") and "," in text else "config.yaml")
    path.write_text(text)
    loaded_or_config_error(kind, path, tmp_path)


@SETTINGS
@given(data=st.data(), kind=st.sampled_from(sorted(YAML_TEMPLATES)))
def test_mutated_yaml_templates(tmp_path, data, kind):
    doc = mutate(data.draw, yaml.safe_load(YAML_TEMPLATES[kind].read_text()))
    path = tmp_path / "policy_tests" / "config.yaml"  # policy tests name their policy as ../policies/...
    path.parent.mkdir(exist_ok=True)
    (tmp_path / "policies").mkdir(exist_ok=True)
    for policy in (TEMPLATES / "policies").glob("*.yaml"):
        (tmp_path / "policies" / policy.name).write_text(policy.read_text())
    path.write_text(yaml.safe_dump(doc))
    loaded_or_config_error(kind, path, tmp_path)


@SETTINGS
@given(data=st.data(), suffix=st.sampled_from((".csv", ".jsonl", ".yaml")))
def test_mutated_inventory_and_labels(tmp_path, data, suffix):
    if suffix == ".yaml":
        rows = pl.read_csv(TEMPLATES / "inventory.csv", infer_schema=False).head(3).to_dicts()
        doc = mutate(data.draw, {"workflows": rows})
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(doc))
        return loaded_or_config_error("inventory", path, tmp_path)
    labels = [{"run_id": f"{i:032x}", "name": "customer_impact", "value": "true", "source": "review"} for i in (1, 2)]
    doc = mutate(data.draw, labels)
    path = tmp_path / f"labels{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in (doc if isinstance(doc, list) else [doc])))
    else:
        flat = [r for r in (doc if isinstance(doc, list) else [doc]) if isinstance(r, dict)]
        keys = sorted({str(k) for r in flat for k in r})
        lines = [",".join(json.dumps(k) for k in keys)] + [",".join(json.dumps(str(r.get(k, ""))) for k in keys) for r in flat]
        path.write_text("\n".join(lines))
    loaded_or_config_error("labels", path, tmp_path)


@pytest.mark.parametrize("kind", sorted(YAML_TEMPLATES))
def test_every_template_loads_and_is_used(tmp_path, kind):
    """The shipped templates are the 'loaded' end of the properties above (they must not be refused)."""
    if kind in ("policy", "error_budget", "baselines"):  # they name the sample's agents: use the sample
        return
    _use(kind, YAML_TEMPLATES[kind], tmp_path)
