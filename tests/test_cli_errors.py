"""Every command, over a table of bad inputs: exit 2, exactly one line on stderr naming what and where, and
never a traceback. Most rows run through click's CliRunner; a few run the installed `agentops-kit` script in
a real process, so that what reaches a terminal is checked too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from agentops_kit.cli import main
from agentops_kit.model import TABLE_SCHEMAS

from .conftest import PG_BASE, SAMPLE, TEMPLATES

EXE = Path(sys.executable).with_name("agentops-kit")
S = str(SAMPLE / "traces.otlp.jsonl.gz")
POLICIES = str(TEMPLATES / "policies")
INVENTORY = str(TEMPLATES / "inventory.csv")
NO_DB = "postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/agentops_no_such_db"



@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder of bad inputs, as the current directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTOPS_APPROVALS_DB", raising=False)
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine\n")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "badpol.yaml").write_text("agent:\n  name: X\n  max_tool_calls: -1\n")
    (tmp_path / "broken.yaml").write_text("agent: [1, 2\n")
    (tmp_path / "unknownkey.yaml").write_text("nope: 1\n")
    (tmp_path / "badinv.csv").write_text("workflow,owner\nrefunds,ann\n")
    (tmp_path / "legacy").mkdir()  # what agentops-kit 0.1 left: loose tables, here only one of them
    pl.DataFrame(schema=TABLE_SCHEMAS["runs"]).write_parquet(tmp_path / "legacy" / "runs.parquet")
    from agentops_kit.approvals import ApprovalQueue

    ApprovalQueue("sqlite:///ap.db").close()  # an empty store: the rows below ask it for requests it lacks
    return tmp_path


# (args, what the one line must say); "{pg}" is a fresh PostgreSQL schema holding one pending request "{id}"
ROWS = [
    # ingest
    (["ingest", "missing.jsonl", "--out", "out"], r"missing\.jsonl: no such file or directory"),
    (["ingest", "missing.jsonl", "--out", "afile"], r"afile: exists and is not a folder"),  # before the load
    (["ingest", S, "--out", "foreign"], r"foreign: is a folder that is not a table set \(it holds notes\.txt\)"),
    (["ingest", S, "--out", "/proc/agentops/tables"], r"/proc/agentops/tables: cannot be written in /proc"),
    (["ingest", S, "--out", "out", "--mapping", "unknownkey.yaml"], r"unknownkey\.yaml, line 1, key 'nope'"),
    (["ingest", S, "--out", "out", "--pricing", "missing.yaml"], r"missing\.yaml: file not found"),
    (["ingest", S, "--out", "out", "--labels", "missing.csv"], r"missing\.csv: .*not found"),
    (["ingest", S, "--out", "out", "--input-format", "xml"], r"'xml'"),
    (["ingest", "nomatch*.jsonl", "--out", "out"], r"nomatch\*\.jsonl: no file matches this pattern"),
    (["ingest", "empty.jsonl", "--out", "out"], r"the traces hold no runs .*nothing written to out"),
    (["ingest", "legacy", "--out", "out"], r"legacy: unlisted tables: runs\.parquet without a manifest\.json"),
    (["ingest", S], r"ingest: give either --out DIR \(a table set\) or --into STORE"),
    # the trace store
    (["ingest", S, "--into", "afile"], r"afile: exists and is not a folder"),
    (["ingest", S, "--into", "foreign"], r"foreign: is not a store: it has no store\.json and holds notes\.txt"),
    (["ingest", S, "--into", "st", "--out", "out"], r"ingest: give either --out DIR"),
    (["metrics", "--store", "missing"], r"missing: no such store folder"),
    (["metrics", "--store", "emptydir"], r"emptydir: is not a store yet"),
    (["metrics", S, "--weeks", "2026-W47"], r"metrics: --weeks reads weeks of a store"),
    (["policy", "check", "badpol.yaml", "--store", "foreign"], r"foreign: is not a store"),
    (["report", "weekly", "--out", "r"], r"weekly report: give either the traces \(--traces\) or a store"),
    (["store", "info", "missing"], r"missing: no such store folder"),
    (["store", "compact", "afile"], r"afile: is a file, not a store folder"),
    (["store", "prune", "emptydir", "--older-than", "soon"], r"age 'soon': expected a number of days or weeks"),
    (["store", "prune", "emptydir"], r"store prune: give either --older-than AGE or --policy POLICIES"),
    # metrics
    (["metrics", "missing.jsonl"], r"missing\.jsonl: no such file or directory"),
    (["metrics", S, "--by", "colour"], r"cannot group by \['colour'\]: choose from agent, workflow"),
    (["metrics", S, "--format", "xml"], r"metrics: Invalid value for '--format': 'xml'"),
    (["metrics", "empty.jsonl"], r"metrics: the traces hold no runs"),
    (["metrics", "legacy"], r"legacy: unlisted tables: runs\.parquet .* agentops-kit ingest EXPORTS\.\.\. --out legacy"),
    (["metrics", S, "--baselines", "unknownkey.yaml"], r"unknownkey\.yaml, line 1, key 'nope'"),
    (["metrics", "foreign"], r"foreign: no input files found"),
    # policy check / lint / test
    (["policy", "check", "missing.yaml", "--traces", S], r"missing\.yaml: file not found"),
    (["policy", "check", "badpol.yaml", "--traces", S], r"badpol\.yaml, line 3, key 'agent\.max_tool_calls'"),
    (["policy", "check", "broken.yaml", "--traces", S], r"broken\.yaml, line 2: is not valid YAML"),
    (["policy", "check", POLICIES, "--traces", "empty.jsonl"], r"policy check: the traces hold no runs"),
    (["policy", "check", "emptydir", "--traces", S], r"emptydir: holds no policy files"),
    (["policy", "check", POLICIES], r"policy check: give either the traces \(exports\) or --store STORE"),
    (["policy", "check", POLICIES, "--traces", S, "--approvals-db", "notaurl"], r"notaurl"),
    (["policy", "check", POLICIES, "--traces", S, "--approvals-db", "sqlite:///typo.db"], r"no approvals store at .*typo\.db"),
    (["policy", "lint", "missing.yaml"], r"missing\.yaml: file not found"),
    (["policy", "lint", "broken.yaml"], r"broken\.yaml, line 2: is not valid YAML"),
    (["policy", "lint", "badpol.yaml"], r"badpol\.yaml, line 3, key 'agent\.max_tool_calls': .*greater than or equal to 0"),
    (["policy", "lint", "emptydir"], r"emptydir: holds no policy files"),
    (["policy", "lint", "afile"], r"afile, key 'agent'"),
    (["policy", "test", "missing.yaml"], r"missing\.yaml: file not found"),
    (["policy", "test", "badpol.yaml"], r"badpol\.yaml, key 'policy'"),
    (["policy", "test", "emptydir"], r"emptydir: holds no policy test files"),
    # report weekly
    (["report", "weekly", "--traces", S, "--week", "2026-W47", "--out", "afile"], r"afile"),
    (["report", "weekly", "--traces", S, "--policy", "missing"], r"Invalid value for '--policy': .*'missing'"),
    (["report", "weekly", "--traces", S, "--week", "2026-47", "--out", "r"], r"2026-47"),
    (["report", "weekly", "--traces", "missing.jsonl", "--week", "2026-W47", "--out", "r"], r"missing\.jsonl: no such file"),
    (["report", "weekly", "--traces", S, "--week", "2026-W47", "--out", "r", "--weeks-back", "0"], r"'--weeks-back'"),
    (["report", "weekly", "--traces", "empty.jsonl", "--week", "2026-W47", "--out", "r"], r"no runs"),
    (["report", "weekly", "--traces", S, "--week", "2026-W30", "--out", "r"], r"2026-W30"),
    # inventory score
    (["inventory", "score", "missing.csv"], r"missing\.csv: inventory file not found"),
    (["inventory", "score", "badinv.csv"], r"badinv\.csv: 8 problem\(s\): missing required column 'runs_per_week'; "),
    (["inventory", "score", "emptydir"], r"emptydir: is a folder"),
    (["inventory", "score", INVENTORY, "--weights", "unknownkey.yaml"], r"unknownkey\.yaml, line 1, key 'nope'"),
    (["inventory", "score", INVENTORY, "--save", "notaurl"], r"inventory store 'notaurl': not a database URL"),
    (["inventory", "score", INVENTORY, "--save", "foo://x"], r"inventory store foo://x: unknown database kind"),
    (["inventory", "score", INVENTORY, "--save", NO_DB], r"postgres:\*\*\*@.*database \"agentops_no_such_db\" does not exist"),
    (["inventory", "score", INVENTORY, "--save", "{pg}", "--label", "q" * 250], r"inventory store .*: value too long"),
    (["inventory", "score", INVENTORY, "--format", "xml"], r"Invalid value for '--format'"),
    # sample, demo
    (["sample", "afile"], r"afile: exists and is not a folder"),
    (["sample", "out", "--seed", "abc"], r"Invalid value for '--seed': 'abc' is not a valid integer"),
    (["demo", "--out", "afile", "--no-report"], r"afile/tables: cannot be created: afile is a file"),
    # approvals
    pytest.param(["approvals", "list", "--db", "notaurl"], r"notaurl"),
    (["approvals", "list", "--db", "sqlite:///nodir/x.db"], r"no approvals store at sqlite:///nodir/x\.db"),
    (["approvals", "list", "--db", NO_DB], r"database \"agentops_no_such_db\" does not exist"),
    (["approvals", "list", "--db", "sqlite:///ap.db", "--approvers", "missing.yaml"], r"missing\.yaml: file not found"),
    (["approvals", "list"], r"Missing option '--db'"),
    (["approvals", "show", "nope", "--db", "sqlite:///ap.db"], r"no approval request with id nope"),
    (["approvals", "approve", "nope", "--as", "me", "--db", "sqlite:///ap.db"], r"no approval request with id nope"),
    (["approvals", "reject", "nope", "--as", "me", "--db", "sqlite:///ap.db"], r"Missing option '--reason'"),
    (["approvals", "reject", "nope", "--as", "me", "--reason", "r", "--db", "sqlite:///ap.db"],
     r"no approval request with id nope"),
    pytest.param(["approvals", "verify", "--db", "sqlite:///typo.db"], r"typo\.db"),
    (["approvals", "export", "afile/audit.csv", "--db", "sqlite:///ap.db"], r"afile/audit\.csv"),
    pytest.param(["approvals", "approve", "{id}", "--as", "x" * 250, "--db", "{pg}"], r""),
    # the group itself
    (["nosuchcommand"], r"No such command 'nosuchcommand'"),
]


@pytest.fixture
def pg_queue():
    """A fresh PostgreSQL schema holding one pending approval request: (url, request id)."""
    import sqlalchemy as sa

    from agentops_kit.approvals import ApprovalQueue

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with ApprovalQueue(url) as queue:
        request = queue.submit(agent="SupportRefundAgent", run_id="r1", action="refund_request_submit",
                               params={"order": "O-1"}, requested_by="svc-agent")
    yield url, request.id
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def one_line_error(result, expect: str) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and re.search(expect, lines[0]), lines[0]
    for sql in ("SELECT ", "INSERT ", "UPDATE ", "[SQL", "[parameters"):
        assert sql not in lines[0]
    return lines[0]


def row_id(value) -> str:
    if not isinstance(value, list):
        return ""
    short = {S: "SAMPLE", POLICIES: "POLICIES", INVENTORY: "INVENTORY", NO_DB: "NO_DB"}
    return " ".join(short.get(a, a) for a in value)[:70]


@pytest.mark.parametrize("args, expect", ROWS, ids=row_id)
def test_bad_input_is_one_line_and_exit_2(workdir, request, args, expect):
    if any("{pg}" in a or "{id}" in a for a in args):
        url, request_id = request.getfixturevalue("pg_queue")
        args = [a.replace("{pg}", url).replace("{id}", request_id) for a in args]
    line = one_line_error(CliRunner().invoke(main, args), expect)
    assert "s3cret" not in line
    assert (workdir / "afile").read_text() == "keep me\n"  # refused outputs are left as they were
    assert not (workdir / "typo.db").exists()  # verify must not create the database it was asked to check
    assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())


def test_ingest_refuses_its_output_before_reading_anything(workdir):
    """The error names the output, not the missing export: nothing was loaded first."""
    result = CliRunner().invoke(main, ["ingest", "missing.jsonl", "--out", "afile"])
    assert "missing.jsonl" not in one_line_error(result, r"^error: afile: exists and is not a folder")


def test_an_empty_export_keeps_the_tables_already_there(workdir):
    assert CliRunner().invoke(main, ["ingest", S, "--out", "tables"]).exit_code == 0
    one_line_error(CliRunner().invoke(main, ["ingest", "empty.jsonl", "--out", "tables"]), "no runs")
    from agentops_kit import TraceSet

    assert TraceSet.read_parquet(workdir / "tables").runs.collect().height == 616


@pytest.mark.parametrize("args, expect", [
    (["ingest", "missing.jsonl", "--out", "afile"], r"afile: exists and is not a folder"),
    (["metrics", S, "--by", "colour"], r"cannot group by"),
    (["metrics", "legacy"], r"legacy: unlisted tables"),
    (["policy", "lint", "broken.yaml"], r"broken\.yaml, line 2"),
    (["inventory", "score", INVENTORY, "--save", "notaurl"], r"not a database URL"),
    (["approvals", "show", "nope", "--db", "sqlite:///ap.db"], r"no approval request with id nope"),
    (["nosuchcommand"], r"agentops-kit: No such command 'nosuchcommand'"),
])
def test_the_installed_command_prints_one_line(workdir, args, expect):
    done = subprocess.run([str(EXE), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(expect, lines[0]), done.stderr
