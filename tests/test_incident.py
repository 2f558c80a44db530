"""`incident new | check`: a postmortem of a sample run, its generated policy test failing until the proposed
policy change is applied, and `incident check` passing only once the control change is named and caught."""

from __future__ import annotations

import re
import shutil
import subprocess

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from agentops_kit.cli import main

from .conftest import SAMPLE, TEMPLATES, otlp_line, otlp_span, write_lines

RUN = "8554905d6c2833af377c42282eacd260"  # SupportRefundAgent, labelled customer_impact; breaks no rule of its policy
LOAD = ["--traces", str(SAMPLE / "traces.otlp.jsonl.gz"), "--mapping", str(TEMPLATES / "mapping.yaml"),
        "--labels", str(SAMPLE / "labels.csv")]


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def name_the_change(postmortem, text="customer_email_send needs a human approval, as refunds do"):
    doc = postmortem.read_text()
    start = doc.index("**Control change:** TODO")
    end = doc.index("\n", start)
    postmortem.write_text(doc[:start] + f"**Control change:** {text}" + doc[end:])


@pytest.fixture
def policies(tmp_path):
    return shutil.copytree(TEMPLATES / "policies", tmp_path / "policies")


def test_a_postmortem_ends_in_a_control_change_that_holds_only_once_applied(tmp_path, policies):
    out = tmp_path / "incident"
    code, printed = cli("incident", "new", "--run", RUN, *LOAD, "--policy", policies, "--out", out)
    assert code == 0, printed
    assert "require a human approval before 'customer_email_send'" in printed
    assert "fails now, passes with the change" in printed
    assert "it would also flag 85 of 236 other runs of SupportRefundAgent" in printed  # as the README says
    doc = (out / "postmortem.md").read_text()
    sections = [line for line in doc.splitlines() if line.startswith("## ")]
    assert sections[-1] == "## Control change"
    for heading in ("## Timeline", "## What it saw and called", "## Cost", "## Policy violations", "## Approvals"):
        assert heading in sections
    # prefilled from the run: its steps in order, what it called with which input, its label, approval and cost
    assert doc.index("· order_lookup") < doc.index("· refund_request_submit") < doc.index("· customer_email_send")
    assert '{"to": "c-11763@example.com", "template": "refund_confirmation"}' in doc
    assert "| customer_impact | true | incident-review |" in doc
    assert "| refund_request_submit | approved | bob@example.com |" in doc
    assert "Total: $0.0008482 (source: pricing)" in doc
    assert "None: the run broke no rule of its policy" in doc
    # the generated policy test: this run, expecting the violation the change makes the policy find
    spec = yaml.safe_load((out / "policy_tests" / "incident.yaml").read_text())
    assert spec["cases"][0]["expect"] == ["unapproved_action"]
    assert {s["tool_name"] for s in spec["cases"][0]["steps"] if s["kind"] == "action"} == {
        "refund_request_submit", "customer_email_send"}
    diff = (out / "policy.diff").read_text()
    assert "-  actions_require_approval: [refund_request_submit]\n" in diff
    assert "+  actions_require_approval: [refund_request_submit, customer_email_send]\n" in diff

    # not done: the control change is still the placeholder (and the test fails)
    code, printed = cli("incident", "check", out)
    assert code == 1 and printed.count("\n") == 1 and "no control change named" in printed
    name_the_change(out / "postmortem.md")
    # named, but no policy catches the run yet
    code, printed = cli("policy", "test", out / "policy_tests")
    assert code == 1 and "expected ['unapproved_action'], got []" in printed
    code, printed = cli("incident", "check", out)
    assert code == 1 and printed.count("\n") == 1 and "the incident's policy test fails" in printed

    policy = policies / "support_refund_agent.yaml"
    subprocess.run(["patch", "--quiet", str(policy), str(out / "policy.diff")], check=True)
    assert "# Policy of the SupportRefundAgent" in policy.read_text()  # the user's comments are kept
    code, printed = cli("policy", "test", out / "policy_tests")
    assert code == 0, printed
    code, printed = cli("incident", "check", out)
    assert code == 0 and printed.startswith("PASS") and printed.count("\n") == 1


def test_a_postmortem_is_never_overwritten_and_an_unknown_run_is_one_line(tmp_path, policies):
    out = tmp_path / "incident"
    assert cli("incident", "new", "--run", RUN, *LOAD, "--policy", policies, "--out", out)[0] == 0
    before = (out / "postmortem.md").read_text()
    code, printed = cli("incident", "new", "--run", RUN, *LOAD, "--policy", policies, "--out", out)
    assert code == 2 and printed == f"error: {out / 'postmortem.md'} exists: nothing written (pass force=True / --force to replace it)\n"
    assert (out / "postmortem.md").read_text() == before
    code, printed = cli("incident", "new", "--run", "nope", *LOAD, "--out", tmp_path / "other")
    assert code == 2 and printed.startswith("error: run 'nope' is not in the traces given (616 runs") and printed.count("\n") == 1
    assert not (tmp_path / "other").exists()
    code, printed = cli("incident", "check", tmp_path / "other")
    assert code == 2 and printed.startswith("error: ") and "postmortem.md: file not found" in printed


