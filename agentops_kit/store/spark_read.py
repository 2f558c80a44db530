"""Spark scanning a store's or a table set's Parquet files: at a path, or on S3 through Hadoop's S3A connector
(``s3a://``), with the environment's credentials, endpoint and region given as the read's options
(``objstore.cloud_options``). What Spark cannot read is one line naming the file and what to do.

Hadoop keeps one S3A file system per bucket in each JVM, made with the settings of the first read of that
bucket: later changes of the environment (a new session token, another endpoint) reach Spark in a new session.
"""

from __future__ import annotations

import os
import re

from .layout import StoreError
from .objstore import S3_SCHEMES, cloud_options, problem_hint, url_schemes

_MISSING_CONNECTOR = ("Class org.apache.hadoop.fs.s3a.S3AFileSystem not found", 'No FileSystem for scheme "s3a"')
# A connector built for another Hadoop than Spark's: its classes or its settings' formats do not fit.
_MISFIT_CONNECTOR = re.compile(r"NoSuchMethodError|NoClassDefFoundError|ClassNotFoundException|"
                               r"NumberFormatException: For input string: \"\d+[a-z]+\"")
_DENIED = ("AccessDeniedException", "403 Forbidden", "NoAuthWithAWSException", "InvalidAccessKeyId",
           "SignatureDoesNotMatch")
_UNREACHABLE = ("UnknownHostException", "ConnectException", "Connection refused", "SocketTimeoutException",
                "ConnectTimeoutException")


def spark_url(path: str) -> str:
    """A path as Spark opens it: Hadoop reads S3 as ``s3a://``."""
    return "s3a://" + path[len("s3://"):] if path.startswith("s3://") else path


def spark_read_options(paths: list[str]) -> dict[str, str]:
    """The Hadoop settings a Spark read of ``paths`` takes from the environment (S3A's, when one is on S3): a
    read's options reach the Hadoop configuration of its scan on every executor."""
    return cloud_options("s3").hadoop if _on_s3(paths) else {}


def _on_s3(paths: list[str]) -> bool:
    return bool(url_schemes(paths) & set(S3_SCHEMES))


def spark_read_parquet(spark, paths: list[str]):
    """Spark's DataFrame of the Parquet files ``paths`` (URLs of object storage as Hadoop names them, with the
    environment's S3A settings); StoreError in one line when Spark cannot read them."""
    try:
        return spark.read.options(**spark_read_options(paths)).parquet(*map(spark_url, paths))
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        # py4j's error holds the Java exception's name and message; PySpark's own carry the name as their type
        text = str(exc) if type(exc).__module__.startswith("py4j") else f"{type(exc).__name__}: {exc}"
        raise StoreError(_named(text, paths), _why_s3(text, spark) if _on_s3(paths) else
                         f"Spark cannot read it ({_cause(text)})") from None


def _named(text: str, paths: list[str]) -> str:
    """The file Spark names in its error, else the folder all of ``paths`` are in."""
    for path in paths:
        if spark_url(path) in text:
            return path
    return os.path.commonprefix(paths).rpartition("/")[0] or paths[0]


def _why_s3(text: str, spark) -> str:
    """Why Spark could not read from S3, and what to do."""
    hadoop = _hadoop_version(spark)
    packages = f"--packages org.apache.hadoop:hadoop-aws:{hadoop or 'VERSION'} (the version of Spark's Hadoop" \
               f"{'' if hadoop else ': pyspark/jars/hadoop-client-api-VERSION.jar'}; e.g. in PYSPARK_SUBMIT_ARGS)"
    if any(marker in text for marker in _MISSING_CONNECTOR):
        return (f"Spark cannot read s3a:// without Hadoop's S3A connector: start it with {packages}, or read with "
                "--engine polars or duckdb")
    if _MISFIT_CONNECTOR.search(text):
        return f"Spark's S3A connector does not fit its Hadoop{f' {hadoop}' if hadoop else ''} ({_cause(text)}): " \
               f"start it with {packages}"
    if any(marker in text for marker in _DENIED):
        return f"Spark was refused ({_cause(text)}): {problem_hint('denied')}"
    if any(marker in text for marker in _UNREACHABLE):
        return f"Spark cannot reach it ({_cause(text)}){problem_hint('unreachable')}"
    return f"Spark cannot read it ({_cause(text)})"


def _cause(text: str, limit: int = 200) -> str:
    """The first line of a Java or Spark error that says what went wrong, cut at a word."""
    lines = [ln.strip().removeprefix(": ") for ln in text.splitlines()
             if ln.strip() and not ln.startswith((" ", "\t"))]
    cause = next((ln for ln in lines if "Exception" in ln or "Error" in ln), lines[0] if lines else "unknown error")
    return cause if len(cause) <= limit else cause[:limit].rsplit(" ", 1)[0] + " …"


def _hadoop_version(spark) -> str | None:
    """The Hadoop version of a classic SparkSession's JVM (None on Spark Connect, which has no JVM here)."""
    try:
        return str(spark.sparkContext._jvm.org.apache.hadoop.util.VersionInfo.getVersion())
    except Exception:
        return None
