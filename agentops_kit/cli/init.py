"""`init DIR`: editable copies of the templates, the notebooks and the sample data in a user's project.

The copies keep the package's layout (``notebooks/`` next to ``templates/`` and ``data/``). The packaged
notebooks run on the bundled sample (``sample = True``, every input ``None``); in the copies the parameters
cell names the project's own copies instead (``sample = False``, ``mapping = "../templates/mapping.yaml"``,
...), so every notebook runs from DIR on the files a user edits, and then on their own exports.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import click

from ..errors import UsageError
from ..resources import notebooks_dir, sample_dir, sample_inventory, templates_dir
from .app import main

# its sample mode is a demo store seeded from the sample, not "inputs from the sample": the copy keeps it
KEEPS_SAMPLE_MODE = frozenset({"approvals.ipynb"})
_PARAMETER = re.compile(r"^(?P<name>\w+) = (?P<value>None|True)(?P<rest>\s*#.*)?$")


def project_settings() -> dict[str, str | list[str]]:
    """The sample's settings (``sample_settings``) as paths from a copied notebook to the project's copies."""
    from ..report.notebook import sample_settings  # (imported here: the whole CLI would wait for the report)

    homes = [(sample_inventory(), "../data/inventory.csv"), (templates_dir(), "../templates"),
             (sample_dir(), "../data/sample")]

    def relative(path: str) -> str:
        for home, there in homes:
            if Path(path) == home or Path(path).is_relative_to(home):
                return there + ("/" + Path(path).relative_to(home).as_posix() if Path(path) != home else "")
        raise AssertionError(f"{path}: not a packaged file init copies")

    return {name: [relative(v) for v in value] if isinstance(value, list) else relative(value)
            for name, value in sample_settings().items()}


def project_notebook(source: Path) -> str:
    """The notebook at ``source`` with its parameters naming the project's copies (see the module docstring)."""
    import nbformat  # (imported here: nbformat's schema validator takes seconds to import)

    nb = nbformat.read(source, as_version=4)
    if source.name in KEEPS_SAMPLE_MODE:
        return nbformat.writes(nb)
    settings = project_settings()
    for cell in nb.cells:
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        lines = []
        for line in cell.source.splitlines():
            m = _PARAMETER.match(line)
            if m and m["name"] == "sample" and m["value"] == "True":
                line = f"sample = False{m['rest'] or ''}"
            elif m and m["name"] in settings and m["value"] == "None":
                line = f"{m['name']} = {settings[m['name']]!r}{m['rest'] or ''}"
            lines.append(line)
        cell.source = "\n".join(lines)
    return nbformat.writes(nb)


def project_files() -> list[tuple[Path, Path]]:
    """(packaged file, path relative to the project) for everything `init` copies."""
    pairs = []
    for source, prefix in ((templates_dir(), Path("templates")), (notebooks_dir(), Path("notebooks")),
                           (sample_dir(), Path("data", "sample"))):
        pairs += [(path, prefix / path.relative_to(source)) for path in sorted(source.rglob("*"))
                  if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts]
    pairs.append((sample_inventory(), Path("data", "inventory.csv")))
    return pairs


def init_project(directory: str | Path, force: bool = False) -> list[Path]:
    """Copy the templates, notebooks and sample data into ``directory``; returns the paths written.

    Refuses (``UsageError``, nothing written) when any of those files exists already, unless ``force``.
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: exists and is not a folder")
    pairs = [(source, root / relative) for source, relative in project_files()]
    existing = [target for _, target in pairs if target.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} exists{more}; nothing was written — pass --force to overwrite")
    for source, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".ipynb":
            target.write_text(project_notebook(source), encoding="utf-8")
        else:
            shutil.copyfile(source, target)
    return [target for _, target in pairs]


@main.command("init")
@click.argument("directory", type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
def init(directory, force):
    """Write editable copies of the templates, the notebooks and the sample data into DIRECTORY.

    The copied notebooks' parameters name the copied templates and sample data, so they run from there;
    edit the copies, point the notebooks' parameters at your own exports. Refuses to overwrite an existing file unless --force.
    """
    written = init_project(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(written)} files in {directory}/: start with `jupyter lab {Path(directory) / 'notebooks'}`")
