"""Errors that say what went wrong, where, and how to fix it.

Bad *data* (a malformed trace record) never raises: it is collected in ``TraceSet.rejected``.
Bad *configuration* or a missing input file stops with one of these.
"""

from __future__ import annotations


class AgentOpsError(Exception):
    """Root of every error the kit raises on purpose; its message names the file, the place and the problem.

    Example::

        >>> try:
        ...     ak.load_traces("exports/", mapping="my-mapping.yaml")
        ... except ak.AgentOpsError as exc:
        ...     print(exc)
        my-mapping.yaml: file not found
    """


class InputFileError(AgentOpsError):
    """An input path that does not exist, or cannot be read at all."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # pickled by its fields: the error of a Spark executor is raised again on the driver
        return (type(self), (self.path, self.problem))


class ConfigError(AgentOpsError):
    """A configuration file (mapping, pricing, labels, policy, ...) that is not valid.

    ``file``, ``key`` (dotted path inside the file) and ``line`` (1-based, when known) say where.
    """

    def __init__(self, file: str, problem: str, key: str | None = None, line: int | None = None):
        self.file = str(file)
        self.key = key
        self.line = line
        self.problem = problem
        where = self.file + (f", line {line}" if line else "") + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {problem}")


class UsageError(AgentOpsError, ValueError):
    """An argument out of range or of the wrong kind (a group-by column that does not exist, a week that
    is not an ISO week, ...). Also a ValueError, so callers that caught ValueError keep working."""
