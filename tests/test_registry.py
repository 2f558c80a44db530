"""The reader registry is the one list of formats: detection, loading, the command line's --input-format, the
load_traces docstring and the README's table of formats all agree with it."""

from __future__ import annotations

import dataclasses
import json
import re

import click
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.errors import AgentOpsError
from agentops_kit.files import logical_name, read_head
from agentops_kit.readers import registry
from agentops_kit.readers.detect import detect
from agentops_kit.tableset import table_paths

from .conftest import ROOT, SAMPLE, THIRD_PARTY

# one real file per format: a format added to the registry without an example here fails the test below
EXAMPLES = {
    "otlp": THIRD_PARTY / "otel" / "spec_file-exporter_example_traces.jsonl",
    "otlp_proto": None,  # written by the test: the spec's example as the file exporter writes `format: proto`
    "canonical": None,  # written by the test from the sample: canonical JSONL and Parquet tables
    "tau_bench": THIRD_PARTY / "tau-bench" / "gpt-4o-airline.json",
    "otel_sdk": THIRD_PARTY / "any-agent" / "OPENAI_trace.json",
    "langfuse": THIRD_PARTY / "langfuse-framework-traces" / "agno-2025-06-11.json",
    "langsmith": THIRD_PARTY / "langsmith-sdk" / "langsmith_py_wrap_openai_.json",
}


def test_every_entry_names_readers_that_exist():
    assert len(set(registry.NAMES)) == len(registry.FORMATS) and registry.BY_NAME.keys() == set(registry.NAMES)
    for fmt in registry.FORMATS:
        assert fmt.description and (fmt.content is not None or fmt.file_endings or fmt.magic), fmt.name
        assert callable(registry.function(fmt.read)), fmt.name
        if fmt.read_lines:
            assert callable(registry.function(fmt.read_lines)), fmt.name
        if fmt.compiled:
            compiled = registry.module(fmt.compiled)
            assert callable(compiled.available) and callable(compiled.read_file), fmt.name


def test_detection_names_the_format_of_a_real_file_of_each_kind(tmp_path):
    assert list(EXAMPLES) == list(registry.NAMES)
    sample = ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz")
    tables = sample.write_parquet(tmp_path / "tables")
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text(json.dumps({"record": "step", "run_id": "r1", "step_id": "s1", "kind": "agent"}) + "\n")
    csv = tmp_path / "runs.csv"
    sample.runs.collect().drop("started_at", "ended_at").write_csv(csv)
    from .test_otlp_proto import json_documents, write_proto

    proto = [write_proto(tmp_path / f"traces-{c}.binpb", json_documents(EXAMPLES["otlp"]), c)
             for c in ("none", "zstd", "stream", "gzip")]
    files = {**{n: [p] for n, p in EXAMPLES.items() if p}, "canonical": [table_paths(tables)["runs"], jsonl, csv],
             "otlp_proto": proto}
    files["otlp"].append(SAMPLE / "traces.otlp.jsonl.gz")
    for name, paths in files.items():
        for path in paths:
            assert detect(read_head(path)[:64 * 1024], logical_name(path)) == name, path
    assert detect(b'{"hello": "world"}', "notes.json") is None


def test_every_trace_command_offers_exactly_the_registry_formats():
    def commands(group, prefix=()):
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from commands(cmd, (*prefix, name))
            else:
                yield (*prefix, name), cmd

    offering = {}
    for path, cmd in commands(main):
        for param in cmd.params:
            if "--input-format" in getattr(param, "opts", ()):
                offering[" ".join(path)] = param.type
    assert {"ingest", "metrics", "policy check"} <= set(offering)
    for command, kind in offering.items():
        assert isinstance(kind, click.Choice) and tuple(kind.choices) == registry.NAMES, command
    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert "|".join(registry.NAMES) in result.output


def test_load_traces_documents_and_checks_the_registry_formats():
    assert f"force one reader ({', '.join(registry.NAMES)})" in ak.load_traces.__doc__
    with pytest.raises(AgentOpsError, match=re.escape(f"expected one of {', '.join(registry.NAMES)}")):
        ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", format="zipkin")


def test_the_readme_table_of_formats_lists_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Formats read", 1)[1].split("\n\n", 2)[1]
    assert sorted(re.findall(r"^\| `(\w+)` \|", table, re.M)) == sorted(registry.NAMES)


def test_a_new_registry_entry_is_detected_and_loaded(monkeypatch):
    """An entry is all a format needs: here an OTLP look-alike, placed first, takes the OTLP files."""
    otlp = registry.BY_NAME["otlp"]
    twin = dataclasses.replace(otlp, name="otlp_twin", description="OTLP under another name", compiled=None)
    formats = (twin, *registry.FORMATS)
    monkeypatch.setattr(registry, "FORMATS", formats)
    monkeypatch.setattr(registry, "NAMES", tuple(f.name for f in formats))
    monkeypatch.setattr(registry, "BY_NAME", {f.name: f for f in formats})
    path = EXAMPLES["otlp"]
    detected = ak.load_traces(path)
    forced = ak.load_traces(path, format="otlp_twin")
    for ts in (detected, forced):
        runs = ts.runs.collect()
        assert runs.height > 0 and set(runs["format"]) == {"otlp_twin"}
    assert detected.runs.collect().drop("format").equals(ak.load_traces(path, format="otlp").runs.collect().drop("format"))
