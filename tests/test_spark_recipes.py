"""The README's `spark-submit` jobs — ingest into a store, then the weekly numbers and violations over it — copied
from the README as they are, their cluster paths pointed at a temporary folder, and run by PySpark's own
`spark-submit` in local mode: the store is the polars ingest's, the numbers and violations polars' own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.store import ingest, open_store

from .conftest import ROOT, SAMPLE, TEMPLATES
from .test_store import assert_same

pytest.importorskip("pyspark")
SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")


def readme_job(name: str) -> str:
    """The README's Python block that starts with ``# NAME``."""
    readme = (ROOT / "README.md").read_text()
    found = re.findall(rf"```python\n(# {re.escape(name)} .*?)```", readme, flags=re.S)
    assert len(found) == 1, f"README.md has {len(found)} blocks starting `# {name}`"
    return found[0]


def spark_submit(job: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    return subprocess.run([str(SPARK_SUBMIT), "--master", "local[2]", str(job)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_readmes_spark_submit_jobs_ingest_and_measure_as_polars_does(tmp_path):
    volumes = tmp_path / "Volumes"  # the jobs' /Volumes/ops/agents/... paths, here
    exports = volumes / "ops/agents/exports/2026-12-01"
    exports.mkdir(parents=True)
    shutil.copy(SAMPLE / "traces.otlp.jsonl.gz", exports)
    for name in ("mapping.yaml", "baselines.yaml"):
        shutil.copy(TEMPLATES / name, tmp_path / name)
    shutil.copytree(TEMPLATES / "policies", tmp_path / "policies")
    jobs = {}
    for name in ("ingest_job.py", "weekly_job.py"):
        text = readme_job(name).replace("/Volumes/", f"{volumes}/")
        assert str(volumes) in text
        jobs[name] = tmp_path / name
        jobs[name].write_text(text)

    ran = spark_submit(jobs["ingest_job.py"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    store = volumes / "ops/agents/traces/store"
    assert f"{store}: commit 1: 1 file(s) added; runs +616 new, 0 updated" in ran.stdout, ran.stdout
    by_polars = tmp_path / "polars-store"
    ingest(exports, into=by_polars, mapping=TEMPLATES / "mapping.yaml")
    assert_same(open_store(store), open_store(by_polars))

    ran = spark_submit(jobs["weekly_job.py"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    ts = open_store(by_polars, weeks=["2026-W46", "2026-W47"])
    expected = ak.weekly_metrics(ts, by=("agent", "week"), baselines=tmp_path / "baselines.yaml")
    weekly = pl.read_csv(tmp_path / "weekly.csv", schema_overrides=expected.schema)
    assert weekly.height == expected.height > 0
    assert_frame_equal(weekly, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    violations = ak.check_policy(ts, tmp_path / "policies").violations
    written = pl.read_csv(tmp_path / "violations.csv", schema_overrides=violations.schema)
    assert written.height == violations.height > 0
    assert_frame_equal(written, violations, check_row_order=False)
