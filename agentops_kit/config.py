"""Strict loading of YAML configuration into typed (pydantic) objects, with errors naming file, key and line."""

from __future__ import annotations

import os
from itertools import takewhile
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored; so are non-finite numbers
    (``.inf``, ``.nan``, ``1e999``) wherever a number is read."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Conflict(ValueError):
    """Raised by a validator when two entries of a file contradict each other: ``paths`` (key paths relative
    to the validated object) locate them, so that the error names both lines."""

    def __init__(self, message: str, *paths: tuple):
        super().__init__(message)
        self.paths = paths


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors (a date like 2026-13-01, ``!!int x``) carry the line of the value."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {exc}",
                node.start_mark) from None


def _key_identity(key_node) -> object:
    """What makes two mapping keys the same key (``1`` and ``01`` are; ``1`` and ``'1'`` are not)."""
    try:
        key = yaml.constructor.SafeConstructor().construct_object(key_node, deep=True)
        hash(key)
        return key_node.tag, key
    except Exception:  # an unhashable or unreadable key is refused when the document is constructed
        return key_node.tag, str(key_node.value)


def _key_lines(node, path: str) -> dict[tuple, int]:
    """Map every key path in a YAML node tree to its 1-based line; ConfigError on a key given twice in one
    mapping (YAML would silently keep the last value)."""
    lines: dict[tuple, int] = {}
    seen_nodes: set[int] = set()  # an alias repeats a node: walk it once
    todo = [(node, ())]
    while todo:
        node, prefix = todo.pop()
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[prefix + (i,)] = item.start_mark.line + 1
                todo.append((item, prefix + (i,)))
            continue
        first: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: keys given here override those
                continue
            if not isinstance(key_node, yaml.ScalarNode):  # a list or mapping as a key: refused when constructed
                continue
            line = key_node.start_mark.line + 1
            identity = _key_identity(key_node)
            key_path = prefix + (key_node.value,)
            if identity in first:
                raise ConfigError(path, f"duplicate key '{key_node.value}': first at line {first[identity]}, again at "
                                  f"line {line} (YAML would silently keep the last value)",
                                  key=".".join(str(k) for k in key_path), line=line)
            first[identity] = line
            lines[key_path] = line
            todo.append((value_node, key_path))
    return lines


def read_yaml(path: str | os.PathLike[str]) -> tuple[object, dict[tuple, int]]:
    """The parsed document and the line of each key. ConfigError when the file is missing, not YAML, or
    gives a key twice in one mapping. Every YAML file the kit reads goes through here."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot be read: {exc}") from None
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        lines = _key_lines(node, str(path)) if node is not None else {}
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), f"is not valid YAML: {problem}",
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError(str(path), "is not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _line_of(loc: tuple, lines: dict[tuple, int]) -> int | None:
    """The line of the deepest key of ``loc`` that the file has a line for."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def validation_error(path: str | os.PathLike[str], exc: ValidationError, lines: dict[tuple, int]) -> ConfigError:
    """The first problem of a pydantic error, located in the file."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    line = _line_of(loc, lines)
    key = ".".join(str(p) for p in loc) or None
    message = {
        "extra_forbidden": "unknown key (check its spelling against the documented keys)",
        "missing": "required key is missing",
        "finite_number": "a finite number is expected (.inf, .nan and numbers too large for a float are refused)",
    }.get(err["type"], err["msg"])
    conflict = err.get("ctx", {}).get("error")
    if isinstance(conflict, Conflict):
        found = [_line_of(loc + tuple(p), lines) for p in conflict.paths]
        found = [n for n in found if n is not None]
        message = str(conflict) + (f" (lines {', '.join(map(str, found[:-1]))} and {found[-1]})" if len(found) > 1 else "")
        line = found[-1] if found else line
        common = tuple(p for p, *_ in takewhile(lambda parts: len(set(parts)) == 1, zip(*conflict.paths, strict=False)))
        key = ".".join(str(p) for p in loc + common) or key
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
