"""Field-level diffs (nested dicts and lists, with DeepDiff): what the parameters will do, and what the agent
claimed about them (its own ``before`` -> ``after``), kept apart."""

from __future__ import annotations

import re

from deepdiff import DeepDiff

_KINDS = {
    "values_changed": "changed", "type_changes": "changed", "dictionary_item_added": "added",
    "dictionary_item_removed": "removed", "iterable_item_added": "added", "iterable_item_removed": "removed",
}


def _path(deep_path: str) -> str:
    """root['a']['b'][0] -> a.b[0]"""
    parts = re.findall(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+)\]", deep_path)
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else ("." if out else "") + part[1:-1]
    return out or "(whole value)"


def field_diff(before, after) -> list[dict]:
    """Rows of ``{path, change (added|removed|changed), before, after}``, sorted by path."""
    if before is None and after is None:
        return []
    # threshold_to_diff_deeper=0: always field by field, even when the two share few keys
    delta = DeepDiff(before if before is not None else {}, after if after is not None else {}, verbose_level=2,
                     threshold_to_diff_deeper=0)
    rows = []
    for kind, label in _KINDS.items():
        for path, value in (delta.get(kind) or {}).items():
            if label == "changed":
                rows.append({"path": _path(path), "change": label, "before": value["old_value"], "after": value["new_value"]})
            elif label == "added":
                rows.append({"path": _path(path), "change": label, "before": None, "after": value})
            else:
                rows.append({"path": _path(path), "change": label, "before": value, "after": None})
    return sorted(rows, key=lambda r: r["path"])


def _restrict(before, params):
    """``before`` keeping only the keys ``params`` sets (recursively through mappings)."""
    if isinstance(before, dict) and isinstance(params, dict):
        return {k: _restrict(before[k], params[k]) for k in params if k in before}
    return before


def params_diff(params: dict, before=None) -> list[dict]:
    """What the call will do, from its parameters: each parameter against the same path in ``before`` (the
    current state, when the agent gave it). A parameter with no known current value is ``set``."""
    base = _restrict(before, params) if isinstance(before, dict) else {}
    rows = field_diff(base, params)
    return [{**r, "change": "set"} if r["change"] == "added" else r for r in rows]


def _leaves(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        out = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix or "(whole value)": value}


def claim_conflicts(params: dict, after) -> list[dict]:
    """Paths where the agent's claimed ``after`` says one value and the parameters another."""
    if after is None:
        return []
    claimed, actual = _leaves(after), _leaves(params)
    return [{"path": p, "claimed": claimed[p], "params": actual[p]}
            for p in sorted(claimed.keys() & actual.keys()) if claimed[p] != actual[p]]