def test_trace_text_is_shown_never_rendered_and_a_new_policy_is_proposed_when_there_is_none(tmp_path):
    hostile = "[pay here](javascript:alert(1)) <script>alert(1)</script> **urgent**\n```\n# not a heading"
    attrs = {"gen_ai.agent.name": {"stringValue": "Evil<b>Agent</b>"},
             "agentops.workflow": {"stringValue": "refunds"}, "agentops.outcome": {"stringValue": "failure"}}
    tool = {"gen_ai.tool.name": {"stringValue": "wire_transfer"}, "agentops.step.kind": {"stringValue": "action"},
            "gen_ai.tool.call.arguments": {"stringValue": hostile}, "gen_ai.tool.call.result": {"stringValue": "y" * 2500}}
    llm = {"gen_ai.operation.name": {"stringValue": "chat"}, "gen_ai.request.model": {"stringValue": "no-such-model"},
           "gen_ai.usage.input_tokens": {"intValue": "120"}, "gen_ai.usage.output_tokens": {"intValue": "30"}}
    traces = write_lines(tmp_path / "t.jsonl", [otlp_line(
        otlp_span(span_id="1" * 16, name="run", attrs=attrs),
        otlp_span(span_id="3" * 16, parent="1" * 16, name="chat", attrs=llm),
        otlp_span(span_id="2" * 16, parent="1" * 16, name="execute_tool wire_transfer", attrs=tool,
                  status={"code": 2, "message": "boom"}))])
    out = tmp_path / "incident"
    code, printed = cli("incident", "new", "--run", "a" * 32, "--traces", traces, "--out", out)
    assert code == 0, printed
    doc = (out / "postmortem.md").read_text()
    # shown as written inside a code block its backticks cannot close; escaped everywhere else
    assert "````text\n[pay here](javascript:alert(1)) <script>alert(1)</script> **urgent**\n```\n# not a heading\n````" in doc
    prose = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1$", "", doc)
    assert "<script>" not in prose and "<b>" not in prose and "](javascript" not in prose
    assert "# Postmortem: run `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` of Evil&lt;b&gt;Agent&lt;/b&gt;" in doc
    assert "Not checked: no policy names this agent" in doc
    assert "y" * 2000 + "\n… (500 more characters in the trace)\n" in doc and "y" * 2001 not in doc
    # a cost that cannot be known is said so, with how many steps, never $0
    assert "| cost | unknown (1 step of unknown cost) |" in doc
    assert "Total: unknown: 1 step of unknown cost" in doc
    # no policy given: the proposal is a new policy file for the agent, as a diff from nothing
    diff = (out / "policy.diff").read_text()
    assert diff.startswith(f"--- /dev/null\n+++ {out / 'evil_b_agent_b.policy.yaml'}\n")
    name_the_change(out / "postmortem.md", "wire_transfer needs a human approval")
    code, printed = cli("incident", "check", out)
    assert code == 1 and "does not exist yet — apply the policy change" in printed  # the test names a policy to be
    subprocess.run(["patch", "--quiet", str(out / "evil_b_agent_b.policy.yaml"), str(out / "policy.diff")], check=True)
    code, printed = cli("incident", "check", out)
    assert code == 0, printed


def test_the_notebook_writes_the_same_postmortem_as_the_command(tmp_path, policies, sample_store):
    import papermill as pm

    from agentops_kit.report.kernel import SlicedPollKernelManager

    from .conftest import ROOT

    assert cli("incident", "new", "--run", RUN, *LOAD, "--policy", policies, "--out", tmp_path / "cli")[0] == 0
    notebook = ROOT / "agentops_kit" / "notebooks" / "incident.ipynb"
    pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), cwd=str(tmp_path), progress_bar=False,
                        kernel_manager_class=SlicedPollKernelManager, execution_timeout=300, parameters={
                            "sample": False, "traces": [str(SAMPLE / "traces.otlp.jsonl.gz")],
                            "mapping": str(TEMPLATES / "mapping.yaml"), "labels": [str(SAMPLE / "labels.csv")],
                            "policies": str(policies), "run_id": RUN, "out": str(tmp_path / "nb")})

    for name in ("postmortem.md", "policy.diff", "policy_tests/incident.yaml"):
        assert same_postmortem(tmp_path / "nb", name) == same_postmortem(tmp_path / "cli", name), name

    # from a trace store: the notebook's store parameter, as `incident new --store`
    assert cli("incident", "new", "--run", RUN, "--store", sample_store, "--policy", policies,
               "--out", tmp_path / "cli_store")[0] == 0
    pm.execute_notebook(str(notebook), str(tmp_path / "out_store.ipynb"), cwd=str(tmp_path), progress_bar=False,
                        kernel_manager_class=SlicedPollKernelManager, execution_timeout=300, parameters={
                            "sample": False, "store": str(sample_store), "policies": str(policies), "run_id": RUN,
                            "out": str(tmp_path / "nb_store")})
    for name in ("postmortem.md", "policy.diff", "policy_tests/incident.yaml"):
        assert same_postmortem(tmp_path / "nb_store", name) == same_postmortem(tmp_path / "cli_store", name), name


