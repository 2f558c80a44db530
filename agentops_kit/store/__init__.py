"""The trace store: canonical tables as Parquet partitioned by ISO week, grown by ingests, published by atomic
commits, read one week at a time.

- ``ingest(paths, into=STORE)`` adds exports (``ingest.py``), ``open_store(STORE, weeks=...)`` reads them
  (``open.py``);
- ``layout.py`` says where what is and reads the commit document, ``commit.py`` publishes one, ``lock.py``
  serializes writers, ``manifest.py`` knows the files ingested, ``partitions.py`` reads and rewrites weeks;
- ``housekeeping.py``: compact, prune and info.
"""

from __future__ import annotations

from .ingest import IngestResult, ingest
from .layout import StoreError
from .open import open_store, parse_weeks, store_files, store_weeks, trend_window

__all__ = ["IngestResult", "StoreError", "ingest", "open_store", "parse_weeks", "store_files", "store_weeks",
           "trend_window"]
