"""`init DIR`: editable copies of the templates, the notebooks and the sample data in a user's project.

The copies keep the package's layout (``notebooks/`` next to ``templates/`` and ``data/``), so the
notebooks' default parameters (``../templates/mapping.yaml``, ``../data/sample/...``) find the copies
and every notebook runs from DIR as it is; users then point the parameters at their own exports.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from ..errors import UsageError
from ..resources import notebooks_dir, sample_dir, sample_inventory, templates_dir
from .app import main


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
        shutil.copyfile(source, target)
    return [target for _, target in pairs]


@main.command("init")
@click.argument("directory", type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
def init(directory, force):
    """Write editable copies of the templates, the notebooks and the sample data into DIRECTORY.

    The notebooks run from there with the copied templates; edit the copies, point the notebooks'
    parameters at your own exports. Refuses to overwrite an existing file unless --force.
    """
    written = init_project(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"{len(written)} files in {directory}/: start with `jupyter lab {Path(directory) / 'notebooks'}`")
