"""A store on object storage, read by its URL from a real S3 server (moto's, on 127.0.0.1): the same tables,
metrics and CLI output as the local store it was copied from; writes refused; bad URLs one line each."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import agentops_kit as ak
from agentops_kit.store import StoreError, ingest, open_store, store_files, store_weeks
from agentops_kit.store.housekeeping import compact, info, prune
from agentops_kit.store.layout import COMMIT
from agentops_kit.store.objstore import cloud_options
from agentops_kit.store.spark_read import _why_s3, spark_read_options, spark_read_parquet, spark_url

from .conftest import s3a_submit_args
from .test_store import LABELS, MAPPING, TRACES, assert_same, split_by_spans, tables

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BUCKET = "agent-traces"
URL = f"s3://{BUCKET}/team/store"
CLI = Path(sys.executable).with_name("agentops-kit")


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free loopback port, for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_environ(endpoint: str) -> dict[str, str]:
    """What a user sets to read a bucket on an S3-compatible server (no instance metadata is ever asked)."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def s3(s3_endpoint):
    """The test process's environment pointed at the server (as the user's would be), and an s3fs client."""
    import s3fs

    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_environ(s3_endpoint).items():
            patch.setenv(name, value)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=s3_endpoint)
        fs.mkdir(BUCKET)
        yield fs


def upload(fs, store: Path, url: str, skip: tuple[str, ...] = ()) -> None:
    """Copy a local store up as the README says: every part first, the commit document last (not the lock or
    a temporary commit)."""
    files = sorted(p for p in store.rglob("*") if p.is_file())
    for path in files:
        name = path.relative_to(store).as_posix()
        if name != COMMIT and not name.startswith(".") and name not in skip:
            fs.put_file(str(path), f"{url}/{name}")
    if COMMIT not in skip:
        fs.put_file(str(store / COMMIT), f"{url}/{COMMIT}")


@pytest.fixture(scope="module")
def local(tmp_path_factory, s3):
    store = tmp_path_factory.mktemp("objstore") / "store"
    ingest(TRACES, into=store, mapping=MAPPING, labels=LABELS)
    upload(s3, store, URL)
    return store