def same_postmortem(folder, name, inputs=True):
    """A file of the postmortem in ``folder``, without what differs from run to run: when and where it was written
    (and with ``inputs=False``, what it was read from)."""
    text = (folder / name).read_text().replace(str(folder), "OUT")
    text = re.sub(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", "on DATE", text)
    return text if inputs else re.sub(r"(?m)^(Prefilled by .* on DATE) from .*$", r"\1 from INPUTS", text)


@pytest.fixture
def sample_store(tmp_path):
    """The sample ingested into a trace store, with the mapping and labels the --traces runs above are given."""
    store = tmp_path / "store"
    code, printed = cli("ingest", SAMPLE / "traces.otlp.jsonl.gz", "--into", store, "--mapping",
                        TEMPLATES / "mapping.yaml", "--labels", SAMPLE / "labels.csv")
    assert code == 0, printed
    return store


def test_a_postmortem_from_a_store_is_the_one_from_the_traces(tmp_path, policies, sample_store):
    assert cli("incident", "new", "--run", RUN, *LOAD, "--policy", policies, "--out", tmp_path / "traces")[0] == 0
    code, printed = cli("incident", "new", "--run", RUN, "--store", sample_store, "--policy", policies,
                        "--out", tmp_path / "store_out")
    assert code == 0, printed
    assert "it would also flag 85 of 236 other runs of SupportRefundAgent" in printed
    doc = (tmp_path / "store_out" / "postmortem.md").read_text()
    assert f"from `{sample_store} (store.json commit 1)`" in doc  # where it was read from, named
    assert "| customer_impact | true | incident-review |" in doc  # the labels ingested into the store
    for name in ("postmortem.md", "policy.diff", "policy_tests/incident.yaml"):
        assert (same_postmortem(tmp_path / "store_out", name, inputs=False)
                == same_postmortem(tmp_path / "traces", name, inputs=False)), name

    # --weeks: only those weeks are read; a run stored in another week is named with its week, in one line
    from agentops_kit import open_store
    from agentops_kit.weeks import iso_week

    week = open_store(sample_store).runs.filter(pl.col("run_id") == RUN).select(iso_week()).collect().item()
    code, printed = cli("incident", "new", "--run", RUN, "--store", sample_store, "--weeks", week, "--policy", policies,
                        "--out", tmp_path / "one_week")
    assert code == 0, printed
    assert "other runs of SupportRefundAgent" in printed and "of 236 other runs" not in printed  # that week's only
    other = "2026-W30"
    code, printed = cli("incident", "new", "--run", RUN, "--store", sample_store, "--weeks", other,
                        "--out", tmp_path / "nothing")
    assert code == 2 and printed.count("\n") == 1, printed
    assert f"the store holds it in week {week}, which was not read: add that week to --weeks" in printed
    assert not (tmp_path / "nothing").exists()
    # a store's runs were assembled when ingested: what would change them is refused, as are both sources or none
    for extra, says in ((["--store", sample_store, "--labels", SAMPLE / "labels.csv"], "--labels cannot be used with --store"),
                        (["--store", sample_store, *LOAD[:2]], "give either the traces (exports) or --store STORE"),
                        ([], "give either the traces (exports) or --store STORE"),
                        ([*LOAD, "--weeks", week], "--weeks reads weeks of a store")):
        code, printed = cli("incident", "new", "--run", RUN, *extra, "--out", tmp_path / "refused")
        assert code == 2 and printed.count("\n") == 1 and says in printed, printed
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize("edit, says", [
    (lambda doc: re.sub(r"(?m)^\*\*Control change:\*\* TODO.*$", "**Control change:**   ", doc), "no control change named"),
    (lambda doc: doc.replace("**Control change:** TODO", "**Control change:**"), "no control change named"),
    (lambda doc: doc[:doc.index("**Control change:**")], "no control change named"),
    (lambda doc: doc + "\n## Follow-ups\n\nrevisit in a month\n", "the last section must be '## Control change'"),
], ids=["empty", "todo-removed", "line-removed", "not-last"])
def test_check_fails_in_one_line_until_the_control_change_is_named(tmp_path, edit, says):
    from agentops_kit.incident import check_incident

    out = tmp_path / "incident"
    assert cli("incident", "new", "--run", RUN, *LOAD, "--out", out)[0] == 0
    doc = out / "postmortem.md"
    doc.write_text(edit(doc.read_text()))
    result = check_incident(out)
    assert not result.ok and says in result.message and "\n" not in result.message
