"""Table sets on disk: published all at once, read only when complete, listed and unchanged.

The kill test runs the real `agentops-kit ingest` and SIGKILLs it at 40 moments spread over its write, each
time over a folder that holds a complete older set: afterwards the folder reads as the old set or the new
one, never a mix, and the next write removes what the killed one left.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import agentops_kit as ak
from agentops_kit.cli import main
from agentops_kit.tableset import MANIFEST, TABLES, TableSetError, table_paths, write_set

from .conftest import SAMPLE, TEMPLATES, THIRD_PARTY

EXE = Path(sys.executable).with_name("agentops-kit")


@pytest.fixture(scope="module")
def old_ts():
    return ak.load_traces(THIRD_PARTY / "tau-bench")


@pytest.fixture(scope="module")
def new_ts():
    return ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                          pricing=TEMPLATES / "pricing.yaml", labels=SAMPLE / "labels.csv")


def frames(ts) -> dict[str, pl.DataFrame]:
    return {t: getattr(ts, t).collect() for t in TABLES}


def same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> bool:
    return all(a[t].equals(b[t], null_equal=True) for t in TABLES)


def manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text())


def visible(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


# ---- writing ----------------------------------------------------------------------------------------------
def test_manifest_lists_every_table_with_rows_and_checksum(new_ts, tmp_path):
    import hashlib

    new_ts.write_parquet(tmp_path / "tables")
    m = manifest(tmp_path / "tables")
    assert (m["format"], m["version"]) == ("agentops-kit table set", 1) and m["created"].endswith("Z")
    assert set(m["tables"]) == set(TABLES)
    for table, entry in m["tables"].items():
        path = tmp_path / "tables" / entry["file"]
        assert entry["file"] == f"{m['set']}/{table}.parquet"
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == getattr(new_ts, table).collect().height == pl.read_parquet(path).height
        assert entry["bytes"] == path.stat().st_size
    assert m["tables"]["runs"]["rows"] == 616


def test_rewrite_replaces_the_set_and_removes_the_old_one(old_ts, new_ts, tmp_path):
    out = tmp_path / "tables"
    old_ts.write_parquet(out)
    first = manifest(out)["set"]
    new_ts.write_parquet(out)
    assert visible(out) == sorted([MANIFEST, manifest(out)["set"]]) and first not in visible(out)
    assert same(frames(ak.TraceSet.read_parquet(out)), frames(new_ts))


def test_refused_targets_are_left_untouched(new_ts, tmp_path):
    a_file = tmp_path / "report.html"
    a_file.write_text("keep me")
    with pytest.raises(TableSetError, match="report.html: exists and is not a folder"):
        new_ts.write_parquet(a_file)
    assert a_file.read_text() == "keep me"
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    (foreign / "thesis.tex").write_text("mine too")
    with pytest.raises(TableSetError, match=r"home: is a folder that is not a table set \(it holds notes.txt, thesis.tex\)"):
        new_ts.write_parquet(foreign)
    assert visible(foreign) == ["notes.txt", "thesis.tex"]
    with pytest.raises(TableSetError, match="cannot be created: .*report.html is a file"):
        new_ts.write_parquet(a_file / "sub")


def test_a_failed_write_keeps_the_old_set_and_leaves_nothing(old_ts, tmp_path):
    out = tmp_path / "tables"
    old_ts.write_parquet(out)
    before = sorted(p.name for p in out.iterdir())
    broken = {**{t: getattr(old_ts, t) for t in TABLES},
              "labels": pl.LazyFrame({"x": ["not a number"]}).select(pl.col("x").cast(pl.Int64, strict=True))}
    with pytest.raises(pl.exceptions.InvalidOperationError):
        write_set(broken, out)
    assert sorted(p.name for p in out.iterdir()) == before
    assert same(frames(ak.TraceSet.read_parquet(out)), frames(old_ts))


def test_one_writer_at_a_time(old_ts, tmp_path):
    out = tmp_path / "tables"
    old_ts.write_parquet(out)
    with open(out / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(TableSetError, match="another process is writing a table set into this folder"):
            old_ts.write_parquet(out)
    old_ts.write_parquet(out)


def test_leftovers_of_a_killed_write_are_ignored_then_cleaned(old_ts, new_ts, tmp_path):
    """Each state a kill can leave: a staging folder half written, a renamed set no manifest names yet, a
    manifest written but not yet renamed into place."""
    out, spare = tmp_path / "tables", tmp_path / "spare"
    old_ts.write_parquet(out)
    new_ts.write_parquet(spare)
    new_set = manifest(spare)["set"]
    staging = out / ".set-20990101T000000Z-0badf00d.partial"
    staging.mkdir()
    (staging / "runs.parquet").write_bytes((spare / new_set / "runs.parquet").read_bytes()[:1000])
    shutil.copytree(spare / new_set, out / new_set)
    (out / f".manifest-{new_set}.tmp").write_text(json.dumps(manifest(spare)))
    assert same(frames(ak.TraceSet.read_parquet(out)), frames(old_ts))
    assert same(frames(ak.load_traces(out)), frames(old_ts))
    new_ts.write_parquet(out)
    assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == sorted([MANIFEST, manifest(out)["set"]])
    assert same(frames(ak.TraceSet.read_parquet(out)), frames(new_ts))


def test_a_folder_from_version_0_1_is_refused_on_read_and_replaced_on_write(new_ts, tmp_path):
    """The issue's reproduction: a folder holding only runs.parquet read as a set with no labels (customer-
    impact errors 0) and no steps. Now it is refused with how to re-ingest; ingest over it writes a set."""
    legacy = tmp_path / "tables"
    legacy.mkdir()
    new_ts.runs.collect().write_parquet(legacy / "runs.parquet")
    expected = (f"{legacy}: unlisted tables: runs.parquet without a manifest.json (written by agentops-kit 0.1 "
                f"or by hand), so nothing tells whether they form one complete set; ingest the exports again: "
                f"agentops-kit ingest EXPORTS... --out {legacy}")
    for read in (ak.TraceSet.read_parquet, ak.load_traces):
        with pytest.raises(TableSetError) as caught:
            read(legacy)
        assert str(caught.value) == expected
    result = CliRunner().invoke(main, ["metrics", str(legacy)])
    assert result.exit_code == 2 and result.stderr == f"error: {expected}\n" and result.stdout == ""
    (legacy / ".steps.parquet.tmp").write_bytes(b"half")
    new_ts.write_parquet(legacy)
    assert visible(legacy) == sorted([MANIFEST, manifest(legacy)["set"]]) and not (legacy / ".steps.parquet.tmp").exists()
    assert ak.TraceSet.read_parquet(legacy).labels.collect().height == new_ts.labels.collect().height


# ---- reading: each way a set can be wrong ---------------------------------------------------------------
@pytest.fixture
def written(new_ts, tmp_path) -> Path:
    new_ts.write_parquet(tmp_path / "tables")
    return tmp_path / "tables"


def edit_manifest(directory: Path, change) -> None:
    m = manifest(directory)
    change(m)
    (directory / MANIFEST).write_text(json.dumps(m))


def refused(directory: Path) -> str:
    with pytest.raises(TableSetError) as caught:
        ak.TraceSet.read_parquet(directory)
    with pytest.raises(TableSetError) as again:
        ak.load_traces(directory)
    assert str(again.value) == str(caught.value)
    return str(caught.value)


def test_incomplete_a_listed_table_is_missing(written):
    m = manifest(written)
    (written / m["set"] / "steps.parquet").unlink()
    assert refused(written) == f"{written}: incomplete table set: {m['set']}/steps.parquet (the steps table) is missing"


def test_incomplete_the_manifest_lacks_a_table(written):
    edit_manifest(written, lambda m: m["tables"].pop("labels"))
    assert refused(written) == f"{written}: incomplete table set: manifest.json has no complete entry for the labels table"


def test_mixed_a_table_from_another_write(written, old_ts, tmp_path):
    """What the old writer left after a kill: new runs.parquet beside older tables."""
    old_ts.write_parquet(tmp_path / "other")
    m = manifest(written)
    shutil.copy(table_paths(tmp_path / "other")["runs"], written / m["set"] / "runs.parquet")
    assert refused(written) == (
        f"{written}: mixed table set: {m['set']}/runs.parquet (the runs table) is not the file manifest.json lists "
        f"(its size or SHA-256 differs): it was changed or replaced after the set was written; ingest the exports "
        f"again: agentops-kit ingest EXPORTS... --out {written}")


def test_mixed_a_row_count_that_disagrees(written):
    edit_manifest(written, lambda m: m["tables"]["runs"].update(rows=615))
    assert refused(written).startswith(
        f"{written}: mixed table set: {manifest(written)['set']}/runs.parquet (the runs table) has 616 rows, "
        "manifest.json lists 615;")


def test_unlisted_no_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ak.InputFileError, match="empty: no input files found"):
        ak.load_traces(tmp_path / "empty")  # for load_traces an empty folder is no input, not a broken set
    with pytest.raises(TableSetError) as caught:
        ak.TraceSet.read_parquet(tmp_path / "empty")
    assert str(caught.value) == (
        f"{tmp_path / 'empty'}: not a table set: it has no manifest.json (table sets are written by "
        "`agentops-kit ingest --out DIR` or TraceSet.write_parquet)")


def test_one_table_file_named_alone_is_refused(written):
    runs = table_paths(written)["runs"]
    for path in (runs, runs.parent):
        with pytest.raises(TableSetError) as caught:
            ak.load_traces(path)
        assert str(caught.value) == (f"{runs.parent}: holds tables of the table set {written}, which are read only "
                                     f"through its manifest.json: pass {written}")
    lone = written.parent / "steps.csv"
    pl.read_parquet(table_paths(written)["steps"]).drop("attributes").write_csv(lone)
    with pytest.raises(TableSetError, match=f"{lone}: a canonical table is read only with its whole table set"):
        ak.load_traces([written, lone])


@pytest.mark.parametrize("text, problem", [
    ("{not json", "manifest.json is not valid JSON; ingest the exports again"),
    ('{"name": "my web app", "icons": []}', 'manifest.json is not a table-set manifest (no "format": "agentops-kit table set")'),
])
def test_a_manifest_that_is_not_one(written, text, problem):
    (written / MANIFEST).write_text(text)
    with pytest.raises(TableSetError) as caught:
        ak.TraceSet.read_parquet(written)
    assert str(caught.value).startswith(f"{written}: {problem}")


@pytest.mark.parametrize("change, problem", [
    (lambda m: m.update(version=2), "manifest.json has format version 2, newer than this agentops-kit reads (1)"),
    (lambda m: m["tables"]["runs"].update(file="../elsewhere/runs.parquet"),
     "manifest.json names ../elsewhere/runs.parquet for the runs table, outside the folder"),
    (lambda m: m["tables"].update(spans=m["tables"]["runs"]), "manifest.json lists tables this version does not know: spans"),
])
def test_a_manifest_that_cannot_be_trusted(written, change, problem):
    edit_manifest(written, change)
    assert refused(written).startswith(f"{written}: {problem}")


def test_missing_folder_and_a_file(tmp_path):
    with pytest.raises(TableSetError, match="nope: no such folder"):
        ak.TraceSet.read_parquet(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(TableSetError, match="f: is a file, not a table-set folder"):
        ak.TraceSet.read_parquet(tmp_path / "f")


def test_a_set_inside_a_walked_folder_is_read_as_one_input(written, new_ts):
    """`load_traces(parent)` reads the set through its manifest, not its files one by one (and so never the
    files of a leftover or replaced set beside it)."""
    parent = written.parent
    shutil.copytree(written / manifest(written)["set"], written / "set-19990101T000000Z-00000000")
    assert same(frames(ak.load_traces(parent)), frames(new_ts))


def test_ingest_from_a_set_into_itself(written, new_ts):
    result = CliRunner().invoke(main, ["ingest", str(written), "--out", str(written)])
    assert result.exit_code == 0, result.output
    assert "runs: 616" in result.stdout
    assert same(frames(ak.TraceSet.read_parquet(written)), frames(new_ts))


# ---- kill -9 during ingest ---------------------------------------------------------------------------------
def start_ingest(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(EXE), "ingest", str(SAMPLE / "traces.otlp.jsonl.gz"), "--out", str(out), "--mapping",
         str(TEMPLATES / "mapping.yaml"), "--pricing", str(TEMPLATES / "pricing.yaml"), "--labels",
         str(SAMPLE / "labels.csv")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_staging(proc: subprocess.Popen, out: Path) -> bool:
    """True as soon as the write has begun (its hidden staging folder exists); False if this poll, on a busy
    machine, missed the whole write (the process has ended)."""
    while not any(n.startswith(".set-") for n in os.listdir(out)):
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            return False
    return True


def test_kill_9_during_ingest_leaves_the_old_set_or_the_new_one(old_ts, new_ts, tmp_path):
    pristine = tmp_path / "pristine"
    old_ts.write_parquet(pristine)
    old, new = frames(old_ts), frames(new_ts)
    # writes without a kill: how long the write takes here (the quickest of two), to spread the kills over it
    measured = []
    for attempt in range(6):
        calibrate = tmp_path / f"calibrate{attempt}"
        shutil.copytree(pristine, calibrate)
        first = manifest(calibrate)["set"]
        proc = start_ingest(calibrate)
        seen = wait_for_staging(proc, calibrate)
        began = time.perf_counter()
        while seen and manifest(calibrate)["set"] == first:
            pass
        if seen:
            measured.append(time.perf_counter() - began)
        assert proc.wait() == 0
        proc.stderr.close()
        if len(measured) == 2:
            break
    assert measured, "every write was over before it was seen: run again on a quieter machine"
    write_seconds = min(measured)
    kills, outcomes = 40, {"old": 0, "new": 0}
    mid_write = 0
    for i in range(kills):
        out = tmp_path / f"kill{i}"
        for _attempt in range(5):
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(pristine, out)
            proc = start_ingest(out)
            if wait_for_staging(proc, out):
                break
            proc.stderr.close()
        else:
            pytest.fail("five writes in a row were over before they were seen")
        time.sleep(write_seconds * 1.25 * i / (kills - 1))  # from the first table to just after the rename
        proc.send_signal(signal.SIGKILL)  # past the end of the write the process may have finished already
        assert proc.wait() in (-signal.SIGKILL, 0), proc.stderr.read().decode()
        proc.stderr.close()
        mid_write += any(n.startswith((".set-", ".manifest-")) for n in os.listdir(out))
        for read in (ak.TraceSet.read_parquet, ak.load_traces):
            got = frames(read(out))
            assert same(got, old) or same(got, new), f"kill {i}: the folder reads as neither the old nor the new set"
        outcomes["old" if same(got, old) else "new"] += 1
        if i % 8 == 0:  # the next write removes what the killed one left
            new_ts.write_parquet(out)
            assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == sorted([MANIFEST, manifest(out)["set"]])
        shutil.rmtree(out)
    print(f"write took {write_seconds * 1000:.1f} ms; {kills} kills: {outcomes}, {mid_write} left a half-done write")
    assert mid_write > 0  # the kills did land inside the write, not only before or after it


def test_a_traceset_written_over_the_folder_it_came_from_stays_usable(written, new_ts, old_ts):
    """Its frames scan the set it replaces: that set stays (unlisted, never read) until the next write."""
    ts = ak.TraceSet.read_parquet(written)
    old_set = manifest(written)["set"]
    ts.write_parquet(written)
    assert manifest(written)["set"] != old_set and (written / old_set).is_dir()
    assert same(frames(ts), frames(new_ts)) and same(frames(ak.TraceSet.read_parquet(written)), frames(new_ts))
    old_ts.write_parquet(written)
    assert visible(written) == sorted([MANIFEST, manifest(written)["set"]])
