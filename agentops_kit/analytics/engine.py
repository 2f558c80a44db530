"""Where the analytics run: polars (the default), DuckDB or Apache Spark, from one definition.

The analytics are written once against narwhals, which speaks polars' API and runs it lazily on each engine.
An ``Engine`` hands them the canonical tables as narwhals LazyFrames on that engine, moves small polars
frames (a baselines table, the impacted runs) into it, and collects aggregated results back as polars
frames for rendering. Nothing is collected before it has been aggregated or filtered down.

Where the tables come from: the Parquet files of a table set or store when the TraceSet was read from one
(``TraceSet.files``: DuckDB and Spark scan them directly — a store on object storage by URL: DuckDB through the
fsspec filesystem registered on its connection, Spark as ``s3a://``), otherwise the TraceSet's polars frames,
handed over as Arrow. Labels always come from the TraceSet: they are small, and the true/false rule of ``labels.py`` is
applied in polars.

Weeks are ISO weeks in UTC on every engine: the kit sets the session time zone of the DuckDB connection
and SparkSession it is given to UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import polars as pl

from ..errors import UsageError
from ..spark_session import is_spark_session, spark_session

ENGINES = ("polars", "duckdb", "spark")


@dataclass
class Tables:
    """The canonical tables on one engine, as narwhals LazyFrames."""

    runs: Any
    steps: Any
    sources: Any


@dataclass
class Engine:
    """One engine: ``name`` (polars, duckdb, spark) and its native handle (None, a DuckDB connection, a
    SparkSession)."""

    name: str
    native: Any = None
    _last: tuple[Any, Tables] | None = field(default=None, repr=False)

    def tables(self, ts) -> Tables:
        """The TraceSet's runs, steps and sources on this engine (the last TraceSet's are kept: a report asks
        several analytics of one set)."""
        if self._last is not None and self._last[0] is ts:
            return self._last[1]
        files = getattr(ts, "files", None) or {}
        made = Tables(*(self._table(getattr(ts, name), files.get(name)) for name in ("runs", "steps", "sources")))
        if self.name != "polars":  # polars frames are the TraceSet's own: nothing to keep
            self._last = (ts, made)
        return made

    def _table(self, frame: pl.LazyFrame, paths: list[str] | None):
        if self.name == "polars":
            return nw.from_native(frame)
        if paths:
            from ..store.objstore import register_filesystems
            from ..store.spark_read import spark_read_parquet

            if self.name == "duckdb":  # a store on object storage: read through fsspec (no httpfs extension)
                register_filesystems(self.native, list(paths))
                return nw.from_native(self.native.read_parquet(list(paths)))
            return nw.from_native(spark_read_parquet(self.native, list(paths)))
        return self.frame(frame.collect())

    def frame(self, frame: pl.DataFrame | pl.LazyFrame):
        """A polars frame (small: a config table, ids) as a narwhals LazyFrame on this engine."""
        if self.name == "polars":
            return nw.from_native(frame.lazy())
        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        arrow = data.to_arrow()
        if self.name == "duckdb":
            return nw.from_native(self.native.from_arrow(arrow))
        if not data.columns:
            raise UsageError("an empty frame cannot be moved to Spark")
        return nw.from_native(self.native.createDataFrame(arrow))

    def collect(self, frame) -> pl.DataFrame:
        """A narwhals LazyFrame's rows as a polars DataFrame."""
        return frame.collect("polars").to_native()


def get_engine(engine: Any = None, spark_master: str | None = None) -> Engine:
    """An Engine from ``"polars" | "duckdb" | "spark"``, a DuckDB connection, a SparkSession or an Engine
    (None: polars). ``spark_master`` is used when a SparkSession is started here."""
    if engine is None or isinstance(engine, Engine):
        return engine or POLARS
    if isinstance(engine, str):
        name = engine.strip().lower()
        if name == "polars":
            return POLARS
        if name == "duckdb":
            try:
                import duckdb
            except ImportError:
                raise UsageError("engine duckdb needs DuckDB: pip install duckdb") from None
            return _duckdb(duckdb.connect())
        if name == "spark":
            return _spark(spark_session(spark_master))
        raise UsageError(f"engine {engine!r}: choose one of {', '.join(ENGINES)} (or pass a DuckDB connection "
                         "or a SparkSession)")
    kind = f"{type(engine).__module__}.{type(engine).__name__}"
    if "duckdb" in kind.lower() and hasattr(engine, "from_arrow"):
        return _duckdb(engine)
    if is_spark_session(engine):
        return _spark(engine)
    raise UsageError(f"engine: expected one of {', '.join(ENGINES)}, a DuckDB connection or a SparkSession, "
                     f"not {kind}")


def _duckdb(connection) -> Engine:
    connection.execute("SET TimeZone = 'UTC'")  # ISO weeks and days are those of UTC
    return Engine("duckdb", connection)


def _spark(session) -> Engine:
    session.conf.set("spark.sql.session.timeZone", "UTC")  # ISO weeks and days are those of UTC
    return Engine("spark", session)


POLARS = Engine("polars")
