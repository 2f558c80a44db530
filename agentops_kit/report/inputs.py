"""What a review was computed from: every input file with its size and SHA-256, and each setting given or not.

A number is only as good as the files behind it, so the report and the digest list them; a setting that was
not given is said to be absent ("none given"), never quietly replaced by a sample or template file.
"""

from __future__ import annotations

import builtins
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..files import expand_paths
from ..pricing import pricing_source

# (parameter, what the report calls it), in the order they are listed
SETTINGS = (
    ("mapping", "mapping"),
    ("pricing", "pricing"),
    ("labels", "labels"),
    ("policies", "policies"),
    ("error_budget_file", "error budgets"),
    ("baselines", "baselines"),
    ("readiness_file", "readiness"),
    ("policy_tests", "policy tests"),
    ("quality_file", "quality metrics"),
)
# What the kit does when a setting is absent, where that is more than "nothing"
WHEN_ABSENT = {
    "mapping": "none given: the GenAI / OpenInference conventions",
    "pricing": "none given: {bundled}",  # load_traces prices with the bundled list (named when described)
}
NOT_RECORDED = "not recorded: the TraceSet was loaded by the caller"
IN_STORE = "as given to each ingest into the store (`agentops-kit store info --format json` lists its history)"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    path: str
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> InputFile:
        path = Path(path)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(block)
        return cls(str(path.absolute()), path.stat().st_size, digest.hexdigest())

    @classmethod
    def of_bytes(cls, name: str, data: builtins.bytes) -> InputFile:
        """A file read whole elsewhere (a store's commit document on object storage, by its URL)."""
        return cls(name, len(data), hashlib.sha256(data).hexdigest())


def _config_files(value) -> list[InputFile]:
    """A config setting's files: a file, a folder of YAML files, or a list of either."""
    items = value if isinstance(value, (list, tuple)) else [value]
    files: list[Path] = []
    for item in items:
        path = Path(item)
        files += sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    return [InputFile.of(p) for p in files]


def store_text(approvals) -> str | None:
    """The approvals store as the report names it: its URL with any password hidden (an ApprovalQueue: its
    URL), or ``None`` when none was given."""
    if approvals is None:
        return None
    url = str(getattr(approvals, "url", approvals))
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: opening the store reports that; here it is only named
        return url


@dataclass(frozen=True)
class ReviewInputs:
    """``traces``: the trace files read. ``settings``: parameter -> its files, ``None`` when not given, or
    the string ``NOT_RECORDED`` when the caller loaded the traces and did not say with what.
    ``approvals_store``: the approvals store's URL (password hidden), ``None`` when none was given."""

    traces: tuple[InputFile, ...]
    settings: dict
    approvals_store: str | None = None

    @classmethod
    def of(cls, traces, approvals_db=None, **settings) -> ReviewInputs:
        """Fingerprint ``traces`` (files, folders, globs) and the given settings (paths or ``None``);
        ``approvals_db``: the approvals store (a URL or an ApprovalQueue) or ``None``."""
        unknown = set(settings) - {name for name, _ in SETTINGS}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        record = {}
        for name, _ in SETTINGS:
            value = settings.get(name)
            record[name] = value if value is None or value in (NOT_RECORDED, IN_STORE) else tuple(_config_files(value))
        traces = list(traces)
        # a table-set folder (from ingest) is read as its files: each is fingerprinted
        files = [f for p in expand_paths(traces) for f in (sorted(x for x in p.rglob("*") if x.is_file())
                                                            if p.is_dir() else [p])] if traces else []
        return cls(tuple(InputFile.of(f) for f in files), record,
                   store_text(approvals_db))

    def described(self) -> list[tuple[str, str]]:
        """(setting, text) for the traces and every setting: the files' paths, or why there are none."""
        out = [("traces", ", ".join(f.path for f in self.traces) or "not recorded: the TraceSet names no file")]
        for name, title in SETTINGS:
            value = self.settings.get(name)
            if value is None:
                out.append((title, WHEN_ABSENT.get(name, "none given").format(bundled=pricing_source(None))))
            elif isinstance(value, str):
                out.append((title, value))
            else:
                out.append((title, ", ".join(f.path for f in value) or "given, but it holds no files"))
        out.append(("approvals store", self.approvals_store or "none given"))
        return out

    def files(self) -> list[tuple[str, InputFile]]:
        """(role, file) for every file read: the traces first, then each setting's."""
        out = [("traces", f) for f in self.traces]
        for name, title in SETTINGS:
            value = self.settings.get(name)
            if isinstance(value, tuple):
                out += [(title, f) for f in value]
        return out

    def to_dict(self) -> dict:
        def files(value):
            return [vars(f).copy() for f in value]

        return {
            "traces": files(self.traces),
            "settings": {name: (value if value is None or isinstance(value, str) else files(value))
                         for name, value in self.settings.items()},
            "approvals_store": self.approvals_store,
        }
