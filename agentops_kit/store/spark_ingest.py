"""Ingest on Apache Spark: the exports decoded in Spark executors, the runs assembled there, the same store.

Two Spark stages, each running the kit's own code in its tasks (``mapInArrow``):

1. **decode** — one task per slice of the files: each file read by the kit's reader (the compiled OTLP
   decoder where it applies, as in ``load.read_files``) into Arrow rows of steps and sources, numbered in
   reading order, plus one row per file with its format, labels and rejected records (or the error it raised).
2. **assemble** — the new rows and the stored rows of the runs they touch, hash-partitioned by ``run_id``: each
   task assembles whole runs (``assembly.write_runs``, the code the polars ingest runs on all runs at once) and
   writes their week parts into the store under the store's own part names. Runs do not depend on each other,
   so the rows written are those of the polars ingest; a week gets one part per task instead of one in all
   (``store compact`` merges them).

The driver plans the files, holds the store's lock, receives the per-file facts, the distinct run ids of the
new spans (to find the stored runs they extend, and to match labels) and the parts each task wrote, and
publishes the commit (``commit.publish``). Executors write into the store folder itself, so on a cluster it
must be a path every executor can write (a shared mount); the files of a failed task attempt are listed by no
commit and removed when the commit is published.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import polars as pl

from ..assemble import step_frame
from ..conventions import Conventions
from ..errors import AgentOpsError
from ..load import read_files
from ..mapping import Mapping
from ..model import TABLE_SCHEMAS, empty
from ..pricing import Pricing
from ..readers.collector import STEP_ROW_SCHEMA
from .assembly import RAW_COLUMNS, given_labels, new_commit, plan_runs, write_runs

SOURCE_ONLY = {c: t for c, t in TABLE_SCHEMAS["sources"].items() if c not in STEP_ROW_SCHEMA}
# one row shape for everything decoded: a step, a source (``_kind``), or the facts of one file (``_blob``)
DECODED = pl.Schema([*STEP_ROW_SCHEMA.items(), ("format", pl.String()), *SOURCE_ONLY.items(),
                     ("_kind", pl.String()), ("_file", pl.Int64()), ("_row", pl.Int64()), ("_blob", pl.Binary())])
STORED = -1  # the ``_file`` of rows read back from the store: before every new row, as in the polars ingest
_SPARK_TYPES = {"String": "string", "Int64": "bigint", "Float64": "double", "Boolean": "boolean", "Binary": "binary"}


def _ddl(schema: pl.Schema) -> str:
    return ", ".join(f"`{name}` {_SPARK_TYPES[str(dtype)]}" for name, dtype in schema.items())


def _arrow(frame: pl.DataFrame, schema: pl.Schema):
    """``frame`` as an Arrow table with the plain types Spark expects (string, not large or view strings)."""
    import pyarrow as pa

    types = {"String": pa.string(), "Int64": pa.int64(), "Float64": pa.float64(), "Boolean": pa.bool_(),
             "Binary": pa.binary()}
    target = pa.schema([(name, types[str(dtype)]) for name, dtype in schema.items()])
    return frame.select(list(schema)).to_arrow(compat_level=pl.CompatLevel.oldest()).cast(target)


def _shaped(frame: pl.DataFrame, kind: str, file_no: int) -> pl.DataFrame:
    """``frame``'s rows in the DECODED shape, numbered in the order read."""
    numbered = frame.with_columns(pl.lit(kind).alias("_kind"), pl.lit(file_no, pl.Int64).alias("_file"),
                                  pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
    return numbered.select([pl.col(c).cast(t) if c in numbered.columns else pl.lit(None, t).alias(c)
                            for c, t in DECODED.items()])


def decode_file(file_no: int, path: str, format: str | None, mapping: Mapping) -> pl.DataFrame:
    """One export read by the kit's reader: its steps and sources, and one row of its facts (format, labels,
    rejected records; or the error reading it raised, to be raised again on the driver)."""
    try:
        collectors, _ = read_files([Path(path)], format, Conventions(mapping))
        steps = step_frame(collectors)  # (flushes the collectors' sources too)
        sources = pl.concat([empty("sources"), *(f for c in collectors for f in c.source_frames)])
        facts = {"formats": [c.format for c in collectors], "labels": [r for c in collectors for r in c.labels],
                 "rejected": [r for c in collectors for r in c.rejected]}
        rows = [_shaped(steps, "step", file_no), _shaped(sources, "source", file_no)]
    except Exception as exc:  # any error, raised again on the driver as the polars ingest raises it
        facts, rows = _failure(exc), []
    file_row = pl.DataFrame({"_blob": [pickle.dumps(facts)]}, schema={"_blob": pl.Binary})
    return pl.concat([*rows, _shaped(file_row, "file", file_no)])


def _decoder(format: str | None, mapping: Mapping):
    def decode(batches):
        for batch in batches:
            for file_no, path in zip(batch.column("file").to_pylist(), batch.column("path").to_pylist(), strict=True):
                yield from _arrow(decode_file(file_no, path, format, mapping), DECODED).to_batches(max_chunksize=65536)
    return decode


def _assembler(store: str, commit: int, ranks: dict[int, int], labels: pl.DataFrame, mapping: Mapping,
               pricing: Pricing):
    def assemble_share(batches):
        import pyarrow as pa

        batches = list(batches)
        if not batches or not sum(b.num_rows for b in batches):
            return
        rows = pl.from_arrow(pa.Table.from_batches(batches))
        assert isinstance(rows, pl.DataFrame)
        order = pl.col("_file").replace_strict(ranks, default=STORED, return_dtype=pl.Int64)  # the polars order
        rows = rows.sort(order, "_file", "_row", maintain_order=True)
        steps = rows.filter(pl.col("_kind") == "step").with_columns(
            *(pl.from_epoch(pl.col(f"{t}_ns"), time_unit="ns").dt.cast_time_unit("us").dt.replace_time_zone("UTC")
              .alias(f"{t}_at") for t in ("started", "ended"))).select(RAW_COLUMNS)
        sources = (rows.filter(pl.col("_kind") == "source").select(list(TABLE_SCHEMAS["sources"]))
                   .unique(maintain_order=True))
        try:
            blob = pickle.dumps(write_runs(Path(store), commit, steps, sources, labels, mapping, pricing))
        except Exception as exc:  # raised again on the driver
            blob = pickle.dumps(_failure(exc))
        yield pa.RecordBatch.from_pydict({"written": [blob]})
    return assemble_share


def _failure(exc: Exception) -> dict:
    """An executor's error as data: the exception pickled on its own (the driver may not rebuild every one) and
    its text."""
    try:
        error = pickle.dumps(exc)
    except Exception:  # an exception holding what cannot be pickled: its text only
        error = None
    return {"error": error, "message": f"{type(exc).__name__}: {exc}"}


def _raise_error(facts: dict) -> None:
    """Raise the executor's error again, as the polars ingest raised it (or its text, if it cannot be rebuilt)."""
    try:
        error = pickle.loads(facts["error"]) if facts.get("error") else None
    except Exception:
        error = None
    if isinstance(error, BaseException):
        raise error
    raise AgentOpsError(f"ingest on Spark failed: {facts.get('message')}")


def _unpickle(blob: bytes):
    try:
        return pickle.loads(blob)
    except Exception as exc:  # an executor's error that cannot be rebuilt here: its text
        return {"message": f"{type(exc).__name__}: {exc}"}


def _run(what: str, action):
    """``action()``; a failure of Spark itself (no Java, executors without agentops-kit) as one line."""
    try:
        return action()
    except AgentOpsError:
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
        cause = next((ln for ln in reversed(lines) if "Error" in ln or "Exception" in ln), lines[-1] if lines else
                     type(exc).__name__)
        raise AgentOpsError(f"ingest on Spark: {what} failed: {cause[:300]} (the executors need agentops-kit "
                            "installed, and the store folder at the same path)") from None


def decode_exports(spark, exports: list[Path], format: str | None, mapping: Mapping):
    """Stage 1: ``exports`` decoded in Spark tasks. (The decoded rows as a persisted Spark DataFrame, and each
    file's facts in file order); the error of the first file that could not be read is raised, as the polars
    ingest raises it."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    paths = [(i, str(p.resolve())) for i, p in enumerate(exports)]
    slices = max(1, min(len(paths), 4 * sc.defaultParallelism))
    listing = spark.createDataFrame(sc.parallelize(paths, slices), "file bigint, path string")
    decoded = listing.mapInArrow(_decoder(format, mapping), _ddl(DECODED)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        per_file = _run("decoding the exports", lambda: decoded.filter(F.col("_kind") == "file")
                        .select("_file", "_blob").toArrow().to_pydict())
        files = sorted(zip(per_file["_file"], (_unpickle(b) for b in per_file["_blob"]), strict=True),
                       key=lambda f: f[0])
        for _, facts in files:
            if "formats" not in facts:
                _raise_error(facts)  # the first file that could not be read, as the polars ingest stops at it
    except BaseException:
        decoded.unpersist()
        raise
    return decoded, files


def commit_with_spark(spark, store: Path, doc: dict, commit: int, exports: list[Path], label_files: list[Path],
                      mapping: Mapping, pricing: Pricing, format: str | None, result) -> dict:
    """The polars ingest's ``_commit`` on Spark: the parts of the new commit written, its document returned."""
    from pyspark.sql import functions as F

    decoded, files = decode_exports(spark, exports, format, mapping)
    try:
        # the polars ingest gathers rows by format (one collector each, in the order formats were first met)
        formats = list(dict.fromkeys(fmt for _, facts in files for fmt in facts["formats"]))
        ranks = {n: formats.index(facts["formats"][0]) if facts["formats"] else len(formats) for n, facts in files}
        by_format = sorted(files, key=lambda f: ranks[f[0]])
        rejected = [r for _, facts in by_format for r in facts["rejected"]]
        given = given_labels(store, doc, [r for _, facts in by_format for r in facts["labels"]], label_files)

        # one pass over the new steps: their run ids, each with its first start and last end (the span the
        # stored runs they may extend are looked for in)
        per_run = pl.from_arrow(_run("decoding the exports", lambda: decoded.filter(F.col("_kind") == "step")
                                     .groupBy("run_id").agg(F.min("started_ns").alias("lo"),
                                                            F.max(F.greatest("ended_ns", "started_ns")).alias("hi"))
                                     .toArrow()))
        assert isinstance(per_run, pl.DataFrame)
        new_ids = per_run.select(pl.col("run_id").cast(pl.String))
        span = None
        if per_run.height:
            span = tuple(per_run.select(pl.col("lo").min(), pl.col("hi").max()).select(
                pl.from_epoch(pl.col(c).cast(pl.Int64), time_unit="ns").dt.cast_time_unit("us")
                .dt.replace_time_zone("UTC") for c in ("lo", "hi")).row(0))
        plan = plan_runs(store, doc, commit, new_ids, span, given)

        rows = decoded.filter(F.col("_kind").isin("step", "source")).drop("_blob")
        stored = pl.concat([_shaped(plan.raw_old.drop("started_at", "ended_at"), "step", STORED),
                            _shaped(plan.sources_old, "source", STORED)])
        if stored.height:  # the stored rows of the runs touched: moved into Spark beside the new ones
            rows = rows.unionByName(spark.createDataFrame(_arrow(stored, DECODED)).drop("_blob"))
        share = _assembler(str(store.resolve()), commit, ranks, plan.label_rows, mapping, pricing)
        out = _run("assembling runs", lambda: rows.repartition(spark.sparkContext.defaultParallelism, "run_id")
                   .mapInArrow(share, "written binary").toArrow().to_pydict())
        written = []
        for blob in out["written"]:
            part = _unpickle(blob)
            if isinstance(part, dict):
                _raise_error(part)
            written.append(part)
        return new_commit(store, doc, commit, plan, written, rejected, result)
    finally:
        decoded.unpersist()
