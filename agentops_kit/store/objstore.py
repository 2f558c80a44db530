"""A store on object storage, read by its URL (``s3://bucket/path/store``), never written there.

The commit document (``store.json``) and the sizes of the parts it lists are read through fsspec (s3fs for
``s3://``); the parts are scanned by polars natively, by DuckDB through the same fsspec filesystem registered
on its connection, and by Spark through Hadoop's S3A connector (``s3a://``). One function, ``cloud_options``,
turns the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, a profile's keys)
into the options of s3fs, polars and Hadoop's S3A (given with each Spark read, ``spark_read.py``), so that
they read the same bucket the same way.

A store's writes rely on ``rename(2)`` and a POSIX lock, which object storage has not: ingest, compact and
prune are refused for a URL (``layout.store_path``). A store is filled in a local folder and copied up, the
parts first and ``store.json`` last: one PUT of that object is the moment readers switch to the new commit.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from .layout import COMMIT, StoreError, commit_doc, is_ours, part_name, read_commit, store_path

CLOUD_EXTRA = "pip install 'agentops-kit[cloud]'"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://(.*)$")
S3_SCHEMES = ("s3", "s3a")


def is_object_url(store: str | os.PathLike | ObjectStore) -> bool:
    """True for a URL of another scheme than ``file://`` (``s3://bucket/store``)."""
    if isinstance(store, ObjectStore):
        return True
    match = _URL.match(os.fspath(store))
    return match is not None and match[1].lower() != "file"


class CloudOptions(NamedTuple):
    """How each reader is told the environment's credentials, endpoint and region: fsspec filesystem arguments
    (s3fs), polars ``storage_options``, and Hadoop S3A settings for a Spark read."""

    fsspec: dict[str, Any]
    polars: dict[str, str]
    hadoop: dict[str, str]


def cloud_options(scheme: str) -> CloudOptions:
    """The environment as the options of s3fs, polars and Hadoop's S3A for ``scheme``: the one place they are
    made. Keys not in the environment but in a profile (``AWS_PROFILE``, the shared credentials and config
    files) are read once with botocore and given to all three, since polars' and S3A's own lookups miss
    profiles; anything else (instance roles) is left to each library's own lookup."""
    if scheme.lower() not in S3_SCHEMES:
        return CloudOptions({}, {}, {})
    env = {**os.environ}
    if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        env.update(_profile_keys(env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"),
                                 env.get("AWS_SHARED_CREDENTIALS_FILE"), env.get("AWS_CONFIG_FILE")))
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    fs: dict[str, Any] = {}
    polars: dict[str, str] = {}
    hadoop: dict[str, str] = {}
    for var, fs_key, polars_key, hadoop_key in (
            ("AWS_ACCESS_KEY_ID", "key", "aws_access_key_id", "fs.s3a.access.key"),
            ("AWS_SECRET_ACCESS_KEY", "secret", "aws_secret_access_key", "fs.s3a.secret.key"),
            ("AWS_SESSION_TOKEN", "token", "aws_session_token", "fs.s3a.session.token")):
        if env.get(var):
            fs[fs_key] = polars[polars_key] = hadoop[hadoop_key] = env[var]
    if "fs.s3a.access.key" in hadoop and "fs.s3a.secret.key" in hadoop:  # these keys, not S3A's provider chain
        hadoop["fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider" if "fs.s3a.session.token" in hadoop
            else "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider")
    if endpoint:
        fs["endpoint_url"] = polars["aws_endpoint_url"] = hadoop["fs.s3a.endpoint"] = endpoint
        hadoop["fs.s3a.path.style.access"] = "true"  # as botocore addresses a bucket on an endpoint it is given
        if endpoint.lower().startswith("http://"):
            polars["aws_allow_http"] = "true"  # an S3-compatible server without TLS (MinIO, a test server)
            hadoop["fs.s3a.connection.ssl.enabled"] = "false"
    if region:
        fs["client_kwargs"] = {"region_name": region}
        polars["aws_region"] = region
        hadoop["fs.s3a.endpoint.region"] = region
    return CloudOptions(fs, polars, hadoop)


