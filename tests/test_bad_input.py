"""Bad trace records never stop a load: each lands in ts.rejected with file, line and reason.
Missing files and broken config files stop with one message naming the file and the problem."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest

import agentops_kit as ak

from .conftest import otlp_line, otlp_span, write_lines

GOOD = otlp_span(trace_id="1" * 32, span_id="1" * 16, name="root")


def rejected(ts):
    return ts.rejected.collect().sort("file", "line")


def test_malformed_lines_wrong_types_and_bad_units_are_set_aside(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", [
        otlp_line(GOOD),                                                     # line 1: fine
        '{"resourceSpans": [{"scopeSpans": [{"spans": [',                    # line 2: truncated JSON
        otlp_line(otlp_span(trace_id="2" * 32, span_id="2" * 16,
                            attrs={"gen_ai.usage.input_tokens": {"intValue": "many"}})),  # line 3: wrong type
        otlp_line(otlp_span(trace_id="3" * 32, span_id="3" * 16, start=1_700_000_000)),   # line 4: seconds
        otlp_line(otlp_span(trace_id="zz" * 16, span_id="4" * 16)),          # line 5: id not hex
        '{"something": "else"}',                                             # line 6: not OTLP
    ])
    bad = path.read_bytes() + b'{"resourceSpans": "\xff\xfe"}\n'              # line 7: not UTF-8
    path.write_bytes(bad)
    ts = ak.load_traces(path)
    rej = rejected(ts)
    assert rej["line"].to_list() == [2, 3, 4, 5, 6, 7]
    assert rej["reason_code"].to_list() == [
        "malformed_json", "wrong_type", "wrong_type", "wrong_type", "not_otlp", "malformed_json"]
    assert "looks like seconds" in rej.filter(pl.col("line") == 4)["reason"][0]
    assert "not hexadecimal" in rej.filter(pl.col("line") == 5)["reason"][0]
    assert set(rej["file"]) == {str(path)}
    assert ts.runs.collect()["run_id"].to_list() == ["1" * 32]  # the good record is loaded
    assert ts.summary()["rejected"] == 6 and "rejected records: 6" in ts.summary_text()


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    lines = [otlp_line(otlp_span(trace_id=f"{i:032x}", span_id=f"{i:016x}")) for i in range(1, 200)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    ts = ak.load_traces(path)
    rej = rejected(ts)
    assert "truncated_file" in rej["reason_code"].to_list()
    runs = ts.runs.collect().height
    assert 0 < runs < 199  # the complete lines before the cut are loaded
    assert rej.filter(pl.col("reason_code") != "truncated_file")["reason_code"].to_list() in ([], ["malformed_json"])


def test_duplicate_spans_across_files_keep_the_first(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [otlp_line(GOOD)])
    b = write_lines(tmp_path / "b.jsonl", [otlp_line(GOOD)])
    ts = ak.load_traces([a, b])
    assert ts.steps.collect().height == 1
    rej = rejected(ts).row(0, named=True)
    assert rej["reason_code"] == "duplicate_span" and rej["file"] == str(b) and str(a) in rej["reason"]


def test_span_whose_parent_never_arrives_is_kept_and_counted(tmp_path):
    root = otlp_span(trace_id="5" * 32, span_id="a" * 16, name="root")
    child = otlp_span(trace_id="5" * 32, span_id="b" * 16, parent="c" * 16, name="lost child")
    headless = otlp_span(trace_id="6" * 32, span_id="d" * 16, parent="e" * 16, name="no root")
    ts = ak.load_traces(write_lines(tmp_path / "t.jsonl", [otlp_line(root, child, headless)]))
    runs = ts.runs.collect().sort("run_id")
    assert runs["orphan_steps"].to_list() == [1, 1]
    assert runs["root_missing"].to_list() == [False, True]
    assert ts.steps.collect().height == 3
    assert ts.summary()["root_missing_runs"] == 1


def test_missing_ids_in_other_formats(tmp_path):
    ls = tmp_path / "runs.jsonl"
    ls.write_text("\n".join([
        json.dumps({"id": "r1", "trace_id": "r1", "run_type": "chain", "name": "ok"}),
        json.dumps({"trace_id": "r1", "parent_run_id": "r1", "run_type": "tool", "name": "no id"}),
    ]) + "\n")
    ts = ak.load_traces(ls, format="langsmith")
    assert rejected(ts)["reason_code"].to_list() == ["missing_id"]
    canon = tmp_path / "c.jsonl"
    canon.write_text('{"record": "step", "step_id": "s1"}\n{"record": "step", "run_id": "r", "step_id": "s"}\n')
    ts = ak.load_traces(canon)
    rej = rejected(ts)
    assert rej["line"].to_list() == [1] and rej["reason_code"].to_list() == ["missing_id"]
    assert ts.runs.collect()["run_id"].to_list() == ["r"]


def test_unknown_format_is_rejected_not_fatal(tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    good = write_lines(tmp_path / "t.jsonl", [otlp_line(GOOD)])
    ts = ak.load_traces([odd, good])
    assert rejected(ts)["reason_code"].to_list() == ["unknown_format"]
    assert ts.runs.collect().height == 1


def test_missing_input_stops_with_the_name(tmp_path):
    with pytest.raises(ak.InputFileError, match="nothing-here.jsonl: no such file"):
        ak.load_traces(tmp_path / "nothing-here.jsonl")
    with pytest.raises(ak.InputFileError, match="no file matches"):
        ak.load_traces(str(tmp_path / "*.otlp"))


def test_a_corrupt_zstd_export_is_named_not_misread(tmp_path):
    path = tmp_path / "t.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    rejected = ak.load_traces(path).rejected.collect()
    assert rejected["reason_code"].to_list() == ["truncated_file"]
    assert rejected["reason"][0].startswith("zstd stream is")


@pytest.mark.parametrize("text, key, line, message", [
    ("outcome:\n  attributes: [a]\n  sucess: [ok]\n", "outcome.sucess", 3, "unknown key"),
    ("agent_attributes: 12\n", "agent_attributes", 1, "valid list"),
    ("outcome:\n  label_success_min: high\n", "outcome.label_success_min", 2, "valid number"),
    ("outcome: [\n", None, 2, "not valid YAML"),
])
def test_bad_mapping_names_file_key_and_line(tmp_path, text, key, line, message):
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    with pytest.raises(ak.ConfigError) as err:
        ak.load_traces(write_lines(tmp_path / "t.jsonl", [otlp_line(GOOD)]), mapping=path)
    assert err.value.file == str(path) and err.value.key == key and err.value.line == line
    assert message in str(err.value) and str(path) in str(err.value)


def test_bad_pricing_and_missing_config_files(tmp_path):
    traces = write_lines(tmp_path / "t.jsonl", [otlp_line(GOOD)])
    bad = tmp_path / "pricing.yaml"
    bad.write_text("models:\n  gpt-4o:\n    - {input: -1, output: 2}\n")
    with pytest.raises(ak.ConfigError) as err:
        ak.load_traces(traces, pricing=bad)
    assert err.value.key == "models.gpt-4o.0.input" and err.value.line == 3 and "greater than or equal to 0" in str(err.value)
    bad.write_text("aliases: {foo: bar}\n")
    with pytest.raises(ak.ConfigError, match="alias 'foo' points to 'bar'"):
        ak.load_traces(traces, pricing=bad)
    with pytest.raises(ak.ConfigError, match="file not found"):
        ak.load_traces(traces, pricing=tmp_path / "missing.yaml")
    with pytest.raises(ak.ConfigError, match="labels file not found"):
        ak.load_traces(traces, labels=tmp_path / "missing.csv")
    nolabel = tmp_path / "labels.csv"
    nolabel.write_text("id,name,value\n1,a,b\n")
    with pytest.raises(ak.ConfigError, match="needs a 'run_id' column"):
        ak.load_traces(traces, labels=nolabel)


def test_wrongly_typed_structure_is_set_aside_not_fatal(tmp_path):
    """Lists where objects belong (and the reverse), an unhashable status code, a numeric attribute key,
    a non-string status message or span id: each record is rejected with the reason, the load goes on."""
    good = otlp_span(trace_id="1" * 32, span_id="1" * 16, name="root")
    lines = [
        otlp_line(good),
        '{"resourceSpans": 5}',
        '{"resourceSpans": [[]]}',
        '{"resourceSpans": [{"scopeSpans": [{"spans": {"a": 1}}]}]}',
        '{"resourceSpans": [{"scopeSpans": ["x"]}]}',
        otlp_line({**otlp_span(trace_id="2" * 32, span_id="2" * 16), "status": {"code": {"x": 1}}}),
        otlp_line({**otlp_span(trace_id="3" * 32, span_id="3" * 16), "status": {"code": 2, "message": ["no"]}}),
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
            {**otlp_span(trace_id="4" * 32, span_id="4" * 16), "attributes": [{"key": 7, "value": {}}]}]}]}]}),
        otlp_line({**otlp_span(trace_id="5" * 32), "spanId": [1, 2]}),
    ]
    ts = ak.load_traces(write_lines(tmp_path / "odd.jsonl", lines))
    rej = rejected(ts)
    assert rej["line"].to_list() == list(range(2, 10))
    assert set(rej["reason_code"]) == {"wrong_type"}
    assert "must be a list" in rej["reason"][0] and "attribute key must be a string" in rej["reason"][6]
    assert rej["record_id"][7] == "[1,2]"  # whatever the id was, as text
    assert ts.runs.collect()["run_id"].to_list() == ["1" * 32]
