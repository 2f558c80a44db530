"""The compiled OTLP/JSON decoder gives exactly what the Python reader gives: same rows, same order, same
rejected records. Lines it cannot read exactly are handed to the Python reader; these tests count them."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import orjson
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit import load as load_module
from agentops_kit.readers import otlp, otlp_fast

from .conftest import THIRD_PARTY, otlp_line, otlp_span

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("runs", "steps", "sources", "rejected", "labels")


def load_both(monkeypatch, path, **kwargs):
    """(compiled, Python-only) tables, and the lines the compiled reader handed to Python. "raw" is the
    step rows as read, with the run-level hints (agent, mode, outcome...) that only the runs table shows."""
    handed = []
    read_line, assemble = otlp.read_line, load_module.assemble

    def counting(col, conv, data, file, line):
        handed.append(line)
        return read_line(col, conv, data, file, line)

    def load(m):
        raw = []
        m.setattr(load_module, "assemble", lambda steps, *rest: raw.append(steps) or assemble(steps, *rest))
        ts = ak.load_traces(path, **kwargs)
        return {"raw": raw[0] if raw else None, **{t: getattr(ts, t).collect() for t in TABLES}}

    with monkeypatch.context() as m:
        m.setattr(otlp_fast.otlp, "read_line", counting)
        compiled = load(m)
    with monkeypatch.context() as m:
        m.setattr(otlp_fast, "native", None)
        python = load(m)
    return compiled, python, handed


def assert_same(compiled, python):
    for table in ("raw", *TABLES):
        if compiled[table] is None or python[table] is None:
            assert compiled[table] is python[table] is None, table
            continue
        try:
            assert_frame_equal(compiled[table], python[table], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"table {table}: {exc}") from None


def test_the_decoder_is_built():
    assert otlp_fast.native is not None, "agentops_kit._otlp_columns was not compiled (is a C compiler installed?)"


def test_sample_export_is_read_by_the_decoder_alone(monkeypatch):
    compiled, python, handed = load_both(monkeypatch, ROOT / "agentops_kit/data/sample/traces.otlp.jsonl.gz",
                                         pricing=ROOT / "agentops_kit/templates/pricing.yaml")
    assert handed == []
    assert compiled["steps"].height == 4489 and compiled["sources"].height == 1232
    assert_same(compiled, python)


@pytest.mark.parametrize("name", ["spec_file-exporter_example_traces.jsonl", "opentelemetry-proto_examples_trace.json"])
def test_third_party_otlp_files_agree(monkeypatch, name):
    compiled, python, handed = load_both(monkeypatch, THIRD_PARTY / "otel" / name)
    assert compiled["steps"].height > 0
    assert_same(compiled, python)


def span(n: int, **kwargs):
    return otlp_span(trace_id=f"{n:032x}", span_id=f"{n:016x}", **kwargs)


# line -> (OTLP line, whether the decoder reads it itself)
EDGE_LINES = [
    (otlp_line(span(1, name="root", attrs={"agentops.mode": {"stringValue": "Shadow"},
                                           "agentops.outcome": {"stringValue": "RESOLVED"}})), True),
    (otlp_line(otlp_span(trace_id="AB" * 16, span_id="CD" * 8, parent="1" * 16, name="chat x", attrs={
        "gen_ai.operation.name": {"stringValue": "chat"}, "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.usage.input_tokens": {"intValue": 120}, "gen_ai.usage.output_tokens": {"intValue": "30"},
        "gen_ai.usage.cache_read.input_tokens": {"doubleValue": 12.9},
        "gen_ai.request.temperature": {"doubleValue": 1e-7}, "big": {"doubleValue": 1e16},
        "small": {"doubleValue": 0.00001}, "whole": {"doubleValue": 5},
        "nested": {"kvlistValue": {"values": [
            {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"boolValue": False}, {}]}}},
            {"key": "b\n\u0001\"", "value": {"stringValue": "é ☃ \t"}}]}},
        "dup": {"stringValue": "first"},
    }, status={"code": "STATUS_CODE_ERROR", "message": ""})), True),
    (otlp_line(span(3, parent="1" * 16, name="execute_tool refund_issue",
                    status={"code": 2, "message": "card declined"},
                    attrs={"gen_ai.operation.name": {"stringValue": "execute_tool"},
                           "gen_ai.tool.call.arguments": {"stringValue": '{"amount": 10}'},
                           "llm.cost.prompt": {"doubleValue": 0.25}, "llm.cost.completion": {"intValue": "0"}})), True),
    (otlp_line(span(4, parent="1" * 16, name="HUMAN_APPROVAL", attrs={
        "approval.decision": {"stringValue": "Granted"}, "approval.approver": {"intValue": "7"}})), True),
    (otlp_line(span(5, parent="1" * 16, name="search", attrs={
        "openinference.span.kind": {"stringValue": "retriever"},
        "retrieval.documents.1.document.id": {"stringValue": "kb-2"},
        "retrieval.documents.0.document.id": {"intValue": "41"},
        "retrieval.documents.0.document.metadata": {"stringValue": '{"version": "v3", "version": "v4"}'},
        "retrieval.documents.1.document.score": {"doubleValue": 0.5},
        "retrieval.documents.1.document.version": {"intValue": "2"},
        "retrieval.documents.01.document.score": {"intValue": "1"},
    })), True),
    ("", True),  # a blank line still counts in the numbering
    # lines only the Python reader reads exactly:
    (otlp_line(span(6, attrs={"gen_ai.usage.input_tokens": {"boolValue": True}})), False),       # rejected
    (otlp_line(span(7, start=1_700_000_000)), False),                                             # seconds
    (otlp_line(otlp_span(trace_id="", span_id="7" * 16)), False),                                 # synthetic id
    (otlp_line(span(8, attrs={"agentops.mode": {"stringValue": "SCHATTEN-Ü"}})), False),          # non-ASCII
    (otlp_line(span(9, attrs={"x": {"stringValue": "a", "intValue": "1"}})), False),             # two kinds
    (otlp_line(span(10, attrs={"n": {"intValue": str(2**70)}})), False),                          # beyond int64
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [', False),                                     # cut JSON
    (otlp_line(span(11, name="\u212a-approval")), False),  # the Kelvin sign lowers to ASCII "k"
    (otlp_line(span(1, name="again")), True),  # the same span again: a duplicate, rejected after reading
    (otlp_line({**span(12), "kind": float("inf")}).replace("Infinity", "1e400"), False),  # orjson refuses 1e400
    (otlp_line(span(13, name="execute_tool ", attrs={"gen_ai.operation.name": {"stringValue": "execute_tool"}})),
     True),  # a tool named by its span, with an empty name
]


def write_edge_file(path: Path, compress=False) -> Path:
    text = "\r\n".join(line for line, _ in EDGE_LINES) + "\n"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("block", [otlp_fast.BLOCK, 97])  # 97 bytes: lines split across many blocks
def test_edge_cases_agree_line_for_line(monkeypatch, tmp_path, compress, block):
    monkeypatch.setattr(otlp_fast, "BLOCK", block)
    path = write_edge_file(tmp_path / ("edge.jsonl.gz" if compress else "edge.jsonl"), compress)
    compiled, python, handed = load_both(monkeypatch, path, mapping=None)
    assert handed == [n for n, (_, fast) in enumerate(EDGE_LINES, 1) if not fast]
    assert_same(compiled, python)
    steps = compiled["steps"].sort("source_line")
    assert steps.height == 10 and sorted(compiled["rejected"]["line"]) == [7, 8, 12, 13, 15, 16]
    assert steps.row(9, named=True).items() >= {"kind": "tool", "tool_name": ""}.items()
    assert steps["run_id"][1] == "ab" * 16 and steps["parent_id"][1] == "1" * 16  # hex ids lower-cased
    assert steps.row(1, named=True).items() >= {"kind": "llm", "input_tokens": 120, "output_tokens": 30,
                                            "cached_input_tokens": 12, "status": "error", "error": "error"}.items()
    assert steps.row(2, named=True).items() >= {"tool_name": "refund_issue", "error": "card declined",
                                            "cost_usd": 0.25, "input": '{"amount": 10}'}.items()
    assert steps.row(3, named=True).items() >= {"kind": "approval", "approval_decision": "approved",
                                                "approver": "7"}.items()
    assert steps["run_id"][5] == f"missing-trace:{path}:9"
    assert compiled["sources"].sort("document_id")["version"].to_list() == ["v4", "2"]


def test_mapping_with_action_tools_and_custom_keys_agree(monkeypatch, tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("action_tools: ['refund_*']\nagent_attributes: [team.agent]\n"
                       "approval:\n  span_names: [sign_off]\n")
    path = write_edge_file(tmp_path / "edge.jsonl")
    compiled, python, _ = load_both(monkeypatch, path, mapping=mapping)
    assert_same(compiled, python)
    assert "action" in compiled["steps"]["kind"].to_list()


def test_floats_are_written_as_orjson_writes_them(tmp_path, monkeypatch):
    rng = random.Random(7)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(240)]  # under 256 per span
    values += [0.0, -0.0, 1e-5, 1e-6, 1e15, 1e16, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]
    attrs = {f"v{i}": {"doubleValue": v} for i, v in enumerate(values)}
    path = tmp_path / "floats.jsonl"
    path.write_text(otlp_line(span(1, attrs=attrs)) + "\n")
    compiled, python, handed = load_both(monkeypatch, path)
    assert handed == []
    text = compiled["steps"]["attributes"][0]
    assert text == python["steps"]["attributes"][0]
    decoded = json.loads(text)
    assert [decoded[f"v{i}"] for i in range(len(values))] == values
    assert text == orjson.dumps({"service.name": "svc", **attrs_values(values)}).decode()


def attrs_values(values):
    return {f"v{i}": v for i, v in enumerate(values)}


# Values that exercise every type check of both readers, put where the export has scalars.
ODD_VALUES = [b'null', b'true', b'false', b'0', b'-1', b'1e400', b'123456789012345678901234567890', b'"\\u0000"',
              b'"\\ud800"', b'[]', b'{}', b'""', b'"STATUS_CODE_ERROR"', b'{"stringValue":"x"}', b'{"intValue":"9"}',
              b'[{"key":"a"}]', b'"\xc3\x28"', b'1.5', b'"AbC"',
              b'{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"k","value":{}}]}}]}}']


def mutate(line: bytes, rng: random.Random) -> bytes:
    """A sample line with one to three changes: a byte, a cut, a value replaced or inserted."""
    b = bytearray(line)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if op < 0.2:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.3:
            del b[rng.randrange(len(b)):]
        elif op < 0.7 and b.count(b":"):
            start = rng.choice([i for i, c in enumerate(b) if c == ord(":")]) + 1
            end = start
            if end < len(b) and b[end] == ord('"'):  # a string: up to its closing quote
                end += 1
                while end < len(b) and b[end] != ord('"'):
                    end += 2 if b[end] == ord("\\") else 1
                end += 1
            else:
                while end < len(b) and b[end] not in b",}]":
                    end += 1
            b[start:end] = rng.choice(ODD_VALUES)
        elif b:
            at = rng.randrange(len(b))
            b[at:at] = rng.choice(ODD_VALUES)
    return bytes(b).replace(b"\n", b" ")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutated_exports_agree(monkeypatch, tmp_path, seed):
    """Damaged and oddly typed records: both readers keep going and agree on every row and rejection."""
    rng = random.Random(seed)
    lines = gzip.decompress((ROOT / "agentops_kit/data/sample/traces.otlp.jsonl.gz").read_bytes()).splitlines()[:150]
    path = tmp_path / "mutated.jsonl"
    # a third kept as they are, so that both readers interleave; the first too, or the file would not look
    # line-delimited (a broken first line makes it one pretty-printed document, read by Python alone)
    chosen = [rng.choice(lines) for _ in range(250)]
    kept = [chosen[0], *(line if rng.random() < 0.3 else mutate(line, rng) for line in chosen[1:])]
    path.write_bytes(b"\n".join(kept) + b"\n")
    compiled, python, handed = load_both(monkeypatch, path)
    assert_same(compiled, python)
    assert compiled["steps"].height > 500 and 0 < len(handed) < 250
    assert {"malformed_json", "wrong_type"} <= set(compiled["rejected"]["reason_code"])


def convention_keys(mapping) -> list[str]:
    from agentops_kit import conventions as cv

    m = ak.load_mapping(mapping)
    return sorted({
        *cv.MODEL_KEYS, *cv.INPUT_TOKEN_KEYS, *cv.OUTPUT_TOKEN_KEYS, *cv.CACHED_TOKEN_KEYS, *cv.TOOL_NAME_KEYS,
        *cv.TOOL_INPUT_KEYS, *cv.INPUT_KEYS, *cv.OUTPUT_KEYS, *cv.ERROR_KEYS, *cv.COST_TOTAL_KEYS,
        *[k for pair in cv.COST_PAIR_KEYS for k in pair], "openinference.span.kind", "gen_ai.operation.name",
        *m.step_kind_attributes, *m.approval.decision_attributes, *m.approval.approver_attributes,
        *m.mode.attributes, *m.outcome.attributes, *m.agent_attributes, *m.agent_version_attributes,
        *m.workflow_attributes, *m.agent_fallback_attributes, "other.key",
    })


TEXTS = ["", "chat", "execute_tool", "TOOL", "llm", "retriever", "RETRIEVER", "agent", "approval", "Approved",
         "no", "shadow", "SHADOW", "weird", "success", "Failed", "gpt-4o-mini", "unknown_service:python", "12",
         "-3", "1.5", '{"version": "v9"}', '{"version": 7}', "[1]", "é", 'tab\t"q"\\']


def any_typed_value(rng: random.Random) -> dict:
    return rng.choice([
        {"stringValue": rng.choice(TEXTS)}, {"stringValue": rng.choice(TEXTS)}, {"stringValue": rng.choice(TEXTS)},
        {"intValue": rng.choice(["0", "5", "-7", 42])}, {"doubleValue": rng.choice([0.0, 2.5, 1e-7, 3, 1e16])},
        {"boolValue": rng.random() < 0.5}, {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}]}},
        {"kvlistValue": {"values": [{"key": "version", "value": {"stringValue": "v1"}}]}}, {}, {"bytesValue": "AAE="},
    ])


@pytest.mark.parametrize("seed, mapping", [(1, None), (2, "custom")])
def test_conventions_with_values_of_every_type_agree(monkeypatch, tmp_path, seed, mapping):
    """Spans carrying the conventions' attributes with values of any type, names that mean approvals,
    retrieval documents with odd numbering: the decoder reads about half the lines itself, and both
    readers agree on every row, hint, document and rejection."""
    if mapping == "custom":
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text("action_tools: ['refund_*', 'x*']\nagent_attributes: [other.key, gen_ai.agent.name]\n"
                           "approval:\n  span_names: [s]\n  approved_values: ['yes', 'true', '5']\n"
                           "mode:\n  shadow_values: [shadow, weird]\noutcome:\n  success: [success, 'false']\n")
    rng, keys = random.Random(seed), convention_keys(mapping)
    lines = []
    for n in range(1, 301):
        attrs = [{"key": rng.choice(keys), "value": any_typed_value(rng)} for _ in range(rng.randint(0, 8))]
        if rng.random() < 0.3:
            attrs = [{"key": "openinference.span.kind", "value": {"stringValue": "RETRIEVER"}}] + [
                {"key": f"retrieval.documents.{rng.choice(['0', '1', '01', '10'])}.document."
                        f"{rng.choice(['id', 'score', 'version', 'metadata', 'other'])}", "value": any_typed_value(rng)}
                for _ in range(rng.randint(1, 6))]
        one = {**span(n, name=rng.choice(["s", "approval", "HUMAN_APPROVAL", "execute_tool x", "execute_tool ", ""]),
                      status=rng.choice([{}, {"code": 2}, {"code": 2, "message": "boom"}, {"code": "STATUS_CODE_OK"}])),
               "traceId": f"{rng.randrange(30):032x}", "parentSpanId": rng.choice(["", f"{rng.randrange(1, 300):016x}"]),
               "attributes": attrs}
        lines.append(otlp_line(one, service=rng.choice(["svc", "unknown_service:x"])))
    path = tmp_path / "conventions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    compiled, python, handed = load_both(monkeypatch, path, mapping=mapping, pricing=ROOT / "agentops_kit/templates/pricing.yaml")
    assert_same(compiled, python)
    assert 60 < len(handed) < 240 and compiled["sources"].height > 30


def test_very_many_attributes_are_left_to_python(monkeypatch, tmp_path):
    """The decoder finds duplicate keys by a linear scan: past 256 attributes on a span (or entries in a
    kvlist) it hands the line over, where a dict does it in linear time."""
    many = {f"k{i}": {"intValue": str(i)} for i in range(300)}
    kvlist = {"big": {"kvlistValue": {"values": [{"key": f"e{i}", "value": {"boolValue": True}} for i in range(300)]}}}
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join([otlp_line(span(1)), otlp_line(span(2, attrs=many)), otlp_line(span(3, attrs=kvlist)),
                               otlp_line(span(4, attrs=dict(list(many.items())[:200])))]) + "\n")
    compiled, python, handed = load_both(monkeypatch, path)
    assert handed == [2, 3]
    assert_same(compiled, python)
    assert len(json.loads(compiled["steps"]["attributes"][1])) == 301  # with service.name
