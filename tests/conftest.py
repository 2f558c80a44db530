from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIRD_PARTY = ROOT / "tests" / "data" / "third_party"
SAMPLE = ROOT / "agentops_kit" / "data" / "sample"
TEMPLATES = ROOT / "agentops_kit" / "templates"


@pytest.fixture(scope="session")
def spark():
    """One SparkSession for the test session (Spark allows one per process): local[2], no UI, UTC, log level
    ERROR (tests/test_engines.py, tests/test_store_spark.py)."""
    from agentops_kit.spark_session import spark_session

    session = spark_session("local[2]")
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
