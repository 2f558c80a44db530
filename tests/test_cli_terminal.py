"""What the commands print to a terminal: trace- and agent-supplied text is inert (ANSI and OSC-8 escape
sequences shown escaped, never sent raw), `metrics` leads with its headline and fits 80 columns, and long
texts (lint advice, inventory reasons) wrap instead of being cut."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.analytics.metrics import weekly_metrics
from agentops_kit.analytics.policy_lint import lint_policy
from agentops_kit.cli import main
from agentops_kit.inventory import score_inventory

from .conftest import SAMPLE, TEMPLATES, otlp_line, otlp_span, write_lines

OSC8 = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
AGENT = "Evil\x1b[31mAgent" + OSC8
TOOL = "wipe\x1b[2J\u202e" + OSC8
MODEL = "model\x1b[5m" + OSC8
SAMPLE_ARGS = [str(SAMPLE / "traces.otlp.jsonl.gz"), "--labels", str(SAMPLE / "labels.csv"),
               "--mapping", str(TEMPLATES / "mapping.yaml"), "--pricing", str(TEMPLATES / "pricing.yaml")]
RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")  # anything but a newline that a terminal acts on


def run(args, columns=80):
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def evil(tmp_path):
    """An OTLP export whose agent, tool and model names carry ANSI and OSC-8 sequences, and a policy for it."""
    text = lambda v: {"stringValue": v}  # noqa: E731
    spans = [
        otlp_span(trace_id="1" * 32, span_id="1" * 16, name="run",
                  attrs={"gen_ai.operation.name": text("invoke_agent"), "gen_ai.agent.name": text(AGENT)}),
        otlp_span(trace_id="1" * 32, span_id="2" * 16, parent="1" * 16, name="tool",
                  attrs={"gen_ai.operation.name": text("execute_tool"), "gen_ai.tool.name": text(TOOL)}),
        otlp_span(trace_id="1" * 32, span_id="3" * 16, parent="1" * 16, name="chat",
                  attrs={"gen_ai.operation.name": text("chat"), "gen_ai.request.model": text(MODEL),
                         "gen_ai.usage.input_tokens": {"intValue": "10"}, "gen_ai.usage.output_tokens": {"intValue": "5"}}),
    ]
    export = write_lines(tmp_path / "evil.otlp.jsonl", [otlp_line(*spans)])
    policy = tmp_path / "evil.yaml"  # a JSON string is a YAML double-quoted string: the escapes arrive raw
    policy.write_text(f"agent:\n  name: {json.dumps(AGENT)}\n  max_tool_calls: 0\n  tools_allowlist: [order_lookup]\n"
                      f"  actions_require_approval: [{json.dumps(TOOL)}]\n")
    return export, policy


def inert(output: str) -> None:
    assert not RAW.search(output), repr(RAW.search(output).group())
    assert "\\x1b]8;;http://evil\\x1b\\click\\x1b]8;;\\x1b\\" in output  # shown, escaped


def test_ingest_summary_escapes_names_from_the_traces(evil, tmp_path):
    result = run(["ingest", evil[0], "--out", tmp_path / "tables"])
    assert result.exit_code == 0
    inert(result.stdout)
    assert "agents: Evil\\x1b[31mAgent" in result.stdout and "unpriced models: model\\x1b[5m" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_metrics_table_and_csv_escape_names(evil, fmt):
    for by in ("agent", "model"):
        result = run(["metrics", evil[0], "--by", by, "--format", fmt], columns=400)
        assert result.exit_code == 0
        inert(result.stdout)


def test_metrics_json_keeps_names_exact_and_inert(evil):
    result = run(["metrics", evil[0], "--by", "agent", "--format", "json"])
    assert not RAW.search(result.stdout) and "\\u001b" in result.stdout
    assert json.loads(result.stdout)[0]["agent"] == AGENT  # JSON's own escapes: nothing lost


def test_policy_check_and_lint_escape_names(evil):
    export, policy = evil
    check = run(["policy", "check", policy, "--traces", export], columns=400)
    assert check.exit_code == 1 and "violations" in check.stdout
    inert(check.stdout)
    assert "unapproved_action" in check.stdout and "wipe\\x1b[2J\\u202e" in check.stdout
    lint = run(["policy", "lint", policy], columns=400)
    assert lint.exit_code == 1
    assert not RAW.search(lint.stdout) and "Evil\\x1b[31mAgent" in lint.stdout


def test_inventory_score_escapes_names(tmp_path):
    rows = list(csv.DictReader(io.StringIO((TEMPLATES / "inventory.csv").read_text())))
    rows[0] = {**rows[0], "workflow": "refunds\x1b[31m" + OSC8, "irreversible_actions": TOOL}
    path = tmp_path / "inventory.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for fmt in ("table", "csv"):
        result = run(["inventory", "score", path, "--format", fmt], columns=400)
        assert result.exit_code == 0, result.output
        inert(result.stdout)


# ---- readable in a terminal -----------------------------------------------------------------------------------
def test_metrics_leads_with_the_headline_and_fits_80_columns(sample_ts):
    result = run(["metrics", *SAMPLE_ARGS])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    header = lines[:lines.index(next(line for line in lines if line.startswith("──")))]
    words = " ".join(" ".join(line.split()) for line in header).split()
    assert words[:4] == ["agent", "week", "runs", "completion"]
    for word in ("escalation", "successful", "customer", "impact", "errors"):
        assert word in words
    assert "wow" not in result.stdout and "p95" not in result.stdout  # the rest is behind --all
    m = weekly_metrics(sample_ts, by=("agent", "week"))
    first = m.row(0, named=True)
    row = next(line for line in lines if line.startswith(f"{first['agent']}  {first['week']}"))
    assert row.split()[2:] == [str(first["runs"]), f"{first['completion_rate']:.1%}", f"{first['escalation_rate']:.1%}",
                               ak.rendering.money(first["cost_per_successful_run"]), str(first["customer_impact_errors"])]
    unknown = m.filter(pl.col("cost_per_successful_run").is_null() & (pl.col("runs") > 0))
    assert f"cost per successful run is – in {unknown.height} rows" in " ".join(lines)  # said, with its count


@pytest.mark.parametrize("by", ["agent", "workflow,week", "agent,workflow", "agent,workflow,mode,week"])
def test_every_grouping_fits_80_columns(by):
    result = run(["metrics", *SAMPLE_ARGS, "--by", by])
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.stdout.splitlines())


def test_all_and_the_machine_formats_carry_every_column(sample_ts):
    columns = weekly_metrics(sample_ts, by=("agent", "week")).columns
    wide = run(["metrics", *SAMPLE_ARGS, "--all"])
    header = wide.stdout.splitlines()[0]
    for column in columns:
        assert column.replace("_", " ") in header, column
    as_csv = run(["metrics", *SAMPLE_ARGS, "--format", "csv"])
    assert as_csv.stdout.splitlines()[0].split(",") == columns
    as_json = run(["metrics", *SAMPLE_ARGS, "--format", "json"])
    assert list(json.loads(as_json.stdout)[0]) == columns


def column_text(output: str, column: str) -> list[str]:
    """The cells of ``column`` of a rendered table, each unwrapped into one string."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("──"))
    spans = [(m.start(), m.end()) for m in re.finditer("─+", lines[rule])]
    start, end = next(s for s in spans if column in "".join(line[s[0]:s[1]] for line in lines[:rule]))
    cells, current = [], []
    for line in lines[rule + 1:]:
        if line[:spans[0][1]].strip() and current:  # a new row starts where the first column has text
            cells.append(" ".join(current))
            current = []
        current.append(line[start:end].strip())
    cells.append(" ".join(current))
    return [" ".join(c.split()) for c in cells]


