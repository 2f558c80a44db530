"""Run a parameterized notebook with papermill and export it as one self-contained, offline HTML file."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .. import resources
from ..errors import AgentOpsError, UsageError
from ..rendering import TABLE_CSS
from ..resources import report_template_dir

EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']?(https?:)?//", re.I)
# cells of a notebook that only work with a kernel (buttons opening the run inspector): left out of the HTML,
# where the same numbers link to the appendix instead; so is any other widget output (a page has no kernel)
INTERACTIVE_ONLY = "interactive-only"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class ReportError(AgentOpsError):
    """A notebook cell failed, or the report could not be written."""

    exit_code = 1  # the inputs were fine; the run failed


def execute(notebook: Path, output: Path, parameters: dict, kernel_name: str | None = None,
            cell_timeout: int = 1800, cwd: Path | None = None) -> Path:
    """Run the notebook (in ``cwd``, default: the notebook's folder); a cell that errors, or runs longer than
    ``cell_timeout`` seconds, fails the run."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .kernel import SlicedPollKernelManager

    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(cwd or notebook.parent),
                            kernel_name=kernel_name, progress_bar=False, log_output=False,
                            execution_timeout=cell_timeout, kernel_manager_class=SlicedPollKernelManager)
    except TimeoutError as exc:
        raise ReportError(f"{notebook.name}: a cell ran longer than {cell_timeout} s ({exc}). "
                          f"The executed notebook is {output}") from None
    except PapermillExecutionError as exc:
        raise ReportError(f"{notebook.name}: cell {exc.exec_count} (cell index {exc.cell_index}) failed: "
                          f"{exc.ename}: {exc.evalue}. The executed notebook, with the error, is {output}") from None
    return output


def _table_css_once(body: str) -> str:
    """Every table output carries its style block (so it renders alone in JupyterLab); the report needs one."""
    first = body.find(TABLE_CSS)
    if first < 0:
        return body
    end = first + len(TABLE_CSS)
    return body[:end] + body[end:].replace(TABLE_CSS, "")


def to_html(notebook: Path, output: Path) -> Path:
    """Code hidden, prompts hidden, no script loaded from any CDN (checked)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="agentops_offline", extra_template_basedirs=[str(report_template_dir())])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells = [c for c in nb.cells if INTERACTIVE_ONLY not in c.metadata.get("tags", [])]
    nb.metadata.pop("widgets", None)  # the saved state of those widgets: nothing on the page shows it
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = [o for o in c.outputs if WIDGET_VIEW not in o.get("data", {})]
    body, _ = exporter.from_notebook_node(nb)
    body = _table_css_once(body)
    if EXTERNAL_SCRIPT.search(body):
        raise ReportError(f"{output}: the HTML would load a script from the network; refusing to write it")
    output.write_text(body, encoding="utf-8")
    return output


PATH_OPTIONS = ("mapping", "pricing", "labels", "policies", "readiness_file", "error_budget_file", "baselines",
                "policy_tests", "quality_file", "key_file")
OTHER_OPTIONS = ("agents", "weeks_back", "approvals_db", "stop_on_breach", "stop_as", "engine", "spark_master")


def absolute(value):
    """A path or glob as given on a command line, made absolute from the caller's working directory (glob
    characters kept), so that the notebook, which runs elsewhere, reads the same files."""
    if isinstance(value, (list, tuple)):
        return [absolute(v) for v in value]
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def absolute_sqlite(url: str) -> str:
    """A store URL with a relative SQLite path made absolute from the caller's working directory (other URLs
    as given), so that the notebook opens, and the Inputs section names, the database the caller meant."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + absolute(url[len(prefix):])
    return url


def check_stop_options(approvals_db, stop_as, key_file=None) -> None:
    """--stop-on-breach needs a store that exists and a name to record the stops as; checked before a kernel
    starts, so a typo fails in one line with nothing written."""
    from ..approvals import ApprovalQueue
    from ..approvals.identity import check_identity
    from ..errors import UsageError

    if not approvals_db or not stop_as:
        raise UsageError("--stop-on-breach needs --approvals-db URL (the approvals store) and --as NAME (who stops)")
    check_identity(stop_as, "--as")
    ApprovalQueue(str(approvals_db), key_file=key_file, create=False).close()


