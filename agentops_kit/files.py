"""Input paths: files, folders and globs, plain or compressed (gzip, zstd)."""

from __future__ import annotations

import glob
import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import InputFileError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# Found while walking a folder, these are documentation beside an export, never an export: a README that
# quotes OTLP would otherwise be read as a broken one. A file named explicitly is always read.
NOT_EXPORTS = frozenset({
    ".md", ".txt", ".rst", ".html", ".htm", ".pdf", ".py", ".ipynb", ".yaml", ".yml", ".toml", ".cfg", ".ini",
    ".png", ".jpg", ".jpeg", ".gif", ".svg",
})


def _in_folder(folder: Path) -> list[Path]:
    """The exports in ``folder`` and below; a table-set folder inside it is one entry, read as a whole."""
    from .tableset import is_table_set

    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        sets = [d for d in dirs if is_table_set(here / d)]
        found += [here / d for d in sets]
        dirs[:] = [d for d in dirs if d not in sets]
        found += [here / f for f in files if not f.startswith(".") and Path(f).suffix.lower() not in NOT_EXPORTS
                  and (here / f).is_file()]
    return sorted(found)


def expand_paths(inputs: str | os.PathLike | list) -> list[Path]:
    """Every file named by ``inputs`` (paths, folders walked recursively, glob patterns), sorted, unique;
    documentation files found in folders (README.md, PROVENANCE.txt, ...) are left out. A table-set folder
    (written by ``ingest``) is one entry: the folder itself."""
    from .tableset import is_table_set

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputFileError(text, "no file matches this pattern")
            found += [Path(m) for m in matches if Path(m).is_file() or is_table_set(m)]
            continue
        path = Path(text)
        if is_table_set(path):
            found.append(path)
        elif (path / "store.json").is_file():  # its Parquet parts are not exports; read as such, they would be junk
            raise InputFileError(text, "a trace store: read it with --store (ak.open_store), add to it with "
                                       "`agentops-kit ingest --into`")
        elif path.is_dir():
            found += _in_folder(path)
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(text, "no such file or directory")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputFileError(", ".join(map(str, inputs)), "no input files found")
    return unique


def read_bytes(path: Path) -> tuple[bytes, str | None]:
    """The file's content, decompressed if gzip; plus a problem text if the stream was cut short."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    if raw[:4] == ZSTD_MAGIC:
        return zstd_frames(raw)
    if raw[:2] != GZIP_MAGIC:
        return raw, None
    # Decompress incrementally so that a truncated archive still yields what it holds.
    decomp = gzip.zlib.decompressobj(16 + gzip.zlib.MAX_WBITS)
    try:
        data = decomp.decompress(raw)
    except gzip.zlib.error as exc:
        return b"", f"gzip stream is corrupt ({exc})"
    if not decomp.eof:
        return data, "gzip stream is truncated: the file ends before the archive does"
    return data, None


class ZstdProblem(ValueError):
    """A zstd stream that is cut short or corrupt."""


def zstd_frames(data: bytes) -> tuple[bytes, str | None]:
    """Every frame of a zstd stream (the Collector's file exporter writes one or many), plus a problem text
    if the stream is cut short or corrupt (what came before the problem is kept)."""
    import zstandard

    parts, rest = [], data
    while rest:
        decomp = zstandard.ZstdDecompressor().decompressobj()
        try:
            parts.append(decomp.decompress(rest))
        except zstandard.ZstdError as exc:
            return b"".join(parts), f"zstd stream is corrupt ({exc})"
        if not decomp.eof:
            return b"".join(parts), "zstd stream is truncated: the file ends before the frame does"
        rest = decomp.unused_data
    return b"".join(parts), None


def zstd_decompress(data: bytes) -> bytes:
    """A whole zstd stream; raises ``ZstdProblem`` if it is cut short or corrupt."""
    out, problem = zstd_frames(data)
    if problem:
        raise ZstdProblem(problem)
    return out


def is_zstd(path: Path) -> bool:
    """Whether the file is zstd-compressed (read whole: the streaming readers take plain text or gzip)."""
    try:
        with path.open("rb") as raw:
            return raw.read(4) == ZSTD_MAGIC
    except OSError:
        return False


def read_head(path: Path, size: int = 1 << 20) -> bytes:
    """The first ``size`` bytes of the (decompressed) content, for format detection."""
    try:
        with path.open("rb") as raw:
            magic = raw.read(4)
            raw.seek(0)
            if magic[:4] == ZSTD_MAGIC:
                import zstandard

                try:
                    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True).read(size)
                except zstandard.ZstdError:  # cut short or corrupt: what can be decompressed
                    return read_bytes(path)[0][:size]
            if magic[:2] != GZIP_MAGIC:
                return raw.read(size)
            try:
                return gzip.GzipFile(fileobj=raw).read(size)
            except (EOFError, OSError, gzip.zlib.error):
                return read_bytes(path)[0][:size]
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read ({exc.strerror or exc})") from exc


def is_line_delimited(head: bytes) -> bool:
    """True unless the file starts with one (pretty-printed) JSON document spanning several lines."""
    import orjson

    stripped = head.lstrip()
    end = stripped.find(b"\n")
    if end < 0:
        return True  # one long line (or the first line is longer than the head): read it line by line
    try:
        orjson.loads(stripped[:end])
        return True
    except orjson.JSONDecodeError:
        return False


def stream_lines(path: Path, problems: list[str],
                 advance: Callable[[int], object] | None = None) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every non-blank line, read incrementally (plain or gzip); a cut or
    corrupt gzip stream ends the iteration and appends the problem to ``problems``. ``advance`` (a progress
    bar's ``update``) is told, every few lines, how many more bytes of the file on disk were read."""
    with path.open("rb") as raw:
        is_gzip = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        handle = gzip.GzipFile(fileobj=raw) if is_gzip else raw
        number, reported = 0, 0
        try:
            for line in handle:
                number += 1
                if advance is not None and number % 64 == 0:
                    position = raw.tell()
                    advance(position - reported)
                    reported = position
                if line.strip():
                    yield number, line.rstrip(b"\r\n")
        except (EOFError, OSError, gzip.zlib.error) as exc:
            problems.append(f"gzip stream is truncated or corrupt after line {number}: {exc}")


def iter_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every non-blank line."""
    start, number, size = 0, 0, len(data)
    while start < size:  # no list of all lines: each line is copied, read and freed in turn
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        number += 1
        line = data[start:end]
        start = end + 1
        if line.strip():
            yield number, line


def logical_name(path: Path) -> str:
    """The file name without a compression suffix (``a.jsonl.gz`` -> ``a.jsonl``)."""
    name = path.name
    return name[:-3] if name.endswith(".gz") else name
