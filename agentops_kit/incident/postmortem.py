"""`incident new`: a postmortem of one run, prefilled from its traces, that ends in a control change.

Writes into DIR: ``postmortem.md`` (from ``templates/postmortem.md``), ``policy_tests/incident.yaml`` (the
run as a policy test case, expecting what the proposed change makes the policy find) and ``policy.diff``
(the proposed change of the policy file, unified). Each file is published whole (written aside, then renamed);
an existing postmortem is never overwritten unless asked.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..analytics.policy import Policy, load_policies
from ..analytics.policy_tests import run_policy_tests
from ..errors import ConfigError, InputFileError, UsageError
from ..report.markdown import code, md
from ..resources import template
from . import markdown as m
from .control import (
    Candidate,
    candidates,
    changed,
    measure,
    policy_text,
    rules,
    test_case,
    test_file_text,
    unified_diff,
)
from .facts import RunFacts, run_facts

POSTMORTEM = "postmortem.md"
TEST_FILE = Path("policy_tests") / "incident.yaml"
DIFF = "policy.diff"
CONTROL_HEADING = "## Control change"
CONTROL_LINE = "**Control change:**"
PLACEHOLDER = "TODO"
GUIDANCE = "name the control that keeps this from happening again"  # the placeholder's words, TODO removed or not
_SLOT = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class Incident:
    """What ``new_incident`` wrote, and the control change it proposes."""

    out: Path
    run_id: str
    agent: str | None
    proposal: Candidate | None
    candidates: list[Candidate] = field(default_factory=list)
    policy_file: str | None = None
    fails_now: bool | None = None  # the generated test fails under the policy as it is
    passes_with_change: bool | None = None  # ... and passes once the proposed change is applied
    expect: list[str] = field(default_factory=list)  # the rules the generated test expects

    @property
    def postmortem(self) -> Path:
        return self.out / POSTMORTEM

    @property
    def test_file(self) -> Path:
        return self.out / TEST_FILE

    @property
    def diff(self) -> Path:
        return self.out / DIFF

    def markdown(self) -> str:
        return self.postmortem.read_text(encoding="utf-8")

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def summary(self) -> str:
        lines = [f"postmortem of run {self.run_id} written to {self.postmortem}"]
        if self.proposal is not None:
            lines.append(f"proposed control change: {self.proposal.why} (policy {self.policy_file}; "
                         f"{self.diff}); it would also flag {self.proposal.other_runs_flagged} of "
                         f"{self.proposal.other_runs} other runs of {self.agent}")
            lines.append(f"policy test {self.test_file}: fails now, passes with the change"
                         if self.fails_now and self.passes_with_change else
                         f"policy test {self.test_file}: fails now {self.fails_now}, passes with the change "
                         f"{self.passes_with_change}")
        else:
            lines.append("no policy change found that catches the run: name the control change yourself")
        lines.append(f"then: fill the TODO sections, and `agentops-kit incident check {self.out}`")
        return "\n".join(lines)


def _policy_for(policies, agent: str | None, out: Path) -> tuple[Policy, str, str | None]:
    """(the agent's policy, its file, its text) — or a new empty policy and where its file would go."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", agent or "agent").strip("_").lower() or "agent"
    if policies is None:
        return Policy(name=agent or "agent"), str(out / f"{slug}.policy.yaml"), None
    found = [p for p in load_policies(policies) if p.name == agent]
    if found and found[0].source_file:
        path = found[0].source_file
        return found[0], path, Path(path).read_text(encoding="utf-8")
    folder = Path(policies) if isinstance(policies, (str, os.PathLike)) and Path(policies).is_dir() else out
    return Policy(name=agent or "agent"), str(folder / f"{slug}.yaml"), None


def _publish(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fill(template_text: str, slots: dict[str, str], where: str) -> str:
    def one(hit: re.Match) -> str:
        if hit.group(1) not in slots:
            raise ConfigError(where, f"unknown placeholder {{{{{hit.group(1)}}}}}: expected one of {', '.join(slots)}")
        return slots[hit.group(1)]

    body = _SLOT.sub(one, template_text)
    last = [line for line in body.splitlines() if line.startswith("## ")]
    if not last or last[-1].strip() != CONTROL_HEADING:
        raise ConfigError(where, f"the template's last section must be '{CONTROL_HEADING}' (holding {{{{control_change}}}})")
    return body


def _verify(case: dict, policy: Policy, old_text: str | None, new_text: str, facts) -> tuple[bool, bool]:
    """Run the generated case as ``policy test`` would: under the policy file as it is, and as changed."""
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for text in (old_text, new_text):
            folder = Path(tempfile.mkdtemp(dir=tmp))
            (folder / "policy.yaml").write_text(text if text is not None else
                                                yaml.safe_dump({"agent": {"name": policy.name}}), encoding="utf-8")
            (folder / "test.yaml").write_text(test_file_text("policy.yaml", case, facts, "check"), encoding="utf-8")
            results.append(all(r.passed for r in run_policy_tests(folder / "test.yaml")))
    return not results[0], results[1]


def control_section(incident: Incident, facts: RunFacts, diff_text: str | None, test_ref: str) -> str:
    lead = (f"{CONTROL_LINE} {PLACEHOLDER} — {GUIDANCE} (a policy rule, "
            "an approval gate, a cap, a stop), not \"we'll improve the prompt\". Replace this line; "
            "`agentops-kit incident check` passes once it is replaced and the policy test below passes.")
    if incident.proposal is None:
        return (lead + "\n\nThe kit found no policy change that would have caught this run"
                + ("" if facts.policy is not None else " (no policy was given)") + ". Name the control change, and add "
                "a case to your policy tests that expects it to catch this run.")
    p = incident.proposal
    check = ("checked when written: it fails under the policy as it is, and passes with the change"
             if incident.fails_now and incident.passes_with_change else
             f"checked when written: fails under the policy as it is: {incident.fails_now}; passes with the change: "
             f"{incident.passes_with_change}")
    rows = [f"| {md(c.why)} | {code(c.key + ': ' + str(c.value))} | {md(c.rule)} | "
            f"{c.other_runs_flagged} of {c.other_runs} |" for c in incident.candidates]
    return "\n".join([
        lead, "",
        "The kit proposes one, made concrete:", "",
        f"- **Proposed change**: {md(p.why)} — policy rule {code(p.rule)}, in {code(incident.policy_file)}: "
        f"the unified diff {code(DIFF)} (apply it with {code(f'patch {incident.policy_file} {incident.out / DIFF}')}).",
        f"- **Policy test**: {code(test_ref)} holds this run as a case that expects the policy to find "
        f"{code(', '.join(incident.expect))}; {code(f'agentops-kit policy test {incident.out / TEST_FILE.parent}')} "
        f"fails until a policy catches the run ({check}).",
        f"- It would also flag {p.other_runs_flagged} of the {p.other_runs} other runs of this agent in the traces "
        "given (each is a run to look at: a cap that flags many normal runs is a cap nobody will keep).",
        "", "Changes that would have caught the run, the most severe rule first, then the fewest other runs flagged:", "",
        "| change | policy | rule | other runs flagged |", "|---|---|---|---|", *rows,
        "", "The proposed diff:", "", m.fenced(diff_text or "", "diff"),
    ])


SLOTS = ("title", "generated", "summary", "labels", "timeline", "calls", "cost", "violations", "approvals", "cause",
         "control_change")


def check_inputs(out, force: bool = False, template_file=None, policies=None) -> tuple[Path, Path]:
    """(the output folder, the template), once they and the policies are usable: called before traces are
    loaded, so that a postmortem already there, an output that is a file, a template without the control
    change last or a bad policy file is refused before any work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputFileError(str(out), "is a file: expected a folder for the postmortem")
    if (out / POSTMORTEM).exists() and not force:
        raise UsageError(f"{out / POSTMORTEM} exists: nothing written (pass force=True / --force to replace it)")
    tpl = Path(template_file) if template_file else template(POSTMORTEM)
    if not tpl.is_file():
        raise InputFileError(str(tpl), "file not found")
    _fill(tpl.read_text(encoding="utf-8"), dict.fromkeys(SLOTS, ""), str(tpl))
    if policies is not None:
        load_policies(policies)
    return out, tpl


def new_incident(ts, run_id: str, out, policies=None, approvals: pl.DataFrame | None = None, force: bool = False,
                 labels_given: bool = True, template_file=None) -> Incident:
    """Write the postmortem of run ``run_id`` (in the TraceSet ``ts``) into the folder ``out``.

    ``policies``: the policy file or folder holding the run's agent's policy (violations, and the file the
    proposed change is written against); ``approvals``: decisions of an approvals store (``queue.decisions()``).
    """
    out, tpl = check_inputs(out, force, template_file, policies)
    agent = ts.runs.filter(pl.col("run_id") == run_id).select("agent").collect()
    if not agent.height:
        run_facts(ts, run_id, None)  # raises, naming what the traces hold
    policy, policy_file, old_text = _policy_for(policies, agent.item(0, 0), out)
    facts = run_facts(ts, run_id, policy if old_text is not None else None, approvals, labels_given)
    incident = Incident(out, run_id, facts.agent, None, policy_file=policy_file)
    diff_text = None
    test_ref = str(TEST_FILE)
    files: dict[Path, str] = {}
    # candidates are measured against the agent's policy, or a new, empty one for it
    found = measure(ts, facts, policy, candidates(facts, policy))
    incident.candidates = found
    if found:
        proposal = found[0]
        incident.proposal = proposal
        note = f"after incident run {run_id}"
        new_text = policy_text(old_text, policy, proposal, note)
        diff_text = unified_diff(old_text, new_text, policy_file)
        one = ts.only_runs(pl.LazyFrame({"run_id": [run_id]}))
        incident.expect = sorted(rules(one, changed(policy, proposal)))
        case = test_case(facts, incident.expect)
        incident.fails_now, incident.passes_with_change = _verify(case, policy, old_text, new_text, facts)
        # as given: an absolute path stays absolute, a relative one is made relative to the test file
        ref = policy_file if Path(policy_file).is_absolute() else os.path.relpath(
            Path(policy_file).resolve(), (out / TEST_FILE.parent).resolve())
        files[out / TEST_FILE] = test_file_text(ref, case, facts, proposal.why)
        files[out / DIFF] = diff_text
    slots = {
        "title": f"run {code(run_id)} of {md(facts.agent)}",
        "generated": (f"Prefilled by `agentops-kit incident new` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
                      f"from {', '.join(code(i) for i in facts.inputs) or 'traces given in memory'}."),
        "summary": m.summary(facts.run, facts.rows.filter(pl.col("cost_source") == "unknown").height),
        "labels": m.labels(facts.labels, labels_given),
        "timeline": m.timeline(facts.rows),
        "calls": m.calls(facts.rows, facts.sources),
        "cost": m.cost(facts.run, facts.rows),
        "violations": m.violations(facts.violations, facts.policy.source_file if facts.policy else None),
        "approvals": m.approvals(facts.trace_approvals, facts.store_approvals),
        "cause": m.cause(facts.cause),
        "control_change": control_section(incident, facts, diff_text, test_ref),
    }
    files[out / POSTMORTEM] = _fill(tpl.read_text(encoding="utf-8"), slots, str(tpl))
    for path, text in files.items():
        _publish(path, text)
    return incident
