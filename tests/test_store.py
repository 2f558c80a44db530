"""The trace store: ingests add, re-ingests change nothing, late spans assemble one run, reads scan only their weeks."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.store import StoreError, ingest, open_store
from agentops_kit.store.layout import COMMIT

from .conftest import SAMPLE, TEMPLATES

TRACES = SAMPLE / "traces.otlp.jsonl.gz"
MAPPING = TEMPLATES / "mapping.yaml"
LABELS = SAMPLE / "labels.csv"
KEYS = {"runs": ["run_id"], "steps": ["run_id", "step_id"], "labels": ["run_id", "name", "value"],
        "sources": ["run_id", "step_id", "document_id"]}


def split_by_spans(source: Path, folder: Path) -> tuple[Path, Path]:
    """The sample's spans dealt alternately into two OTLP files: every trace has spans in both."""
    halves: tuple[list[str], list[str]] = ([], [])
    for line in (gzip.open if source.suffix == ".gz" else open)(source, "rt"):
        for keep, out in enumerate(halves):
            request = json.loads(line)
            for resource in request["resourceSpans"]:
                for scope in resource["scopeSpans"]:
                    scope["spans"] = [s for i, s in enumerate(scope["spans"]) if i % 2 == keep]
            out.append(json.dumps(request))
    paths = folder / "first.otlp.jsonl", folder / "second.otlp.jsonl"
    for path, lines in zip(paths, halves, strict=True):
        path.write_text("\n".join(lines) + "\n")
    return paths


def tables(ts: ak.TraceSet) -> dict[str, pl.DataFrame]:
    """The tables, in a fixed order, without where each row was read from (file names differ by design)."""
    out = {}
    for table, keys in KEYS.items():
        frame = getattr(ts, table).collect().sort(keys)
        out[table] = frame.drop([c for c in ("source_file", "source_line") if c in frame.columns])
    return out


def assert_same(a: ak.TraceSet, b: ak.TraceSet) -> None:
    left, right = tables(a), tables(b)
    for table in KEYS:
        assert_frame_equal(left[table], right[table], check_row_order=True, check_exact=True), table


@pytest.fixture(scope="module")
def in_memory():
    return ak.load_traces(TRACES, mapping=MAPPING, labels=LABELS)


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "store"
    ingest(TRACES, into=store, mapping=MAPPING, labels=LABELS)
    return store


def test_a_store_holds_what_a_load_in_memory_holds_and_reingest_changes_nothing(sample_store, in_memory):
    assert_same(open_store(sample_store), in_memory)
    before = (sample_store / COMMIT).read_bytes()
    again = ingest(TRACES, into=sample_store, mapping=MAPPING, labels=LABELS)
    assert again.changed_nothing and len(again.files_unchanged) == 2
    assert "no change" in again.text()
    assert (sample_store / COMMIT).read_bytes() == before


def test_spans_of_one_trace_split_across_two_ingests_give_the_runs_of_one_ingest(tmp_path, in_memory):
    first, second = split_by_spans(TRACES, tmp_path)
    store = tmp_path / "store"
    one = ingest(first, into=store, mapping=MAPPING, labels=LABELS)
    two = ingest(second, into=store, mapping=MAPPING)
    assert one.runs_added == 616 and two.runs_added == 0 and two.runs_updated == 616
    assert_same(open_store(store), in_memory)
    # the same spans again, under another name (a retried request written to a second spool file): one step each
    Path(tmp_path / "retry.otlp.jsonl").write_text(second.read_text() + "\n")  # other bytes, same spans
    three = ingest(tmp_path / "retry.otlp.jsonl", into=store, mapping=MAPPING)
    assert three.steps_added == 0 and three.duplicate_spans == two.steps_added
    assert_same(open_store(store), in_memory)
    rejected = open_store(store).rejected.collect()
    assert set(rejected["reason_code"]) == {"duplicate_span"} and rejected["file"].str.ends_with("retry.otlp.jsonl").all()