@functools.lru_cache(maxsize=8)
def _profile_keys(profile: str | None, credentials_file: str | None, config_file: str | None) -> dict[str, str]:
    """The keys of the profile botocore would use, as environment variables; none when there is no profile (or
    no botocore), and never an instance's or a container's role, whose keys expire and are each host's own."""
    files = [Path(f).expanduser() for f in (credentials_file or "~/.aws/credentials", config_file or "~/.aws/config")]
    if not profile and not any(f.exists() for f in files):
        return {}  # nothing to read: botocore would go on to ask the instance metadata service
    try:
        import botocore.session

        found = botocore.session.Session(profile=profile).get_credentials()
    except ImportError:
        return {}
    except Exception as exc:  # a profile named that is not there, a malformed file
        raise StoreError(str(files[0]), f"AWS profile {profile or 'default'!r} cannot be read ({exc})") from None
    if found is None or found.method in ("iam-role", "container-role", "env"):
        return {}
    keys = found.get_frozen_credentials()
    out = {"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key}
    return out | ({"AWS_SESSION_TOKEN": keys.token} if keys.token else {})


class ObjectStore:
    """A store named by its URL: ``url`` (no trailing slash), the fsspec filesystem that reads it and the polars
    ``storage_options`` for its parts. The sizes of the files listed are kept for the life of this object (one
    open of the store)."""

    def __init__(self, url: str):
        match = _URL.match(url.rstrip("/"))
        if not match or not match[2].split("/")[0]:
            raise StoreError(url, "expected a URL such as s3://bucket/path/store")
        self.url = url.rstrip("/")
        self.scheme = match[1].lower()
        self.bucket = match[2].split("/")[0]
        options = cloud_options(self.scheme)
        self.storage_options = options.polars
        self.fs = _filesystem(self.url, self.scheme, options.fsspec)
        self._listed: dict[str, dict[str, int]] = {}

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def file(self, name: str) -> str:
        return f"{self.url}/{name}"

    def read(self, name: str) -> bytes:
        """The bytes of the store's file ``name``; StoreError naming the URL and the problem."""
        try:
            return self.fs.cat_file(self.file(name))
        except Exception as exc:
            raise StoreError(self.file(name), problem(exc, self)) from None

    def size(self, name: str) -> int | None:
        """The size of the store's file ``name`` (None: there is none), from one listing of its folder."""
        folder, _, base = name.rpartition("/")
        if folder not in self._listed:
            try:
                found = self.fs.ls(self.file(folder) if folder else self.url, detail=True, refresh=True)
            except FileNotFoundError:
                found = []
            except Exception as exc:
                raise StoreError(self.file(folder), problem(exc, self)) from None
            self._listed[folder] = {str(e["name"]).rstrip("/").rpartition("/")[2]: int(e.get("size") or 0)
                                    for e in found if e.get("type") == "file"}
        return self._listed[folder].get(base)

    def names(self) -> list[str]:
        """The names at the top of the store's URL (empty when nothing is stored under it)."""
        try:
            return sorted(str(p).rstrip("/").rpartition("/")[2] for p in self.fs.ls(self.url, detail=False, refresh=True))
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise StoreError(self.url, problem(exc, self)) from None


def _filesystem(url: str, scheme: str, options: dict[str, Any]):
    try:
        import fsspec
    except ImportError:
        raise StoreError(url, f"a store read by URL needs fsspec and s3fs: {CLOUD_EXTRA}") from None
    try:
        return fsspec.filesystem(scheme, **options)
    except ImportError as exc:
        fix = CLOUD_EXTRA if scheme in S3_SCHEMES else f"install fsspec's {scheme}:// filesystem ({exc})"
        raise StoreError(url, f"a {scheme}:// store is read through fsspec, which needs a package for it: {fix}") \
            from None
    except ValueError as exc:  # fsspec knows no such protocol
        raise StoreError(url, f"{scheme}:// is not a storage fsspec can read ({exc}): give a path or an s3:// "
                              "URL") from None


def problem(exc: BaseException, store: ObjectStore) -> str:
    """What went wrong reading object storage, as the end of one line."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return ("no credentials for object storage: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                "AWS_PROFILE) in the environment")
    if isinstance(exc, FileNotFoundError) and "bucket does not exist" in text.lower():
        return f"no such bucket {store.bucket!r} (check the URL, and AWS_ENDPOINT_URL for a server other than AWS)"
    if isinstance(exc, PermissionError):
        return f"access denied ({text}): {problem_hint('denied')}"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ConnectionError") \
            or isinstance(exc, ConnectionError):
        return f"cannot reach the object storage ({text}){problem_hint('unreachable')}"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    return f"cannot be read ({name}: {text})"


def problem_hint(kind: str) -> str:
    """What to check when object storage refused (``denied``) or could not be reached (``unreachable``)."""
    if kind == "denied":
        return "check the credentials in the environment and the bucket's policy"
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return f"; AWS_ENDPOINT_URL is {endpoint}" if endpoint else ""


def store_location(store: str | os.PathLike | ObjectStore) -> Path | ObjectStore:
    """Where a store is read from: its folder (a path or a ``file://`` URL), or its URL on object storage."""
    if isinstance(store, ObjectStore):
        return store
    if is_object_url(store):
        return ObjectStore(os.fspath(store))
    return store_path(store)


def read_store_commit(where: Path | ObjectStore) -> dict:
    """The current commit of the store at ``where`` (a folder or a URL), checked for shape."""
    if isinstance(where, Path):
        return read_commit(where)
    try:
        text = where.fs.cat_file(where.file(COMMIT))
    except FileNotFoundError as exc:
        if "bucket does not exist" in str(exc).lower():
            raise StoreError(where.url, problem(exc, where)) from None
        names = where.names()
        if not names:
            raise StoreError(where.url, f"no store here: nothing is stored under this URL (give the URL of the folder "
                                        f"a store was copied to, the one holding its {COMMIT})") from None
        foreign = [n for n in names if not is_ours(n)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise StoreError(where.url, f"is not a store: it has no {COMMIT} and holds {shown}") from None
        raise StoreError(where.url, f"is not a store yet: it has no {COMMIT} (copy the store's parts first and "
                                    f"its {COMMIT} last)") from None
    except Exception as exc:
        raise StoreError(where.file(COMMIT), problem(exc, where)) from None
    return commit_doc(where.file(COMMIT), text)


def checked_urls(where: ObjectStore, entries: list[dict]) -> list[str]:
    """The URLs of ``entries``, each checked to be there with the size the commit lists."""
    urls = []
    for entry in entries:
        name = part_name(where.file(COMMIT), entry)
        size = where.size(name)
        if size is None:
            raise StoreError(where.file(name), f"is missing: the store's {COMMIT} lists it (copy the parts before "
                                               f"the {COMMIT} that lists them)")
        if size != entry["bytes"]:
            raise StoreError(where.file(name), f"has {size} bytes, the store's {COMMIT} lists {entry['bytes']}: it "
                                               "is not the file that commit wrote (copy the store again)")
        urls.append(where.file(name))
    return urls


def url_schemes(paths: list[str]) -> set[str]:
    """The schemes of the URLs among ``paths``, lower-cased (``file`` left out: those are paths)."""
    return {m[1].lower() for p in paths if (m := _URL.match(p)) and m[1].lower() != "file"}


def register_filesystems(connection, paths: list[str]) -> None:
    """Register on a DuckDB connection the fsspec filesystem of every URL in ``paths`` (DuckDB's httpfs
    extension is not needed: DuckDB reads through fsspec)."""
    schemes = url_schemes(paths)
    if not schemes:
        return
    registered = set(connection.list_filesystems())
    for scheme in sorted(schemes):
        fs = _filesystem(f"{scheme}://", scheme, cloud_options(scheme).fsspec)
        names = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)  # DuckDB names it by the first
        if not names & registered:
            connection.register_filesystem(fs)
            registered |= names
