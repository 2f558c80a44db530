"""What the parameterized notebooks share: the bundled sample's settings, used only when a notebook is asked
to run on the sample, and errors shown as one line instead of a traceback.

A notebook's parameters default to ``None`` (absent). ``sample=True`` — the default, so that a notebook
opened with no parameters shows something — fills them from the sample; ``sample=False`` (what
``agentops-kit report weekly`` passes) uses exactly the inputs given. Mixing the two is refused: a user who
passes their own traces and forgets ``sample=False`` must not get the sample's labels and policies.
"""

from __future__ import annotations

from ..errors import AgentOpsError, UsageError
from ..resources import sample_dir, sample_inventory, templates_dir


def sample_settings() -> dict:
    """Every input the notebooks and ``agentops-kit demo`` take, as the bundled sample and templates give them."""
    sample, templates = sample_dir(), templates_dir()
    return {
        "traces": [str(sample / "traces.otlp.jsonl.gz")],
        "mapping": str(templates / "mapping.yaml"),
        "pricing": str(templates / "pricing.yaml"),
        "labels": [str(sample / "labels.csv"), str(sample / "quality_labels.csv")],
        "policies": str(templates / "policies"),
        "readiness_file": str(templates / "readiness.yaml"),
        "error_budget_file": str(templates / "error_budget.yaml"),
        "baselines": str(templates / "baselines.yaml"),
        "policy_tests": str(templates / "policy_tests"),
        "quality_file": str(templates / "quality.yaml"),
        "inventory": str(sample_inventory()),
    }


def notebook_inputs(sample: bool, required: tuple[str, ...] = ("traces",), **given) -> dict:
    """The inputs a notebook runs on: the sample's for the names in ``given`` (``sample=True``, nothing given),
    or exactly ``given`` (``sample=False``; each name in ``required`` must then be given)."""
    named = sorted(name for name, value in given.items() if value is not None)
    if sample:
        if named:
            raise UsageError(f"sample=True runs this notebook on the bundled sample, but {', '.join(named)} "
                             "was given too: pass sample=False to use your own inputs (and only those)")
        settings = sample_settings()
        return {name: settings.get(name) for name in given}
    missing = [name for name in required if given.get(name) is None]
    if missing:
        raise UsageError(f"sample=False: pass {', '.join(missing)} (or sample=True to run on the bundled sample)")
    return dict(given)


def one_line_errors() -> None:
    """In IPython, show every error the kit raises on purpose as ``error: <message>`` — one line, as the CLI
    does — instead of a traceback. The cell still fails (papermill reports it; Run All stops there)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        lines = [f"error: {value}"]
        shell._showtraceback(etype, value, lines)  # sends the error output (ename, evalue, this one line)
        return lines

    shell.set_custom_exc((AgentOpsError,), handler)


def approvals_store(db_url: str | None, sample: bool) -> str:
    """The approvals store a notebook opens: ``db_url`` when given; with ``sample=True`` otherwise a fresh demo
    database in a new temporary folder (never beside the notebook, never ``$AGENTOPS_APPROVALS_DB``: a demo
    must not seed requests into a real store); with ``sample=False`` otherwise ``$AGENTOPS_APPROVALS_DB``."""
    import os
    import tempfile

    if db_url:
        return db_url
    if sample:
        return f"sqlite:///{tempfile.mkdtemp(prefix='agentops-approvals-demo-')}/approvals.db"
    env = os.environ.get("AGENTOPS_APPROVALS_DB")
    if not env:
        raise UsageError("sample=False: pass db_url (the approvals store's SQLAlchemy URL) or set $AGENTOPS_APPROVALS_DB")
    return env


def notebook_traces(inputs: dict, weeks: str | None = None):
    """The TraceSet a notebook's ``inputs`` name: its trace store (``inputs["store"]``; only ``weeks``, such as
    ``2026-W40..2026-W47`` or ``2026-W44,2026-W46``, default every week), or its traces loaded with the mapping,
    pricing and labels given. A store's runs were assembled when they were ingested: traces, mapping, pricing or
    labels given with it are refused, as ``weeks`` without a store is."""
    store = inputs.get("store")
    if store is None:
        if weeks is not None:
            raise UsageError("weeks reads weeks of a trace store: give store (or leave weeks at None)")
        from ..load import load_traces

        return load_traces(inputs["traces"], mapping=inputs.get("mapping"), pricing=inputs.get("pricing"),
                           labels=inputs.get("labels"))
    given = [name for name in ("traces", "mapping", "pricing", "labels") if inputs.get(name) is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: cannot be used with a store, whose runs were assembled when they were "
                         "ingested (give them to `agentops-kit ingest --into`)")
    from ..store import open_store, parse_weeks

    return open_store(store, weeks=None if weeks is None else parse_weeks(weeks))
