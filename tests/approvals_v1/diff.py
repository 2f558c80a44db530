"""Field-level diff of ``before`` -> ``after`` (nested dicts and lists), with DeepDiff."""

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
    delta = DeepDiff(before if before is not None else {}, after if after is not None else {}, verbose_level=2)
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
