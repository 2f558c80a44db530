"""Starting Apache Spark for the kit: one SparkSession (local mode or a cluster's master), set up the same way
for the analytics (``analytics/engine.py``) and for ingest into a store (``store/spark_ingest.py``)."""

from __future__ import annotations

import os
import shutil
import sys

from .errors import UsageError

DEFAULT_SPARK_MASTER = "local[*]"
SPARK_INSTALL = "pip install 'agentops-kit[spark]' (PySpark; Java 17 must be installed)"


def spark_session(master: str | None = None):
    """A SparkSession for the kit: ``master`` (default ``local[*]``), UI off, UTC, Arrow transfers, log
    level ERROR. An existing session is reused (Spark allows one per process)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError(f"engine spark needs PySpark: {SPARK_INSTALL}") from None
    master = master or DEFAULT_SPARK_MASTER
    if master.startswith("local"):  # Spark's Python workers run `python3` unless told: this interpreter has the kit
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName("agentops-kit")
               .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "8"))
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j raises its own types when Java is missing or cannot start
        raise UsageError(f"Spark could not start ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): "
                         f"{_why_not_started()}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _why_not_started() -> str:
    """What to look at when the JVM did not start: Java itself, else what it was told to do at start."""
    java_home = os.environ.get("JAVA_HOME")
    if not (shutil.which("java") or (java_home and os.path.exists(os.path.join(java_home, "bin", "java")))):
        return "Java 17 must be installed (apt-get install openjdk-17-jre-headless)"
    submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "").strip()
    if submit:
        fetch = " (--packages downloads from Maven Central: is it reachable?)" if "--packages" in submit else ""
        return f"its start-up options are in PYSPARK_SUBMIT_ARGS={submit!r}{fetch}; Spark's own lines above say more"
    return "Spark's own lines above say why (Java 17 is needed: java -version)"


def is_spark_session(value) -> bool:
    kind = f"{type(value).__module__}.{type(value).__name__}"
    return kind.startswith("pyspark.sql") and hasattr(value, "createDataFrame")
