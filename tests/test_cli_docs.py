"""Every command of `agentops-kit` has help text and is shown in the README."""

from __future__ import annotations

import re

import click
import pytest

from agentops_kit.cli import main

from .conftest import ROOT


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(main)


def test_the_walk_finds_nested_commands():
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"init", "demo", "report", "report weekly", "policy check", "approvals approve"} <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_command_has_help_and_is_in_the_readme(path, command):
    assert (command.help or "").strip(), f"`agentops-kit {' '.join(path)}` has no help text"
    assert command.get_short_help_str().strip()
    readme = (ROOT / "README.md").read_text()
    *parents, name = path
    # shown as `agentops-kit [group ...] NAME`, or among the alternatives of its line, where the innermost
    # group may be restated (`approvals list | show ID [--as ME] | …`, `approvals policy show … | policy set …`)
    prefix = re.escape(" ".join(["agentops-kit", *parents]))
    again = f"(?:{re.escape(parents[-1])} )?" if parents else ""
    shown = re.search(rf"{prefix} (?:[^|`\n]*\| *)*{again}{re.escape(name)}\b", readme)
    assert shown, f"`agentops-kit {' '.join(path)}` is not in README.md"
