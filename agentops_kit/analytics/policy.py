"""Policy-as-code: a YAML policy per agent, validated into typed objects (unknown keys, wrong types and
impossible values stop with the file, key and line)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..config import Strict, load_model
from ..errors import ConfigError


class Logging(Strict):
    trace_all_runs: bool = True
    store_retrieval_sources: bool = False
    retention_days: int | None = Field(default=None, gt=0)


class Provenance(Strict):
    """Require a human confirmation when an action's provenance is unclear (see provenance.py)."""

    require_documents: bool = True  # the run retrieved at least one document before acting
    require_versions: bool = True  # every document it retrieved has a version
    max_document_age_days: int | None = Field(default=None, gt=0)  # and none is older than this
    list_superseded: bool = True  # list actions on versions a later run shows were superseded


class Policy(Strict):
    name: str = Field(min_length=1)
    max_runtime_seconds: float | None = Field(default=None, gt=0)
    max_tool_calls: int | None = Field(default=None, ge=0)
    max_cost_usd: float | None = Field(default=None, ge=0)
    max_retries: int | None = Field(default=None, ge=0)
    tools_allowlist: list[str] | None = None
    actions_require_approval: list[str] = Field(default_factory=list)
    outbound_domains_allowlist: list[str] | None = None
    logging: Logging = Logging()
    provenance: Provenance | None = None
    source_file: str | None = Field(default=None, exclude=True)

    @field_validator("outbound_domains_allowlist")
    @classmethod
    def _domains(cls, value):
        if value is not None:
            for d in value:
                if "/" in d or " " in d or not d.strip("."):
                    raise ValueError(f"'{d}' is not a domain name (write example.com, without a scheme or path)")
        return value

    @model_validator(mode="after")
    def _distinct(self):
        dupes = {t for t in self.actions_require_approval if self.actions_require_approval.count(t) > 1}
        if dupes:
            raise ValueError(f"actions_require_approval lists {sorted(dupes)} more than once")
        return self


def load_policy(path: str | Path) -> Policy:
    policy = load_model(Path(path), Policy, root_key="agent")
    policy.source_file = str(path)
    return policy


def load_policies(sources) -> list[Policy]:
    """Policies from files, folders of *.yaml, Policy objects or dicts; one policy per agent name."""
    if isinstance(sources, (str, Path, Policy, dict)):
        sources = [sources]
    out: list[Policy] = []
    for src in sources:
        if isinstance(src, Policy):
            out.append(src)
        elif isinstance(src, dict):
            out.append(Policy.model_validate(src.get("agent", src)))
        elif Path(src).is_dir():
            files = sorted(Path(src).glob("*.y*ml"))
            if not files:  # checking nothing would pass every check
                raise ConfigError(str(src), "holds no policy files (*.yaml): nothing to check against")
            out += [load_policy(p) for p in files]
        else:
            out.append(load_policy(src))
    seen: dict[str, str | None] = {}
    for p in out:
        if p.name in seen:
            raise ConfigError(p.source_file or "<policy>", f"a second policy for agent '{p.name}' "
                              f"(the first is in {seen[p.name] or 'another object'})", key="agent.name")
        seen[p.name] = p.source_file
    return out
