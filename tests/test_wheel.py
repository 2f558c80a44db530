"""The kit as a user gets it: the sdist and the wheel built from this checkout, the wheel installed into a
fresh virtual environment outside the clone, and the main job run from a folder outside it too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import agentops_kit as ak

from .conftest import ROOT

# what must ship, besides the Python modules (paths inside the package)
SHIPPED = ["templates/mapping.yaml", "templates/pricing.yaml", "templates/policies/support_refund_agent.yaml",
           "templates/schedules/weekly-report.cron", "notebooks/weekly_review.ipynb", "notebooks/approvals.ipynb",
           "data/sample/traces.otlp.jsonl.gz", "data/sample/labels.csv", "data/inventory.csv",
           "report/templates/agentops_offline/index.html.j2", "schemas/canonical.schema.json"]
NATIVE = ["_native/otlp_columns.c", "_native/json_text.c", "_native/json_text.h", "_native/arrow_export.c",
          "_native/arrow_export.h", "_native/columns.h", "_native/yyjson/yyjson.c", "_native/yyjson/yyjson.h"]


def run(*args, cwd: Path, timeout: float = 900) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _source_copy(dest: Path) -> Path:
    """The checkout without what is local to it (venv, build output), so the build leaves the clone untouched."""
    junk = shutil.ignore_patterns(".git", ".venv", "build", "dist", "out", "reports", "test-artifacts", "*.egg-info",
                                  "__pycache__", "*.so", "*.db", ".ipynb_checkpoints")
    return Path(shutil.copytree(ROOT, dest, ignore=junk))


@pytest.mark.slow
def test_the_wheel_runs_the_main_job_outside_the_checkout(tmp_path):
    assert not tmp_path.resolve().is_relative_to(ROOT)
    dist = tmp_path / "dist"
    # `python -m build` makes the sdist, then builds the wheel FROM the sdist: so the sdist must compile the decoder
    run(sys.executable, "-m", "build", "--outdir", dist, _source_copy(tmp_path / "src"), cwd=tmp_path)
    [sdist] = dist.glob("agentops_kit-*.tar.gz")
    [wheel] = dist.glob("agentops_kit-*.whl")
    assert sdist.name == f"agentops_kit-{ak.__version__}.tar.gz"

    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"LICENSE", "pyproject.toml", "README.md"} <= in_sdist
    assert {f"agentops_kit/{f}" for f in SHIPPED + NATIVE} <= in_sdist, "the sdist misses files"
    assert any(n.startswith("agentops_kit/data/pricing/bundled-") for n in in_sdist)

    with zipfile.ZipFile(wheel) as whl:
        in_wheel = set(whl.namelist())
    assert {f"agentops_kit/{f}" for f in SHIPPED} <= in_wheel, "the wheel misses files"
    assert any(re.fullmatch(r"agentops_kit/_otlp_columns\..*\.so", n) for n in in_wheel), "no compiled decoder"
    assert any(n.startswith("agentops_kit/data/pricing/bundled-") for n in in_wheel)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in in_wheel)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run(bin_dir / "pip", "install", "--quiet", "--find-links", dist, f"agentops-kit=={ak.__version__}", cwd=tmp_path)

    work = tmp_path / "work"  # a user's folder: no checkout above it
    work.mkdir()
    assert run(bin_dir / "agentops-kit", "--version", cwd=work).strip() == f"agentops-kit, version {ak.__version__}"
    where = run(bin_dir / "python", "-c", "import agentops_kit, agentops_kit.readers.otlp_fast as f; "
                "print(agentops_kit.__file__); print(f.native is not None)", cwd=work).split()
    assert Path(where[0]).is_relative_to(env_dir) and where[1] == "True"  # the installed copy, compiled decoder

    out = run(bin_dir / "agentops-kit", "demo", "--out", "out/demo", cwd=work)
    demo = work / "out" / "demo"
    for name in ("tables/manifest.json", "agentops.db", "reports/weekly-2026-W47.html",
                 "reports/weekly-2026-W47.ipynb", "reports/weekly-2026-W47.md", "reports/weekly-2026-W47.png"):
        assert (demo / name).stat().st_size > 0, name
    assert "runs: 616" in out and "3 pending requests" in out
    read_back = "import agentops_kit as ak; print(ak.TraceSet.read_parquet('out/demo/tables').runs.collect().height)"
    assert run(bin_dir / "python", "-c", read_back, cwd=work).strip() == "616"  # the table set, read by the wheel
    assert re.search(r"completion \d+\.\d%", (demo / "reports" / "weekly-2026-W47.md").read_text())

    run(bin_dir / "agentops-kit", "init", "proj", cwd=work)
    run(bin_dir / "agentops-kit", "report", "weekly", "--traces", "proj/data/sample/traces.otlp.jsonl.gz",
        "--labels", "proj/data/sample/labels.csv", "--policy", "proj/templates/policies",
        "--pricing", "proj/templates/pricing.yaml", "--week", "2026-W47", "--out", "r", cwd=work)
    digest = (work / "r" / "weekly-2026-W47.md").read_text()
    assert re.search(r"\*\*SupportRefundAgent\*\* \(36 runs\): completion \d+\.\d%", digest), digest
    prices = next(line for line in digest.splitlines() if line.startswith("Prices: ")).replace("\\", "")
    assert prices == f"Prices: {work / 'proj/templates/pricing.yaml'}; no price for mistral-large-2411"
    html = (work / "r" / "weekly-2026-W47.html").read_text()
    assert "Weekly" in html and "<script src=\"http" not in html
