"""The bundled sample data, the canonical Parquet round trip, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.sample import write_sample
from agentops_kit.tableset import TableSetError, table_paths

from .conftest import SAMPLE, TEMPLATES, THIRD_PARTY


def test_sample_is_deterministic_and_checked_in(tmp_path):
    paths = write_sample(tmp_path)
    for name in ("traces.otlp.jsonl.gz", "labels.csv", "quality_labels.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), f"regenerate data/sample ({name})"
    assert set(paths) == {"traces", "labels", "quality_labels"}


def test_sample_exercises_every_part(sample_ts):
    ts = sample_ts
    runs, steps = ts.runs.collect(), ts.steps.collect()
    assert ts.rejected.collect().height == 0
    assert runs.height == 616 and set(runs["agent"]) == {"SupportRefundAgent", "InvoiceCategorizer", "SocAlertTriage"}
    assert set(runs["outcome"]) == {"success", "failure", "escalated"}
    assert set(runs["mode"]) == {"active", "shadow"}
    assert runs["started_at"].dt.week().n_unique() == 7
    decisions = steps.filter(pl.col("kind") == "approval")["approval_decision"].value_counts()
    assert set(decisions["approval_decision"]) == {"approved", "rejected"}
    assert steps.filter(pl.col("kind") == "action").height > 0
    assert steps.filter(pl.col("tool_name") == "transfer_to_human_agents").height == runs.filter(
        pl.col("outcome") == "escalated").height - steps.filter(pl.col("approval_decision") == "rejected").height
    sources = ts.sources.collect()
    assert sources.height > 0 and 0 < sources["version"].null_count() < sources.height
    labels = ts.labels.collect()
    assert set(labels["name"]) == {"customer_impact", "human_decision"}
    assert ts.summary()["unpriced_models"] == ["mistral-large-2411"]
    assert 0 < runs["cost_usd"].null_count() < runs.height
    assert steps["output"].str.contains("<script>", literal=True).any()  # the escaping test case


def test_parquet_round_trip(sample_ts, tmp_path):
    sample_ts.write_parquet(tmp_path)
    back = ak.TraceSet.read_parquet(tmp_path)
    for table in ("runs", "steps", "sources", "labels", "rejected"):
        assert_frame_equal(getattr(back, table).collect(), getattr(sample_ts, table).collect())
    again = ak.load_traces(tmp_path)  # a folder of canonical tables loads like any export
    assert_frame_equal(again.runs.collect(), sample_ts.runs.collect())
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "manifest.json", json.loads((tmp_path / "manifest.json").read_text())["set"]]


def test_canonical_jsonl_and_a_loose_table(tmp_path):
    path = tmp_path / "mine.jsonl"
    recs = [
        {"record": "run", "run_id": "r1", "agent": "Bot", "workflow": "wf", "outcome": "success"},
        {"record": "step", "run_id": "r1", "step_id": "s0", "kind": "agent", "name": "run",
         "started_at": "2026-11-16T10:00:00Z", "ended_at": "2026-11-16T10:00:30Z"},
        {"record": "step", "run_id": "r1", "step_id": "s1", "parent_id": "s0", "kind": "llm", "model": "gpt-4o",
         "input_tokens": 1000, "output_tokens": 10, "cost_usd": 0.01,
         "started_at": "2026-11-16T10:00:01Z", "ended_at": "2026-11-16T10:00:02Z"},
        {"record": "source", "run_id": "r1", "step_id": "s1", "document_id": "kb/1", "version": "v2", "score": 0.5},
        {"record": "label", "run_id": "r1", "name": "customer_impact", "value": "false"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    ts = ak.load_traces(path)
    run = ts.runs.collect().row(0, named=True)
    assert (run["agent"], run["workflow"], run["outcome"], run["cost_usd"], run["duration_s"]) == (
        "Bot", "wf", "success", 0.01, 30.0)
    assert ts.sources.collect()["version"].to_list() == ["v2"]
    ts.runs.collect().write_csv(tmp_path / "runs.csv")  # one table alone: its steps and labels would be missing
    with pytest.raises(TableSetError, match="runs.csv: a canonical table is read only with its whole table set"):
        ak.load_traces(tmp_path / "runs.csv")


def test_cli_ingest_writes_tables_and_summary(tmp_path):
    result = CliRunner().invoke(main, [
        "ingest", str(THIRD_PARTY / "tau-bench"), str(THIRD_PARTY / "any-agent"), "--out", str(tmp_path),
        "--pricing", str(TEMPLATES / "pricing.yaml")])
    assert result.exit_code == 0, result.output
    assert "runs: 207" in result.output and "rejected records: 0" in result.output
    assert pl.read_parquet(table_paths(tmp_path)["runs"]).height == 207


def test_progress_counts_every_byte_of_every_file(tmp_path, capsys):
    """The bar runs over bytes on disk: a large export shows progress inside the file, and the bar ends at
    exactly 100 % for plain, gzip and whole-file (non line-delimited) inputs together."""
    import gzip
    import shutil

    shutil.copy(SAMPLE / "traces.otlp.jsonl.gz", tmp_path / "a.otlp.jsonl.gz")
    (tmp_path / "b.otlp.jsonl").write_bytes(gzip.decompress((SAMPLE / "traces.otlp.jsonl.gz").read_bytes())[:300_000]
                                            .rsplit(b"\n", 1)[0] + b"\n")
    shutil.copy(THIRD_PARTY / "langsmith-sdk" / sorted(p.name for p in (THIRD_PARTY / "langsmith-sdk").iterdir())[0],
                tmp_path)
    ak.load_traces(tmp_path, progress=True)
    final = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("reading 3 file(s): 100%"), final


def test_cli_errors_exit_2_with_the_file(tmp_path):
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "none.jsonl: no such file" in result.output
    bad = tmp_path / "m.yaml"
    bad.write_text("nope: 1\n")
    result = CliRunner().invoke(main, ["ingest", str(THIRD_PARTY / "otel"), "--out", str(tmp_path / "out"),
                                       "--mapping", str(bad)])
    assert result.exit_code == 2 and "line 1, key 'nope': unknown key" in result.output


def test_console_script_demo(tmp_path):
    exe = [sys.executable, "-m", "agentops_kit.cli", "demo", "--out", str(tmp_path)]
    out = subprocess.run(exe, capture_output=True, text=True, check=True).stdout
    assert "runs: 616" in out and ak.TraceSet.read_parquet(tmp_path / "tables").runs.collect().height == 616
    assert "3 pending requests" in out and "1. order_status_inquiries" in out
    assert (tmp_path / "reports" / "weekly-2026-W47.html").exists() and "# Weekly agent review — 2026-W47" in out
