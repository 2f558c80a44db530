"""Text from traces, made inert in markdown: it shows as written and never becomes markup.

An agent name such as ``[pay here](javascript:…)``, ``**urgent**`` or ``<script>`` must reach the digest's
reader as those characters, not as a link, bold text or HTML. Control characters (a newline could start a
heading) are shown as visible escapes first.
"""

from __future__ import annotations

import re

from ..terminal import safe

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# What CommonMark and GitHub-flavoured markdown give a meaning to inside a line: emphasis, code, links and
# images, tables, strikethrough, and the backslash itself
# (an underscore between two letters or digits cannot open or close emphasis: ``completion_rate`` stays as is)
_INLINE = re.compile(r"[\\`*\[\]!|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block (heading, list, setext underline) when it leads a list item's text
_LEADING_MARK = re.compile(r"^([#+\-=])")
_LEADING_NUMBER = re.compile(r"^(\d+)([.)])")


def md(value) -> str:
    """``value`` as inert markdown text: HTML-active characters as entities, markdown-active ones escaped
    with a backslash, control characters shown as ``\\x..`` escapes. ``None`` becomes ``–``."""
    if value is None:
        return "–"
    text = _INLINE.sub(lambda m: "\\" + m.group(), safe(value))
    text = _LEADING_NUMBER.sub(r"\1\\\2", _LEADING_MARK.sub(r"\\\1", text))
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def code(value) -> str:
    """``value`` as an inline code span (for paths and ids): shown verbatim, never markup or HTML."""
    text = safe(value)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"