def test_a_file_changed_after_ingest_is_reported_and_not_counted_twice(tmp_path):
    first, second = split_by_spans(TRACES, tmp_path)
    store = tmp_path / "store"
    ingest(first, into=store)
    before = tables(open_store(store))
    first.write_text(first.read_text() + second.read_text())
    result = ingest(first, into=store)
    assert result.changed_nothing and len(result.files_changed) == 1
    assert "changed since it was ingested" in result.text() and "CHANGED" in result.text()
    after = tables(open_store(store))
    for table in KEYS:
        assert_frame_equal(before[table], after[table])


def test_rejected_records_accumulate_with_file_and_line(tmp_path):
    bad_one, bad_two = tmp_path / "one.otlp.jsonl", tmp_path / "two.otlp.jsonl"
    first, second = gzip.open(TRACES, "rt").readlines()[:2]
    bad_one.write_text(first + "{not json\n")
    bad_two.write_text(second + "{also not json\n" + "[1, 2]\n")
    store = tmp_path / "store"
    ingest(bad_one, into=store)
    ingest(bad_two, into=store)
    rejected = open_store(store).rejected.collect().sort("file", "line")
    assert rejected.select("file", "line").rows() == [(str(bad_one), 2), (str(bad_two), 2), (str(bad_two), 3)]


def test_open_store_scans_only_the_weeks_asked_for(sample_store, in_memory):
    ts = open_store(sample_store, weeks=["2026-W46", "2026-W47"], agents=["SocAlertTriage"])
    plan = ts.steps.explain()
    assert "week=2026-W47" in plan and "week=2026-W45" not in plan
    expected = in_memory.filter_runs(pl.col("agent") == "SocAlertTriage")
    weeks = expected.runs.collect().filter(pl.col("started_at").dt.strftime("%G-W%V").is_in(["2026-W46", "2026-W47"]))
    assert sorted(ts.runs.collect()["run_id"]) == sorted(weeks["run_id"])
    assert ts.whole is not None and ts.whole.runs.collect().height == 616