def weekly_report(out_dir: str | Path, week: str | None, traces: list | None, notebook: str | Path | None = None,
                  kernel_name: str | None = None, store: str | Path | None = None, **options) -> dict[str, Path]:
    """Execute ``weekly_review.ipynb`` for ``week`` (default: last week) on exactly these inputs and write
    ``weekly-<week>.{ipynb,html,md,png}`` into out_dir.

    options: mapping, pricing, labels, policies, readiness_file, error_budget_file, baselines, policy_tests,
    quality_file, agents, weeks_back, approvals_db — as the notebook's parameters; an option not given is absent from the review.
    stop_on_breach (opt-in) with stop_as (who) stops the agents in breach in the approvals_db store. Paths
    and globs resolve from the current directory. Before the notebook starts, the traces are loaded and
    checked: no runs, a week without runs or an unknown agent raise NothingToShow naming what they hold.
    ``store`` instead of ``traces``: a trace store, of which only the trend window's weeks are read.
    """
    from ..analytics.names import require_config_names
    from ..load import load_traces
    from ..weeks import last_week
    from .review import check_scope, check_weeks_back

    unknown = set(options) - set(PATH_OPTIONS) - set(OTHER_OPTIONS)
    if unknown:
        raise TypeError(f"weekly_report: unknown options {', '.join(sorted(unknown))}")
    week = week or last_week()
    params = {k: (absolute(v) if k in PATH_OPTIONS else v) for k, v in options.items() if v is not None}
    if "approvals_db" in params:
        params["approvals_db"] = absolute_sqlite(str(params["approvals_db"]))
    if (not traces) == (store is None):
        raise UsageError("weekly report: give either the traces (--traces) or a store (--store), not both or neither")
    if store is not None and (given := [f"--{k}" for k in ("mapping", "pricing", "labels") if k in params]):
        raise UsageError(f"weekly report: {', '.join(given)} cannot be used with --store: a store's runs were "
                         "assembled when they were ingested (give them to `agentops-kit ingest --into`)")
    traces = absolute([traces] if isinstance(traces, (str, os.PathLike)) else list(traces or []))
    check_weeks_back(params.get("weeks_back", 8))
    if params.get("stop_on_breach"):
        check_stop_options(params.get("approvals_db"), params.get("stop_as"), params.get("key_file"))
    nb = Path(notebook) if notebook else resources.notebook("weekly_review.ipynb")
    if not nb.is_file():
        raise ReportError(f"{nb}: notebook not found (pass --notebook)")
    if store is not None:
        from ..store import open_store, trend_window
        from ..store.objstore import is_object_url
        from .review import weeks_read

        store = str(store) if is_object_url(store) else str(Path(store).absolute())  # a URL: as it is
        history = weeks_read(params.get("weeks_back", 8), params.get("error_budget_file"),
                             params.get("readiness_file"), gates=bool(params.get("policies") or params.get("approvals_db")))
        ts = open_store(store, weeks=None if history is None else trend_window(store, week, history)[1])
    else:
        ts = load_traces(traces, mapping=params.get("mapping"), pricing=params.get("pricing"),
                         labels=params.get("labels"))
    check_scope(ts, week, params.get("agents"))  # before a kernel starts: one line, nothing written
    require_config_names(ts, params.get("policies"), params.get("error_budget_file"), params.get("baselines"),
                         params.get("quality_file"))
    del ts
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    params.update(sample=False, week=week, out_dir=str(out), **({"store": store} if store else {"traces": traces}))
    executed = execute(nb, out / f"weekly-{week}.ipynb", params, kernel_name, cwd=Path.cwd())
    html = to_html(executed, out / f"weekly-{week}.html")
    return {"notebook": executed, "html": html, "digest": out / f"weekly-{week}.md", "png": out / f"weekly-{week}.png"}
