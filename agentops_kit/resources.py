"""Files that ship inside the package: templates, notebooks, the report template and the sample data.

Found with ``importlib.resources``, so they are there whether the kit runs from a checkout, an editable
install or a wheel in ``site-packages``. Users edit copies (``agentops-kit init DIR``), never these.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _package_dir(*parts: str) -> Path:
    # Installed packages are plain folders (wheels are unpacked), so the traversable is a real path.
    return Path(str(files("agentops_kit").joinpath(*parts)))


def templates_dir() -> Path:
    """The templates users copy and edit: mapping, pricing, policies, readiness, budgets, schedules."""
    return _package_dir("templates")


def notebooks_dir() -> Path:
    """The parameterized notebooks (weekly review, run inspector, approvals, inventory, shadow mode)."""
    return _package_dir("notebooks")


def sample_dir() -> Path:
    """The bundled sample: an OTLP/JSON export of three agents over seven weeks and its labels."""
    return _package_dir("data", "sample")


def sample_inventory() -> Path:
    """The bundled sample workflow inventory (CSV)."""
    return _package_dir("data", "inventory.csv")


def pricing_dir() -> Path:
    """The dated default price lists (``bundled-YYYY-MM-DD.yaml``) used when no pricing is given."""
    return _package_dir("data", "pricing")


def template(name: str) -> Path:
    return templates_dir() / name


def notebook(name: str) -> Path:
    return notebooks_dir() / name


def report_template_dir() -> Path:
    """nbconvert templates of the offline HTML report."""
    return _package_dir("report", "templates")