def test_bad_stores_give_one_clear_line(tmp_path, sample_store):
    with pytest.raises(StoreError, match="no such store folder"):
        open_store(tmp_path / "nothing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="is not a store"):
        ingest(TRACES, into=tmp_path / "other")
    broken = tmp_path / "broken"
    shutil.copytree(sample_store, broken)
    (broken / COMMIT).write_text("{")
    with pytest.raises(StoreError, match="store.json: is not valid JSON"):
        open_store(broken)
    missing = tmp_path / "missing"
    shutil.copytree(sample_store, missing)
    victim = next((missing / "steps").glob("week=2026-W44/*.parquet"))
    os.remove(victim)
    with pytest.raises(StoreError, match=rf"{victim.name}: is missing"):
        open_store(missing, weeks=["2026-W44"])
    assert open_store(missing, weeks=["2026-W45"]).steps.collect().height  # the other weeks still read
    from agentops_kit.store.housekeeping import info

    with pytest.raises(StoreError, match=rf"{victim.name}: is missing"):  # store info does not vouch for it
        info(missing)
    changed = tmp_path / "changed"
    shutil.copytree(sample_store, changed)
    victim = next((changed / "runs").glob("week=2026-W46/*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(StoreError, match=rf"{victim.name}: has \d+ bytes, the store's store.json lists \d+"):
        info(changed)
    with pytest.raises(ak.AgentOpsError, match="expected an ISO week"):
        open_store(sample_store, weeks=["last week"])


def test_a_store_named_by_a_file_url_and_writes_to_object_storage_refused_in_one_line(tmp_path, sample_store,
                                                                                      in_memory):
    from click.testing import CliRunner

    from agentops_kit.cli import main
    from agentops_kit.store import store_files, store_weeks
    from agentops_kit.store.housekeeping import info

    url = sample_store.resolve().as_uri()  # file:///…/store
    assert url.startswith("file:///")
    assert_same(open_store(url), in_memory)
    assert store_files(url, "steps") == store_files(sample_store, "steps")
    assert store_weeks(url) == store_weeks(sample_store) and info(url)["runs"] == 616
    added = ingest(TRACES, into=(tmp_path / "new store").as_uri(), mapping=MAPPING, labels=LABELS)  # (%20 in it)
    assert added.runs_added == 616 and (tmp_path / "new store" / COMMIT).is_file()
    for url in ("s3://bucket/store", "abfss://c@account.dfs.core.windows.net/store"):  # (read: test_store_object.py)
        with pytest.raises(StoreError, match="a store on object storage is read by its URL, not written"):
            ingest(TRACES, into=url, mapping=MAPPING)
    said = CliRunner().invoke(main, ["store", "compact", "s3://bucket/store"])
    assert said.exit_code == 2 and said.output.count("\n") == 1 and "store.json last" in said.output
    with pytest.raises(StoreError, match="names host"):
        open_store("file://elsewhere/store")


def test_any_engine_reads_the_store_from_the_files_of_its_commit(sample_store, in_memory):
    import duckdb

    from agentops_kit.store import store_files

    files = store_files(sample_store, "runs", weeks=["2026-W46", "2026-W47"])
    assert len(files) == 2 and all("/runs/week=2026-W4" in f for f in files)
    counted = duckdb.sql(f"select week, count(*) from read_parquet({files!r}, hive_partitioning = true) "
                         "group by week order by week").fetchall()
    expected = (in_memory.runs.group_by(pl.col("started_at").dt.strftime("%G-W%V").alias("week")).len()
                .filter(pl.col("week") >= "2026-W46").sort("week").collect().rows())
    assert counted == expected


@pytest.mark.parametrize("labels_first", [True, False])
def test_labels_before_or_after_their_runs_give_the_runs_of_one_ingest(tmp_path, in_memory, labels_first):
    store = tmp_path / "store"
    if labels_first:
        pending = ingest([], into=store, mapping=MAPPING, labels=LABELS)
        assert pending.labels_unmatched == 129 and "naming no run yet" in pending.text()
        ingest(TRACES, into=store, mapping=MAPPING)
    else:
        ingest(TRACES, into=store, mapping=MAPPING)
        later = ingest([], into=store, mapping=MAPPING, labels=LABELS)
        assert later.runs_updated > 0 and later.runs_added == 0
    assert_same(open_store(store), in_memory)
    assert open_store(store).label_problems.collect().height == 0


def test_a_late_root_span_moves_its_run_to_the_week_it_started(tmp_path):
    from agentops_kit.store.layout import read_commit

    from .conftest import otlp_line, otlp_span, write_lines

    sunday = 1_764_547_140_000_000_000  # 2025-11-30 23:59 UTC, a Sunday: week 2025-W48
    monday = sunday + 120 * 10**9  # 2025-12-01 00:01 UTC: week 2025-W49
    child = otlp_span(span_id="c" * 16, parent="d" * 16, name="tool", start=monday, end=monday + 10**9)
    root = otlp_span(span_id="d" * 16, name="agent", start=sunday, end=monday + 2 * 10**9)
    store = tmp_path / "store"
    ingest(write_lines(tmp_path / "child.otlp.jsonl", [otlp_line(child)]), into=store)
    assert list(read_commit(store)["parts"]["runs"]) == ["2025-W49"]
    moved = ingest(write_lines(tmp_path / "root.otlp.jsonl", [otlp_line(root)]), into=store)
    assert moved.runs_updated == 1 and moved.runs_added == 0
    assert list(read_commit(store)["parts"]["runs"]) == ["2025-W48"]  # the run left the week it was in
    runs = open_store(store, weeks=["2025-W48"]).runs.collect()
    assert runs.height == 1 and runs["root_missing"].to_list() == [False] and runs["orphan_steps"].to_list() == [0]
    assert open_store(store, weeks=["2025-W49"]).steps.collect().height == 0
    assert open_store(store).steps.collect().height == 2
