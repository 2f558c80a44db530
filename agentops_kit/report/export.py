"""Run a parameterized notebook with papermill and export it as one self-contained, offline HTML file."""

from __future__ import annotations

import re
from pathlib import Path

from .. import resources
from ..errors import AgentOpsError
from ..rendering import TABLE_CSS
from ..resources import report_template_dir

EXTERNAL_SCRIPT = re.compile(r"<script[^>]+src=[\"']?(https?:)?//", re.I)


class ReportError(AgentOpsError):
    """A notebook cell failed, or the report could not be written."""

    exit_code = 1  # the inputs were fine; the run failed


def execute(notebook: Path, output: Path, parameters: dict, kernel_name: str | None = None,
            cell_timeout: int = 1800) -> Path:
    """Run the notebook; a cell that errors, or runs longer than ``cell_timeout`` seconds, fails the run."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .kernel import SlicedPollKernelManager

    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
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
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    body = _table_css_once(body)
    if EXTERNAL_SCRIPT.search(body):
        raise ReportError(f"{output}: the HTML would load a script from the network; refusing to write it")
    output.write_text(body, encoding="utf-8")
    return output


def weekly_report(out_dir: str | Path, week: str, traces: list, notebook: str | Path | None = None,
                  kernel_name: str | None = None, **options) -> dict[str, Path]:
    """Execute ``weekly_review.ipynb`` for ``week`` and write ``weekly-<week>.{ipynb,html,md,png}`` into out_dir.

    options: mapping, pricing, labels, policies, readiness_file, error_budget_file, baselines, policy_tests,
    agents, weeks_back — as the notebook's parameters. Paths are made absolute.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    nb = Path(notebook) if notebook else resources.notebook("weekly_review.ipynb")
    if not nb.is_file():
        raise ReportError(f"{nb}: notebook not found (pass --notebook)")
    absolute = lambda v: str(Path(v).resolve()) if isinstance(v, (str, Path)) and Path(v).exists() else v
    params = {k: ([absolute(x) for x in v] if isinstance(v, (list, tuple)) else absolute(v))
              for k, v in options.items() if v is not None}
    params.update(traces=[absolute(t) for t in traces], week=week, out_dir=str(out))
    executed = execute(nb, out / f"weekly-{week}.ipynb", params, kernel_name)
    html = to_html(executed, out / f"weekly-{week}.html")
    return {"notebook": executed, "html": html, "digest": out / f"weekly-{week}.md", "png": out / f"weekly-{week}.png"}
