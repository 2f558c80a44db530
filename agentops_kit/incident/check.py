"""`incident check DIR`: a postmortem is done when its last section names the control change and the policy
test generated from the incident run passes (a policy now catches the run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analytics.policy_tests import PolicyTestFile, run_policy_tests
from ..config import load_model
from ..errors import InputFileError
from .postmortem import CONTROL_HEADING, CONTROL_LINE, GUIDANCE, PLACEHOLDER, POSTMORTEM, TEST_FILE


@dataclass(frozen=True)
class IncidentCheck:
    ok: bool
    message: str  # one line: what holds, or the first thing that does not and how to fix it

    def __bool__(self) -> bool:
        return self.ok


def control_change(text: str) -> str | None:
    """The control change the postmortem names, or None (no such section last, no line, or the placeholder)."""
    sections = [i for i, line in enumerate(text.splitlines()) if line.startswith("## ")]
    lines = text.splitlines()
    if not sections or lines[sections[-1]].strip() != CONTROL_HEADING:
        return None
    for line in lines[sections[-1] + 1:]:
        if line.strip().startswith(CONTROL_LINE):
            named = line.strip()[len(CONTROL_LINE):].strip()
            return None if not named or named.startswith(PLACEHOLDER) or GUIDANCE in named else named
    return None


def check_incident(directory) -> IncidentCheck:
    """Whether the postmortem in ``directory`` is done; InputFileError when there is no postmortem there."""
    folder = Path(directory)
    doc = folder / POSTMORTEM
    if not doc.is_file():
        raise InputFileError(str(doc), "file not found: expected a folder written by `agentops-kit incident new`")
    text = doc.read_text(encoding="utf-8")
    headings = [line.strip() for line in text.splitlines() if line.startswith("## ")]
    if not headings or headings[-1] != CONTROL_HEADING:
        return IncidentCheck(False, f"{doc}: the last section must be '{CONTROL_HEADING}' "
                                    f"(found '{headings[-1] if headings else 'no section'}')")
    if control_change(text) is None:
        return IncidentCheck(False, f"{doc}, section '{CONTROL_HEADING[3:]}': no control change named — write the "
                                    f"change you make on its '{CONTROL_LINE}' line (missing, empty or still {PLACEHOLDER})")
    tests = folder / TEST_FILE
    if not tests.is_file():
        return IncidentCheck(False, f"{tests}: no policy test of the incident run — add a case to your policy "
                                    "tests that expects the control change to catch it, and keep it here")
    named = load_model(tests, PolicyTestFile).policy  # a broken file stops with the line and key
    if not (tests.parent / named).is_file():
        return IncidentCheck(False, f"{tests}: the policy it tests, {tests.parent / named}, does not exist yet — "
                                    f"apply the policy change ({folder / 'policy.diff'}) to create it")
    failed = [r for r in run_policy_tests(tests) if not r.passed]
    if failed:
        r = failed[0]
        return IncidentCheck(False, f"{tests}: the incident's policy test fails (expected {r.expected}, got "
                                    f"{r.got}): apply the policy change ({folder / 'policy.diff'}) or another "
                                    "that catches the run")
    return IncidentCheck(True, f"{folder}: the control change is named and its policy test passes")
