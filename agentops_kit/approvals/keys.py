"""The audit key: a secret kept outside the database that the audit chain's HMACs are computed with.

Where it comes from, first found wins: the ``key=`` / ``key_file=`` arguments (``--key-file``), then
``$AGENTOPS_AUDIT_KEY`` (the key as hex), then ``$AGENTOPS_AUDIT_KEY_FILE``. A key is 32 or more random bytes
written as hex; ``agentops-kit approvals keygen --out FILE`` makes one. Rows name the key by its id (an HMAC of
a fixed text), never by the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidRequest

ENV_KEY = "AGENTOPS_AUDIT_KEY"
ENV_KEY_FILE = "AGENTOPS_AUDIT_KEY_FILE"
MIN_BYTES = 32


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    source: str  # where it was read from, for messages (never the key)

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"agentops-kit audit key id", hashlib.sha256).hexdigest()[:16]

    def mac(self, message: bytes) -> str:
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def parse_key(text: str, source: str) -> AuditKey:
    text = text.strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise InvalidRequest(f"audit key from {source} is not hex (expected {2 * MIN_BYTES} or more hex digits, "
                             "as `agentops-kit approvals keygen` writes)") from None
    if len(secret) < MIN_BYTES:
        raise InvalidRequest(f"audit key from {source} is {len(secret)} bytes; at least {MIN_BYTES} are needed")
    return AuditKey(secret, source)


def read_key_file(path: str | Path) -> AuditKey:
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise InvalidRequest(f"audit key file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"audit key file {path}: cannot be read ({exc.__class__.__name__})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidRequest(f"audit key file {path}: readable by other users (mode {stat.filemode(mode)}); "
                             f"run chmod 600 {path}")
    return parse_key(text, f"key file {path}")


def resolve_key(key: str | bytes | AuditKey | None = None, key_file: str | Path | None = None) -> AuditKey | None:
    if isinstance(key, AuditKey):
        return key
    if isinstance(key, bytes):
        if len(key) < MIN_BYTES:
            raise InvalidRequest(f"audit key is {len(key)} bytes; at least {MIN_BYTES} are needed")
        return AuditKey(key, "the key= argument")
    if isinstance(key, str):
        return parse_key(key, "the key= argument")
    if key_file is not None:
        return read_key_file(key_file)
    if os.environ.get(ENV_KEY):
        return parse_key(os.environ[ENV_KEY], f"${ENV_KEY}")
    if os.environ.get(ENV_KEY_FILE):
        return read_key_file(os.environ[ENV_KEY_FILE])
    return None


def generate_key(path: str | Path) -> AuditKey:
    """Write a new random key to ``path`` (created readable by its owner only; an existing file is refused)."""
    path = Path(path)
    secret = secrets.token_bytes(MIN_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidRequest(f"{path}: already exists; a key file is never overwritten (choose another name)") from None
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot be created ({exc.strerror})") from None
    with os.fdopen(fd, "w") as out:
        out.write(secret.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return AuditKey(secret, f"key file {path}")