def test_lint_advice_wraps_and_is_whole():
    result = run(["policy", "lint", TEMPLATES / "policies"])
    advice = lint_policy([TEMPLATES / "policies"])["detail"].to_list()
    assert advice and any(len(a) > 60 for a in advice)
    assert all(len(line) <= 80 for line in result.stdout.splitlines()) and "…" not in result.stdout
    assert column_text(result.stdout, "detail") == advice


def test_inventory_reasons_wrap_and_are_whole():
    result = run(["inventory", "score", SAMPLE.parent / "inventory.csv"])
    assert all(len(line) <= 80 for line in result.stdout.splitlines()) and "…" not in result.stdout
    scored = score_inventory(SAMPLE.parent / "inventory.csv")
    shown = column_text(result.stdout, "reasons")
    expected = [" ".join(r) if len(r) < 2 else " ".join(f"- {x}" for x in r) for r in scored["reasons"].to_list()]
    assert shown == expected


def test_a_terminal_narrower_than_the_table_gets_records_not_cut_words():
    result = run(["metrics", *SAMPLE_ARGS, "--by", "agent,workflow,mode"], columns=60)
    assert all(len(line) <= 60 for line in result.stdout.splitlines())
    assert "agent                    SupportRefundAgent" in result.stdout  # one value per line, whole


def test_the_installed_command_at_80_columns(tmp_path):
    """The real console script, in a process whose terminal is 80 wide."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("agentops-kit")
    done = subprocess.run([str(exe), "metrics", *SAMPLE_ARGS], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"}, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""  # no progress bar when nobody watches
    assert all(len(line) <= 80 for line in done.stdout.splitlines()) and "completion" in done.stdout
    assert shutil.which("agentops-kit", path=str(exe.parent))
