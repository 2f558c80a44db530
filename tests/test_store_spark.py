"""Ingest on Spark (local[2]): the exports decoded in Spark executors and the runs assembled there write the
store the polars ingest writes — the same runs, steps, sources, labels and rejected records, the same weekly
numbers — across late spans, re-ingests and bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.conventions import Conventions
from agentops_kit.errors import InputFileError
from agentops_kit.load import read_files
from agentops_kit.mapping import load_mapping
from agentops_kit.store import ingest, open_store
from agentops_kit.store.housekeeping import compact, info
from agentops_kit.store.layout import COMMIT, read_commit
from agentops_kit.store.spark_ingest import decode_exports

from .conftest import THIRD_PARTY
from .test_store import LABELS, MAPPING, TRACES, assert_same, split_by_spans

pytestmark = pytest.mark.slow  # each Spark ingest takes seconds to tens of seconds on this 2-core machine
ORDER = {"runs": ["run_id"], "steps": ["run_id", "step_id"], "sources": None, "labels": None, "rejected": None}


def every_table(store: Path) -> dict[str, pl.DataFrame]:
    """Every table of the store, whole (where each row was read from included), in a fixed order."""
    ts = open_store(store)
    out = {}
    for table, keys in ORDER.items():
        frame = getattr(ts, table).collect()
        out[table] = frame.sort(keys or frame.columns, nulls_last=True)
    return out


def assert_same_store(expected: Path, got: Path) -> None:
    left, right = every_table(expected), every_table(got)
    for table in ORDER:
        assert_frame_equal(left[table], right[table], check_exact=True), table
    assert read_commit(expected)["weeks"] == read_commit(got)["weeks"]


def counts(result) -> tuple:
    return (result.runs_added, result.runs_updated, result.steps_added, result.duplicate_spans, result.rejected,
            result.labels_unmatched, result.weeks_written, len(result.files_added))


@pytest.fixture(scope="module")
def sample_stores(tmp_path_factory, spark):
    """The sample with its labels ingested by polars and by Spark, each into a new store."""
    folder = tmp_path_factory.mktemp("spark-ingest")
    polars_store, spark_store = folder / "polars", folder / "spark"
    by_polars = ingest(TRACES, into=polars_store, mapping=MAPPING, labels=LABELS)
    by_spark = ingest(TRACES, into=spark_store, mapping=MAPPING, labels=LABELS, engine=spark)
    return polars_store, spark_store, by_polars, by_spark


def test_spark_ingest_of_the_sample_writes_the_store_polars_writes(sample_stores, spark):
    polars_store, spark_store, by_polars, by_spark = sample_stores
    assert counts(by_spark) == counts(by_polars) and by_spark.runs_added == 616
    assert_same_store(polars_store, spark_store)
    by_agent_week = [ak.weekly_metrics(open_store(s), by=("agent", "week")).sort("agent", "week")
                     for s in (polars_store, spark_store)]
    assert_frame_equal(*by_agent_week)
    facts = info(polars_store), info(spark_store)
    for key in ("weeks", "runs", "steps", "files_ingested", "rejected", "labels_unmatched"):
        assert facts[0][key] == facts[1][key], key
    assert facts[1]["history"][-1]["action"] == "ingest"

    # the parts the executors wrote are the store's own: named by its commit, listed with their size
    doc = read_commit(spark_store)
    for table, weeks in doc["parts"].items():
        for week, parts in weeks.items():
            for part in parts:
                assert part["file"].startswith(f"{table}/week={week}/part-000001-"), part
                assert (spark_store / part["file"]).stat().st_size == part["bytes"]

    # re-ingest on Spark changes nothing (Spark is not even asked: every file is in the manifest)
    before = (spark_store / COMMIT).read_bytes()
    again = ingest(TRACES, into=spark_store, mapping=MAPPING, labels=LABELS, engine=spark)
    assert again.changed_nothing and (spark_store / COMMIT).read_bytes() == before

    # housekeeping works on what Spark wrote: one part per week after compaction, the same tables
    assert compact(spark_store)["partitions_merged"] > 0
    assert_same_store(polars_store, spark_store)


def test_third_party_exports_and_bad_records_give_the_same_store(tmp_path, spark):
    # every real export of tests/data/third_party (OTLP/JSON, OTel SDK, any-agent, Langfuse, LangSmith, τ-bench):
    # their runs' costs add steps read in another order on Spark, and must come out to the same bits
    exports = sorted(p for p in THIRD_PARTY.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))
    assert len(exports) > 25
    bad = tmp_path / "bad.otlp.jsonl"  # one good request, a line that is not JSON, and a span read twice
    first = gzip.open(TRACES, "rt").readline()
    bad.write_text(first + "{not json\n" + first)
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("neither a trace nor anything else\n")
    given = [*exports, bad, garbage]
    by_polars = ingest(given, into=tmp_path / "polars")
    by_spark = ingest(given, into=tmp_path / "spark", engine=spark)
    assert counts(by_spark) == counts(by_polars)
    assert by_spark.rejected >= 3 and by_spark.duplicate_spans > 0
    assert_same_store(tmp_path / "polars", tmp_path / "spark")
    reasons = set(open_store(tmp_path / "spark").rejected.collect()["reason_code"])
    assert {"duplicate_span", "unknown_format"} <= reasons

    # the command line: the same summary, store path aside
    runner = CliRunner()
    out = {engine: runner.invoke(main, ["ingest", *map(str, given), "--into", str(tmp_path / f"cli-{engine}"),
                                        "--engine", engine, "--spark-master", "local[2]"])
           for engine in ("polars", "spark")}
    assert out["spark"].exit_code == 0, out["spark"].output
    assert (out["spark"].output.replace(str(tmp_path / "cli-spark"), "S")
            == out["polars"].output.replace(str(tmp_path / "cli-polars"), "S"))


def test_spans_of_one_trace_in_two_spark_ingests_give_the_runs_of_one(sample_stores, tmp_path, spark):
    polars_store = sample_stores[0]
    first, second = split_by_spans(TRACES, tmp_path)
    store = tmp_path / "store"
    one = ingest(first, into=store, mapping=MAPPING, labels=LABELS, engine=spark)
    two = ingest(second, into=store, mapping=MAPPING, engine=spark)
    assert one.runs_added == 616 and two.runs_added == 0 and two.runs_updated == 616
    assert_same(open_store(store), open_store(polars_store))
    assert [h["action"] for h in read_commit(store)["history"]] == ["ingest", "ingest"]

    # a store grown by polars and then by Spark is the store either grows
    mixed = tmp_path / "mixed"
    ingest(first, into=mixed, mapping=MAPPING, labels=LABELS)
    ingest(second, into=mixed, mapping=MAPPING, engine=spark)
    assert_same_store(store, mixed)

    # the same spans again under another name: rejected as duplicates, as on polars
    retry = tmp_path / "retry.otlp.jsonl"
    retry.write_text(second.read_text() + "\n")
    three = ingest(retry, into=store, mapping=MAPPING, engine=spark)
    assert three.steps_added == 0 and three.duplicate_spans == two.steps_added
    assert set(open_store(store).rejected.collect()["reason_code"]) == {"duplicate_span"}
    assert_same(open_store(store), open_store(polars_store))


def test_a_file_an_executor_cannot_read_gives_the_polars_ingest_one_line(tmp_path, spark):
    missing = tmp_path / "gone.otlp.jsonl"  # listed, then gone before the executor reads it
    with pytest.raises(InputFileError) as polars_error:
        read_files([missing], None, Conventions(load_mapping(None)))
    with pytest.raises(InputFileError) as spark_error:
        decode_exports(spark, [TRACES, missing], None, load_mapping(None))
    assert str(spark_error.value) == str(polars_error.value)
    assert "gone.otlp.jsonl: cannot be read" in str(spark_error.value) and "\n" not in str(spark_error.value)

    runner = CliRunner()
    said = {engine: runner.invoke(main, ["ingest", str(missing), "--into", str(tmp_path / "s"), "--engine", engine])
            for engine in ("polars", "spark")}
    assert said["spark"].exit_code == said["polars"].exit_code != 0
    assert said["spark"].output == said["polars"].output and "no such file" in said["spark"].output
    table_set = runner.invoke(main, ["ingest", str(TRACES), "--out", str(tmp_path / "t"), "--engine", "spark"])
    assert table_set.exit_code != 0 and "--engine spark writes a trace store" in table_set.output


def test_labels_alone_then_runs_then_more_labels_on_spark(tmp_path, spark):
    quality = LABELS.with_name("quality_labels.csv")
    for store, engine in ((tmp_path / "polars", None), (tmp_path / "spark", spark)):
        first = ingest([], into=store, labels=LABELS, engine=engine)  # nothing to decode: labels wait for runs
        assert first.labels_unmatched == 129 and first.runs_added == 0
        assert ingest(TRACES, into=store, engine=engine).runs_added == 616
        assert ingest([], into=store, labels=quality, engine=engine).runs_updated == 293
    assert_same_store(tmp_path / "polars", tmp_path / "spark")


def test_spark_scans_a_store_named_by_a_file_url(sample_stores, spark):
    from .test_engines import same

    store = sample_stores[1]
    by_url = open_store(store.resolve().as_uri(), weeks=["2026-W46", "2026-W47"])
    assert by_url.files is not None and all(Path(f).is_file() for f in by_url.files["steps"])
    expected = ak.weekly_metrics(open_store(store, weeks=["2026-W46", "2026-W47"]), by=("agent", "week"))
    same(expected, ak.weekly_metrics(by_url, by=("agent", "week"), engine=spark), key=["agent", "week"])
