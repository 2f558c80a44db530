from __future__ import annotations

import fcntl
import functools
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIRD_PARTY = ROOT / "tests" / "data" / "third_party"
SAMPLE = ROOT / "agentops_kit" / "data" / "sample"
TEMPLATES = ROOT / "agentops_kit" / "templates"


# Hadoop's S3A connector, for Spark reading a store on object storage (tests/test_store_object.py). Maven Central,
# where `--packages org.apache.hadoop:hadoop-aws:3.5.0` fetches the matching one, is unreachable here; PyPI's
# sagemaker-pyspark sdist carries hadoop-aws 3.3.1 and the AWS SDK bundle it was built with. The sdist and the
# jars are pinned by SHA-256; nothing of the sdist is run.
S3A_SDIST = ("https://files.pythonhosted.org/packages/df/37/88e683fd29270ca890b1b889466325be5461abb93d5ea055bc3a505d40a8/"
             "sagemaker_pyspark-1.4.5.tar.gz", "05ca2d5081d7138ce29a8fb0a9cba077f28c825288ed07aed46a82e63c0bf1fb")
S3A_JARS = {"hadoop-aws-3.3.1.jar": "6be50ad8a8b445d2802381b085b2a3ede5c29d353450a6a21f16b2fefa962b6e",
            "aws-java-sdk-bundle-1.11.901.jar": "b87175b32a16544cc1b37cf40390eb375833e62bed67f8ce6cde4b7ad6429ead"}
# That older connector reads these as plain numbers, where Hadoop 3.5's defaults write "60s", "24h"...
S3A_OLD_CONNECTOR_CONF = {"fs.s3a.threads.keepalivetime": "60", "fs.s3a.connection.establish.timeout": "30000",
                          "fs.s3a.connection.timeout": "200000", "fs.s3a.multipart.purge.age": "86400"}


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@functools.cache
def s3a_connector() -> tuple[tuple[Path, ...], str | None]:
    """The S3A connector's jars, fetched once into the user's cache, one process at a time (no jars, and why,
    when they cannot be had)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentops-kit-tests" / "s3a"
    jars = tuple(cache / name for name in S3A_JARS)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with (cache / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not all(j.exists() and _sha256(j) == S3A_JARS[j.name] for j in jars):
                _fetch_s3a_jars(cache)
    except Exception as exc:  # offline, a full disk, a changed file: the S3A tests fail saying so
        return (), f"{type(exc).__name__}: {exc}"
    return jars, None


def _fetch_s3a_jars(cache: Path) -> None:
    url, digest = S3A_SDIST
    with tempfile.TemporaryDirectory(dir=cache) as work:
        sdist = Path(work) / "sdist.tar.gz"
        with urllib.request.urlopen(url, timeout=120) as response, sdist.open("wb") as out:
            shutil.copyfileobj(response, out)
        if _sha256(sdist) != digest:
            raise ValueError(f"{url} is not the pinned file (SHA-256 {_sha256(sdist)})")
        with tarfile.open(sdist) as archive:
            for member in archive:
                name = member.name.rpartition("/")[2]
                if name in S3A_JARS and member.isfile():
                    part = Path(work) / name
                    with archive.extractfile(member) as src, part.open("wb") as out:
                        shutil.copyfileobj(src, out)
                    if _sha256(part) != S3A_JARS[name]:
                        raise ValueError(f"{name} in {url} is not the pinned jar")
                    part.replace(cache / name)
    missing = [name for name in S3A_JARS if not (cache / name).exists()]
    if missing:
        raise ValueError(f"{url} holds no {', '.join(missing)}")


def s3a_submit_args(jars) -> str:
    """PYSPARK_SUBMIT_ARGS putting the connector on Spark's class path (as the README tells a user to)."""
    conf = " ".join(f"--conf spark.hadoop.{k}={v}" for k, v in S3A_OLD_CONNECTOR_CONF.items())
    return f"--jars {','.join(map(str, jars))} {conf} pyspark-shell"


@pytest.fixture(scope="session")
def s3a_jars():
    """The S3A connector's jars; the test fails, saying why, when they cannot be fetched."""
    jars, why = s3a_connector()
    if not jars:
        pytest.fail(f"Hadoop's S3A connector is needed for Spark on object storage: {why}")
    return jars


@pytest.fixture(scope="session")
def spark():
    """One SparkSession for the test session (Spark allows one per process): local[2], no UI, UTC, log level
    ERROR (tests/test_engines.py, tests/test_store_spark.py), with the S3A connector on its class path when it
    could be had (tests/test_store_object.py)."""
    from agentops_kit.spark_session import spark_session

    jars, _ = s3a_connector()
    before = os.environ.get("PYSPARK_SUBMIT_ARGS")
    if jars:  # read once, when the JVM starts
        os.environ["PYSPARK_SUBMIT_ARGS"] = s3a_submit_args(jars)
    try:
        session = spark_session("local[2]")
    finally:
        if before is None:
            os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
        else:
            os.environ["PYSPARK_SUBMIT_ARGS"] = before
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


@pytest.fixture
def sample_ts():
    import agentops_kit as ak

    return ak.load_traces(SAMPLE / "traces.otlp.jsonl.gz", mapping=TEMPLATES / "mapping.yaml",
                          pricing=TEMPLATES / "pricing.yaml", labels=SAMPLE / "labels.csv")


def otlp_span(trace_id="a" * 32, span_id="b" * 16, parent="", name="s", start=1_700_000_000_000_000_000,
              end=1_700_000_001_000_000_000, attrs=None, status=None):
    return {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
        "attributes": [{"key": k, "value": v} for k, v in (attrs or {}).items()],
        "status": status or {},
    }


def otlp_line(*spans, service="svc") -> str:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {}, "spans": list(spans)}],
    }]})


def write_lines(path: Path, lines, compress=False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """An empty approvals store: a SQLite file, or a fresh schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'approvals.db'}"
        return
    import uuid

    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (database test) is needed for the approvals tests: {exc.orig}")
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()
