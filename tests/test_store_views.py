"""What reads a store gives what it gives over the same exports in memory: metrics, policy check, the weekly review
and its report; and the store's housekeeping (info, compact, prune) keeps what it holds."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from agentops_kit.cli import main
from agentops_kit.report import WeeklyReview
from agentops_kit.store import ingest, open_store
from agentops_kit.store.layout import read_commit

from .conftest import SAMPLE, TEMPLATES
from .test_store import KEYS, MAPPING, TRACES, tables

LABELS = [SAMPLE / "labels.csv", SAMPLE / "quality_labels.csv"]
CONFIG = {"policies": TEMPLATES / "policies", "readiness_file": TEMPLATES / "readiness.yaml",
          "error_budget_file": TEMPLATES / "error_budget.yaml", "baselines": TEMPLATES / "baselines.yaml",
          "policy_tests": TEMPLATES / "policy_tests", "quality_file": TEMPLATES / "quality.yaml"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("views") / "store"
    ingest(TRACES, into=path, mapping=MAPPING, labels=LABELS)
    return path


def cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in (0, 1), result.output
    return result.output


def approx_tree(value):
    """``value`` (JSON-like) with every float compared to 1e-9 relative: sums of money over a store's week
    partitions and over one frame add the same numbers in another order."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    if isinstance(value, dict):
        return {k: approx_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_tree(v) for v in value]
    return value


def test_metrics_and_policy_check_over_a_store_equal_them_over_the_exports(store):
    exports = ["--mapping", MAPPING, *[a for label in LABELS for a in ("--labels", label)]]
    in_memory = json.loads(cli("metrics", TRACES, *exports, "--format", "json"))
    assert json.loads(cli("metrics", "--store", store, "--format", "json")) == approx_tree(in_memory)
    two = json.loads(cli("metrics", "--store", store, "--weeks", "2026-W46..2026-W47", "--format", "json"))
    assert two == approx_tree([r for r in in_memory if r["week"] in ("2026-W46", "2026-W47")])
    checked = json.loads(cli("policy", "check", TEMPLATES / "policies", "--traces", TRACES, *exports, "--format", "json"))
    assert json.loads(cli("policy", "check", TEMPLATES / "policies", "--store", store, "--format", "json")) == checked
    result = CliRunner().invoke(main, ["metrics", "--store", str(store), "--mapping", str(MAPPING)])
    assert result.exit_code == 2 and "--mapping cannot be used with --store" in result.output


def test_the_weekly_review_over_a_store_equals_it_over_the_exports(store):
    exports = WeeklyReview.from_files(TRACES, "2026-W47", mapping=MAPPING, labels=LABELS, **CONFIG).to_dict()
    stored = WeeklyReview.from_store(store, "2026-W47", **CONFIG).to_dict()
    assert set(exports) == set(stored)
    for part in set(exports) - {"inputs"}:
        if isinstance(exports[part], list):
            assert stored[part] == approx_tree(exports[part]), part
        else:
            as_json = json.loads(json.dumps(exports[part], default=str))
            assert json.loads(json.dumps(stored[part], default=str)) == approx_tree(as_json), part
    assert stored["inputs"]["traces"][0]["path"].endswith("store.json")


def test_a_short_review_reads_only_its_weeks_and_keeps_its_numbers(store):
    exports = WeeklyReview.from_files(TRACES, "2026-W47", mapping=MAPPING, labels=LABELS, weeks_back=2,
                                      policies=CONFIG["policies"])
    stored = WeeklyReview.from_store(store, "2026-W47", weeks_back=2, policies=CONFIG["policies"])
    assert stored.ts.runs.collect()["started_at"].min().isocalendar()[1] == 45  # three weeks read, of seven
    assert stored.to_dict()["headline"] == approx_tree(exports.to_dict()["headline"])
    assert stored.to_dict()["trend"] == approx_tree(exports.to_dict()["trend"])
    assert_frame_equal(stored.violations.sort("run_id", "rule"), exports.violations.sort("run_id", "rule"))


