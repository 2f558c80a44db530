"""Strict loading of YAML configuration into typed (pydantic) objects, with errors naming file, key and line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _key_lines(node, prefix=()) -> dict[tuple, int]:
    """Map every key path in a YAML node tree to its 1-based line."""
    lines: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[prefix + (i,)] = item.start_mark.line + 1
            lines.update(_key_lines(item, prefix + (i,)))
    return lines


def read_yaml(path: str | os.PathLike[str]) -> tuple[object, dict[tuple, int]]:
    """The parsed document and the line of each key; ConfigError if missing or not YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot be read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), f"is not valid YAML: {problem}",
                          line=mark.line + 1 if mark else None) from None
    return data, (_key_lines(node) if node is not None else {})


def validation_error(path: str | os.PathLike[str], exc: ValidationError, lines: dict[tuple, int]) -> ConfigError:
    """The first problem of a pydantic error, located in the file."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    line = None
    for n in range(len(loc), 0, -1):  # the deepest key we know a line for
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    key = ".".join(str(p) for p in loc) or None
    message = {
        "extra_forbidden": "unknown key (check its spelling against the documented keys)",
        "missing": "required key is missing",
    }.get(err["type"], err["msg"])
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(str(path), message, key=key, line=line)


def load_model(path: str | os.PathLike[str], model: type[M], root_key: str | None = None) -> M:
    """Read ``path`` as YAML and validate it into ``model``; ConfigError on any problem."""
    data, lines = read_yaml(path)
    if data is None:
        data = {}
    if root_key is not None:
        if not isinstance(data, dict) or root_key not in data:
            raise ConfigError(str(path), f"expected a top-level '{root_key}:' section", key=root_key)
        data = data[root_key]
        lines = {k[1:]: v for k, v in lines.items() if k[:1] == (root_key,)}
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"expected a mapping of keys, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if root_key is not None:
            exc_err = validation_error(path, exc, lines)
            exc_err.key = f"{root_key}.{exc_err.key}" if exc_err.key else root_key
            raise ConfigError(str(path), exc_err.problem, key=exc_err.key, line=exc_err.line) from None
        raise validation_error(path, exc, lines) from None
