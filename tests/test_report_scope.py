"""Nothing to show is said plainly: no runs, a week without runs, an unknown agent or a bad week make
`report weekly` print one line naming the weeks and agents the traces hold, exit 2, before any kernel starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from agentops_kit.cli import main
from agentops_kit.report import WeeklyReview
from agentops_kit.scope import NothingToShow
from agentops_kit.weeks import last_week

from .conftest import SAMPLE, otlp_line, otlp_span, write_lines

TRACES = str(SAMPLE / "traces.otlp.jsonl.gz")
HELD = ("the traces hold 616 runs; weeks: 2026-W41 .. 2026-W47; "
        "agents: InvoiceCategorizer, SocAlertTriage, SupportRefundAgent")
W47_2025 = 1_763_456_400_000_000_000  # 2025-11-18, in 2025-W47
WEEK_NS = 7 * 24 * 3600 * 10**9


def two_agents(path):
    """Agent A has a run in 2025-W47, agent B one in 2025-W48."""
    lines = [otlp_line(otlp_span(trace_id=f"{i + 1}" * 32, span_id=f"{i + 1}" * 16, start=W47_2025 + i * WEEK_NS,
                                 end=W47_2025 + i * WEEK_NS + 60 * 10**9,
                                 attrs={"gen_ai.agent.name": {"stringValue": agent},
                                        "agentops.outcome": {"stringValue": "success"}}))
             for i, agent in ((0, "A"), (1, "B"))]
    return write_lines(path, lines)


def run(tmp_path, *args):
    return CliRunner().invoke(main, ["report", "weekly", "--out", str(tmp_path / "out"), *args])


def assert_one_line(result, tmp_path, *expected):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert not (tmp_path / "out").exists()  # checked before papermill: nothing written


@pytest.mark.parametrize("args, expected", [
    (["--week", "1999-W01"], ["no runs for week 1999-W01", HELD]),
    (["--week", "2026-W47", "--agent", "TypoName"], ["no runs for agent 'TypoName'", HELD]),
    (["--week", "2026-W47", "--agent", "SocAlertTriage", "--agent", "Typo"], ["agent 'Typo'", HELD]),
    (["--week", "2026-47"], ["week '2026-47': expected an ISO week such as 2026-W47"]),
    (["--week", "2026-W54"], ["week '2026-W54'"]),
], ids=["week-without-runs", "unknown-agent", "one-unknown-agent", "bad-week", "week-54"])
def test_nothing_to_show_in_the_sample(tmp_path, args, expected):
    assert_one_line(run(tmp_path, "--traces", TRACES, *args), tmp_path, *expected)


def test_weeks_back_out_of_range(tmp_path):
    result = run(tmp_path, "--traces", TRACES, "--week", "2026-W47", "--weeks-back", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--weeks-back" in result.stderr and "0" in result.stderr and not (tmp_path / "out").exists()


def test_empty_export(tmp_path):
    empty = write_lines(tmp_path / "empty.jsonl", [])
    assert_one_line(run(tmp_path, "--traces", str(empty), "--week", "2026-W47"), tmp_path, "the traces hold no runs")


def test_the_default_week_is_checked_too(tmp_path):
    traces = two_agents(tmp_path / "x.jsonl")
    assert_one_line(run(tmp_path, "--traces", str(traces)), tmp_path, f"no runs for week {last_week()}",
                    "the traces hold 2 runs; weeks: 2025-W47 .. 2025-W48; agents: A, B")


def test_an_agent_without_runs_in_the_week(tmp_path):
    traces = two_agents(tmp_path / "x.jsonl")
    assert_one_line(run(tmp_path, "--traces", str(traces), "--week", "2025-W48", "--agent", "A"), tmp_path,
                    "agent A: no runs for week 2025-W48; the traces hold 1 runs; weeks: 2025-W47; agents: A")


def test_the_review_object_says_the_same(tmp_path):
    traces = two_agents(tmp_path / "x.jsonl")
    with pytest.raises(NothingToShow, match="no runs for agent 'C'; the traces hold 2 runs"):
        WeeklyReview.from_files(traces, "2025-W47", agents=["C"])
    with pytest.raises(NothingToShow, match="the traces hold no runs"):
        WeeklyReview.from_files(write_lines(tmp_path / "e.jsonl", []))
    review = WeeklyReview.from_files(traces, "2025-W48", agents=["B"])
    assert review.to_polars()["agent"].to_list() == ["B"]
    assert "0 weeks" not in review.figure().layout.title.text