def test_report_weekly_from_a_store_writes_the_digest_the_exports_give(store, tmp_path):
    options = {"--policy": "policies", "--readiness": "readiness_file", "--error-budget": "error_budget_file",
               "--baselines": "baselines", "--policy-tests": "policy_tests", "--quality": "quality_file"}
    out = cli("report", "weekly", "--store", store, "--week", "2026-W47", "--out", tmp_path,
              *[a for flag, key in options.items() for a in (flag, CONFIG[key])])
    assert "html:" in out
    expected = WeeklyReview.from_files(TRACES, "2026-W47", mapping=MAPPING, labels=LABELS, **CONFIG).digest()
    digest = (tmp_path / "weekly-2026-W47.md").read_text()
    numbers, _, inputs = digest.partition("\n## Inputs")
    assert numbers == expected.partition("\n## Inputs")[0]  # every number; the inputs name the store instead
    assert "store.json" in inputs and "as given to each ingest into the store" in inputs


def test_housekeeping_compacts_prunes_and_tells(tmp_path):
    lines = gzip.open(TRACES, "rt").readlines()
    first, second = tmp_path / "even.otlp.jsonl", tmp_path / "odd.otlp.jsonl"
    first.write_text("".join(lines[::2]))
    second.write_text("".join(lines[1::2]))  # requests of the same weeks: each week gets a second part
    path = tmp_path / "store"
    ingest(first, into=path)
    ingest(second, into=path)
    before = tables(open_store(path))
    parts = sum(len(p) for p in read_commit(path)["parts"]["steps"].values())
    out = cli("store", "compact", path)
    assert "partitions merged" in out
    assert sum(len(p) for p in read_commit(path)["parts"]["steps"].values()) < parts
    after = tables(open_store(path))
    for table in KEYS:
        assert_frame_equal(before[table], after[table])
    out = cli("store", "prune", path, "--older-than", "3650d")
    assert "nothing dropped" in out
    import datetime as dt

    from agentops_kit.store.housekeeping import prune

    done = prune(path, dt.timedelta(days=20), "test", today=dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc))
    assert done["weeks"] == ["2026-W41", "2026-W42", "2026-W43", "2026-W44", "2026-W45"]
    assert [w for w in open_store(path).runs.collect()["started_at"].dt.strftime("%G-W%V").unique().sort()] == [
        "2026-W46", "2026-W47"]
    info = cli("store", "info", path)
    assert "weeks: 2: 2026-W46" in info and "files ingested: 2" in info and "pruned at" in info
    assert "ingest" in cli("store", "info", path, "--format", "json")
    assert ingest([first, second], into=path).changed_nothing  # pruned weeks do not come back
    shutil.rmtree(path)
    result = CliRunner().invoke(main, ["store", "info", str(path)])
    assert result.exit_code == 2 and result.output.startswith("error: ") and "no such store folder" in result.output


def test_metrics_of_some_weeks_count_only_those_weeks_whatever_they_are_grouped_by(store):
    by_week = json.loads(cli("metrics", "--store", store, "--weeks", "2026-W47", "--by", "agent,week", "--format", "json"))
    by_agent = json.loads(cli("metrics", "--store", store, "--weeks", "2026-W47", "--by", "agent", "--format", "json"))
    assert {r["agent"]: r["runs"] for r in by_agent} == {r["agent"]: r["runs"] for r in by_week}
    by_day = json.loads(cli("metrics", "--store", store, "--weeks", "2026-W47", "--by", "day", "--format", "json"))
    assert sum(r["runs"] for r in by_day) == sum(r["runs"] for r in by_week)


def test_weeks_the_store_does_not_hold_are_named_with_those_it_holds(store):
    for command in (["metrics"], ["sessions"], ["policy", "check", TEMPLATES / "policies"]):
        result = CliRunner().invoke(main, [*map(str, command), "--store", str(store), "--weeks", "2026-W50..2026-W52"])
        assert result.exit_code == 2, result.output
        what = command[0] if command[0] != "policy" else "policy check"
        assert result.output == f"error: {what}: the store {store} holds no runs in 2026-W50 .. 2026-W52; weeks " \
                                "with runs: 2026-W41 .. 2026-W47\n"


def test_a_store_is_refused_where_exports_are_expected_and_read_where_a_store_is(store, tmp_path):
    for args in (["sessions", store], ["ingest", store, "--out", tmp_path / "set"], ["metrics", store]):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"error: {store}: a trace store: read it with --store (ak.open_store), add to it " \
                                        "with `agentops-kit ingest --into`"
    assert "616 run(s) without a conversation id" in cli("sessions", "--store", store)  # the sample has none
    result = CliRunner().invoke(main, ["report", "weekly", "--store", str(store), "--week", "2026-W47",
                                       "--labels", str(LABELS[0]), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--labels cannot be used with --store" in result.output, result.output
    assert not (tmp_path / "r").exists()  # refused before the kernel: nothing written