def run_cli(*args: str, env: dict[str, str], code: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed command (or ``code`` in a fresh interpreter), in an environment of exactly ``env`` beside
    PATH and HOME."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    command = [sys.executable, "-c", code, *args] if code else [str(CLI), *args]
    return subprocess.run(command, env={**base, **env}, capture_output=True, text=True, timeout=timeout)


def test_a_store_read_by_its_url_holds_what_the_local_store_holds(local):
    assert_same(open_store(URL), open_store(local))
    assert_frame_equal(open_store(URL).rejected.collect(), open_store(local).rejected.collect())
    weeks = ["2026-W46", "2026-W47"]
    assert_same(open_store(URL, weeks=weeks), open_store(local, weeks=weeks))
    for agents in (["SupportRefundAgent"], "SocAlertTriage"):
        assert_same(open_store(URL, weeks=weeks, agents=agents), open_store(local, weeks=weeks, agents=agents))
    assert store_weeks(URL) == store_weeks(local)
    urls = store_files(URL, "steps", weeks=weeks)
    assert [u.removeprefix(URL + "/") for u in urls] == [
        Path(p).relative_to(local).as_posix() for p in store_files(local, "steps", weeks=weeks)]
    facts, here = info(URL), info(local)
    assert facts.pop("store") == URL and here.pop("store") == str(local)
    assert facts == here and facts["runs"] == 616


@pytest.mark.parametrize("engine", ["polars", "duckdb", "spark"])
def test_weekly_metrics_over_the_url_equal_those_over_the_local_store(local, engine, request):
    if engine == "spark":  # Spark scans the parts through Hadoop's S3A connector, set up from the environment
        request.getfixturevalue("s3a_jars")
        engine = request.getfixturevalue("spark")
    weeks = ["2026-W45", "2026-W46", "2026-W47"]
    remote = open_store(URL, weeks=weeks)
    assert remote.files and all(f.startswith(URL + "/") for f in remote.files["steps"])  # DuckDB and Spark scan these
    over_url = ak.weekly_metrics(remote, by=("agent", "week"), engine=engine)
    over_folder = ak.weekly_metrics(open_store(local, weeks=weeks), by=("agent", "week"), engine=engine)
    assert over_url.height > 0
    if isinstance(engine, str):
        assert_frame_equal(over_url, over_folder)
    else:  # Spark adds the partial sums of its tasks in the order they end
        assert_frame_equal(over_url, over_folder, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert_frame_equal(over_url, ak.weekly_metrics(open_store(local, weeks=weeks), by=("agent", "week")),
                       check_exact=False, rel_tol=1e-9, abs_tol=1e-9)  # and the default engine's numbers


def test_the_review_of_a_store_read_by_url_is_that_of_the_local_store(local):
    from agentops_kit.report import WeeklyReview

    remote, here = WeeklyReview.from_store(URL, "2026-W47"), WeeklyReview.from_store(local, "2026-W47")
    assert_frame_equal(remote.metrics, here.metrics)
    (commit,) = remote.inputs.traces
    assert commit.path == f"{URL}/{COMMIT}" and commit.sha256 == here.inputs.traces[0].sha256


def test_the_cli_reads_a_store_by_its_url(local, s3_endpoint):
    env = s3_environ(s3_endpoint)
    by_url = run_cli("metrics", "--store", URL, "--weeks", "2026-W46..2026-W47", "--format", "csv", env=env)
    assert by_url.returncode == 0, by_url.stderr
    by_folder = run_cli("metrics", "--store", str(local), "--weeks", "2026-W46..2026-W47", "--format", "csv",
                        env=env)
    # (the CLI sums on polars' streaming engine, whose order of adding floats varies from run to run)
    read = [pl.read_csv(r.stdout.encode(), infer_schema_length=None) for r in (by_url, by_folder)]
    assert_frame_equal(*read, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    assert read[0].height > 3
    said = run_cli("store", "info", URL, env=env)
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith(f"store: {URL}   commit 1") and "runs: 616" in said.stdout


def test_the_cli_on_spark_reads_a_store_by_its_url_with_the_s3a_connector_and_says_when_it_is_missing(
        local, s3_endpoint, s3a_jars):
    env = s3_environ(s3_endpoint)
    command = ("metrics", "--store", URL, "--by", "agent,week", "--format", "csv")
    on_spark = ("--engine", "spark", "--spark-master", "local[1]")
    # the endpoint, keys and region reach S3A from the environment: Spark is given the connector (and the
    # settings the tests' older connector needs), nothing else; the default credential chain of Spark's Hadoop
    # names classes that connector lacks, so the credentials provider the kit sets is what makes the read work
    spark = run_cli(*command, *on_spark, env={**env, "PYSPARK_SUBMIT_ARGS": s3a_submit_args(s3a_jars)})
    assert spark.returncode == 0, spark.stderr[-2000:]
    polars = run_cli(*command, env=env)
    read = [pl.read_csv(r.stdout.encode(), infer_schema_length=None) for r in (spark, polars)]
    assert read[0].height > 3
    assert_frame_equal(*read, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    without = run_cli(*command, *on_spark, env=env)
    import pyspark

    hadoop = next(Path(pyspark.__file__).parent.glob("jars/hadoop-client-api-*.jar")).stem.rpartition("-")[2]
    assert without.returncode == 2 and without.stdout == ""
    last = without.stderr.strip().splitlines()[-1]  # (Spark's own start-up warnings come before it)
    assert last.startswith(f"error: {URL}/runs: Spark cannot") and "Traceback" not in without.stderr
    assert f"Spark cannot read s3a:// without Hadoop's S3A connector: start it with --packages " \
           f"org.apache.hadoop:hadoop-aws:{hadoop}" in last
    # a connector built for another Hadoop: said so, with the one to use
    misfit = run_cli(*command, *on_spark, env={**env, "PYSPARK_SUBMIT_ARGS": f"--jars {','.join(map(str, s3a_jars))} "
                                                                               "pyspark-shell"})
    last = misfit.stderr.strip().splitlines()[-1]
    assert misfit.returncode == 2 and "Traceback" not in misfit.stderr, misfit.stderr[-2000:]
    assert f"Spark's S3A connector does not fit its Hadoop {hadoop} (" in last
    assert last.endswith(f"start it with --packages org.apache.hadoop:hadoop-aws:{hadoop} (the version of Spark's "
                         "Hadoop; e.g. in PYSPARK_SUBMIT_ARGS)")


def test_what_spark_cannot_read_is_one_line_naming_the_file(spark, tmp_path):
    table = tmp_path / "runs.parquet"
    pl.DataFrame({"run_id": ["r1"]}).write_parquet(table)
    gone = tmp_path / "gone.parquet"
    with pytest.raises(StoreError, match=rf"^{gone}: Spark cannot read it \(.*PATH_NOT_FOUND.*\)$"):
        spark_read_parquet(spark, [str(table), str(gone)])
    assert spark_read_parquet(spark, [str(table)]).count() == 1


def test_s3_failures_in_spark_say_what_to_check(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    no_jvm = object()  # (a Spark Connect session has none: the version is named as VERSION)
    denied = ("java.nio.file.AccessDeniedException: s3a://b/store/runs/p.parquet: getFileStatus on "
              "s3a://b/store/runs/p.parquet: software.amazon.awssdk.services.s3.model.S3Exception: Forbidden")
    assert _why_s3(denied, no_jvm) == (
        "Spark was refused (java.nio.file.AccessDeniedException: s3a://b/store/runs/p.parquet: getFileStatus on "
        "s3a://b/store/runs/p.parquet: software.amazon.awssdk.services.s3.model.S3Exception: Forbidden): check the "
        "credentials in the environment and the bucket's policy")
    unreachable = "org.apache.hadoop.net.ConnectTimeoutException: connect timed out " + "and retried " * 40
    said = _why_s3(unreachable, no_jvm)
    assert said.startswith("Spark cannot reach it (org.apache.hadoop.net.ConnectTimeoutException: connect timed")
    assert said.endswith(" …); AWS_ENDPOINT_URL is http://127.0.0.1:9") and len(said) < 300
    assert "hadoop-aws:VERSION (the version of Spark's Hadoop: pyspark/jars/hadoop-client-api-VERSION.jar" in \
        _why_s3('No FileSystem for scheme "s3a"', no_jvm)


def test_keys_in_a_profile_reach_polars_duckdb_spark_and_the_cli(local, s3_endpoint, monkeypatch, tmp_path, spark,
                                                                  s3a_jars):
    profile = tmp_path / "credentials"
    profile.write_text("[team]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = {**s3_environ(s3_endpoint), "AWS_PROFILE": "team", "AWS_SHARED_CREDENTIALS_FILE": str(profile),
           "AWS_CONFIG_FILE": str(tmp_path / "no-config")}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del env[name]
        monkeypatch.delenv(name)
    for name in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, env[name])
    options = cloud_options("s3")  # polars and S3A do not read profiles themselves: the kit gives them the keys
    assert options.polars["aws_access_key_id"] == options.hadoop["fs.s3a.access.key"] == "testing"
    weeks = ["2026-W46", "2026-W47"]
    expected = ak.weekly_metrics(open_store(local, weeks=weeks), by=("agent", "week"))
    for engine in ("polars", "duckdb", spark):
        got = ak.weekly_metrics(open_store(URL, weeks=weeks), by=("agent", "week"), engine=engine)
        assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    said = run_cli("metrics", "--store", URL, "--weeks", "2026-W47", env=env)
    assert said.returncode == 0 and "SupportRefundAgent" in said.stdout, said.stderr
    said = run_cli("metrics", "--store", URL, env={**env, "AWS_PROFILE": "nobody"})
    assert said.returncode == 2 and said.stderr.count("\n") == 1, said.stderr
    assert said.stderr.startswith(f"error: {profile}: AWS profile 'nobody' cannot be read (")


def test_copying_the_parts_first_and_the_commit_last_switches_readers_at_once(s3, tmp_path):
    first, second = split_by_spans(TRACES, tmp_path)  # every trace has spans in both: the second ingest
    store, url = tmp_path / "store", f"s3://{BUCKET}/growing/store"  # rewrites the runs of every week
    ingest(first, into=store, mapping=MAPPING)
    upload(s3, store, url)
    before = tables(open_store(url))
    ingest(second, into=store, mapping=MAPPING)
    upload(s3, store, url, skip=(COMMIT,))  # the new parts are up, the commit not yet: readers see the old one
    assert all(tables(open_store(url))[t].equals(before[t]) for t in before)
    s3.put_file(str(store / COMMIT), f"{url}/{COMMIT}")
    assert_same(open_store(url), open_store(store))
    assert not tables(open_store(url))["steps"].equals(before["steps"])


def test_writing_into_a_url_is_refused_in_one_line(local, s3_endpoint, tmp_path):
    for write in (lambda: ingest(TRACES, into=URL, mapping=MAPPING), lambda: compact(URL),
                  lambda: prune(URL, older_than=dt.timedelta(days=90), reason="test")):
        with pytest.raises(StoreError, match="read by its URL, not written.*parts first and store.json last"):
            write()
    for command in (["ingest", str(TRACES), "--into", URL], ["store", "prune", URL, "--older-than", "90d"],
                    ["collect", "--into", URL, "--port", "0"]):
        said = run_cli(*command, env=s3_environ(s3_endpoint), timeout=120)
        assert said.returncode == 2 and said.stderr.count("\n") == 1 and "aws s3 sync" in said.stderr, command
        assert "(`flock STORE/.lock sh -c 'aws s3 sync STORE" in said.stderr
        assert said.stdout == "" and not Path("s3:").exists()


def test_bad_urls_are_one_line_each(local, s3, s3_endpoint, tmp_path):
    (tmp_path / "notes.txt").write_text("not a store")
    s3.put_file(str(tmp_path / "notes.txt"), f"s3://{BUCKET}/elsewhere/notes.txt")
    upload(s3, local, f"s3://{BUCKET}/half", skip=(COMMIT,))  # parts copied, the commit not yet
    missing_part = next(p for p in sorted((local / "steps").rglob("*.parquet")))
    upload(s3, local, f"s3://{BUCKET}/holed", skip=(missing_part.relative_to(local).as_posix(),))
    cases = {
        "s3://no-such-bucket/store": r"s3://no-such-bucket/store: no such bucket 'no-such-bucket'",
        f"s3://{BUCKET}/nothing/here": rf"s3://{BUCKET}/nothing/here: no store here: nothing is stored under this URL",
        f"s3://{BUCKET}/elsewhere": rf"s3://{BUCKET}/elsewhere: is not a store: it has no store.json and holds notes.txt",
        f"s3://{BUCKET}/half": rf"s3://{BUCKET}/half: is not a store yet: it has no store.json",
        f"s3://{BUCKET}/holed": rf"s3://{BUCKET}/holed/steps/.*{missing_part.name}: is missing",
        "s3://": r"s3://: expected a URL such as s3://bucket/path/store",
    }
    for url, message in cases.items():
        with pytest.raises(StoreError, match=message):
            open_store(url).steps.collect()
    env = s3_environ(s3_endpoint)
    for url in ("s3://no-such-bucket/store", f"s3://{BUCKET}/nothing/here"):
        said = run_cli("metrics", "--store", url, env=env)
        assert said.returncode == 2 and said.stderr.count("\n") == 1 and said.stderr.startswith(f"error: {url}: ")
    said = run_cli("store", "info", f"s3://{BUCKET}/holed", env=env)  # not "all is well" over a missing part
    assert said.returncode == 2 and said.stderr.count("\n") == 1 and f"{missing_part.name}: is missing" in said.stderr
    # no credentials anywhere (no variables, no files, no instance metadata): one line saying what to set
    bare = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    said = run_cli("store", "info", URL, env=bare)
    assert said.returncode == 2 and said.stderr.count("\n") == 1 and "no credentials" in said.stderr, said.stderr
    # without s3fs installed: the install line
    code = ("import sys; sys.modules['s3fs'] = None; from agentops_kit.cli import main; "
            "sys.argv = ['agentops-kit', *sys.argv[1:]]; main()")
    said = run_cli("store", "info", URL, env=env, code=code)
    assert said.returncode == 2 and said.stderr.count("\n") == 1, said.stderr
    assert "pip install 'agentops-kit[cloud]'" in said.stderr


def test_one_place_turns_the_environment_into_s3fs_polars_and_s3a_options(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    fs, polars, hadoop = cloud_options("s3")
    assert fs == {"key": "id", "secret": "secret", "endpoint_url": "http://127.0.0.1:9000",
                  "client_kwargs": {"region_name": "eu-west-3"}}
    assert polars == {"aws_access_key_id": "id", "aws_secret_access_key": "secret",
                      "aws_endpoint_url": "http://127.0.0.1:9000", "aws_allow_http": "true", "aws_region": "eu-west-3"}
    assert hadoop == {"fs.s3a.access.key": "id", "fs.s3a.secret.key": "secret",
                      "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                      "fs.s3a.endpoint": "http://127.0.0.1:9000", "fs.s3a.path.style.access": "true",
                      "fs.s3a.connection.ssl.enabled": "false", "fs.s3a.endpoint.region": "eu-west-3"}
    assert spark_read_options(["s3://bucket/store/p.parquet"]) == hadoop
    assert spark_read_options(["/data/store/p.parquet", "file:///data/store/q.parquet"]) == {}
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://s3.eu-west-3.amazonaws.com")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert cloud_options("s3a").hadoop == {
        "fs.s3a.access.key": "id", "fs.s3a.secret.key": "secret", "fs.s3a.session.token": "token",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
        "fs.s3a.endpoint": "https://s3.eu-west-3.amazonaws.com", "fs.s3a.path.style.access": "true"}
    assert cloud_options("gs") == ({}, {}, {})
    assert spark_url("s3://bucket/store/runs/week=2026-W47/p.parquet") == "s3a://bucket/store/runs/week=2026-W47/p.parquet"
    assert spark_url("/Volumes/ops/store/p.parquet") == "/Volumes/ops/store/p.parquet"
