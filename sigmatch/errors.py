"""The one exception tree of sigmatch.

::

    SigmatchError                      base: every error sigmatch raises on purpose
    ├── InputError                     the caller's input cannot be used (empty, binary, too large)
    │   └── ChangelogError             a vendor changelog sigmatch does not understand (.name)
    ├── ConfigError                    a setting has a bad value           (.setting, .value)
    ├── CatalogError                   the known-bugs catalog cannot be built
    │   ├── SignatureFileError         a curated YAML file is wrong        (.path, .field, .problem)
    │   └── StoreError                 the local/Redis store cannot be read or written (.path)
    ├── ImportSourceError              an importer's source is unreachable or unusable (.source)
    ├── UpstreamError                  an upstream site did not answer usefully (.url, .status)
    │   └── BotWallError               lore answered with its "not a bot" page (status 200)
    └── JobError                       a background job is unknown or failed (.job_id)
        └── QueueUnavailableError      the job queue (Redis) cannot be reached right now

Exceptions carry their context as attributes so that the CLI, the API and the chat bot can
each render them in their own way.
"""

from __future__ import annotations


class SigmatchError(Exception):
    """Base of every error sigmatch raises on purpose."""


class InputError(SigmatchError):
    """The input cannot be used: empty, not text, too large, or holding no kernel log."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class ChangelogError(InputError):
    """A file given as a vendor kernel changelog that is not one (or names no kernel build)."""

    def __init__(self, message: str, *, name: str = "") -> None:
        super().__init__(message, reason="vendor_changelog")
        self.name = name


class ConfigError(SigmatchError):
    def __init__(self, setting: str, value: object, problem: str) -> None:
        super().__init__(f"{setting}={value!r}: {problem}")
        self.setting = setting
        self.value = value
        self.problem = problem


class CatalogError(SigmatchError):
    """The known-bugs catalog cannot be built or loaded."""


class SignatureFileError(CatalogError):
    """A curated signature file is wrong; the message reads ``file: field: problem``."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path = path
        self.field = field
        self.problem = problem


class StoreError(CatalogError):
    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ImportSourceError(SigmatchError):
    """An importer's source (a git repository, a feed) is unreachable or unusable."""

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source


class UpstreamError(SigmatchError):
    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class BotWallError(UpstreamError):
    """lore.kernel.org answered with its anti-bot page (served with status 200)."""


class JobError(SigmatchError):
    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class QueueUnavailableError(JobError):
    """The job queue (Redis) cannot be reached right now; the API answers 503, not 404."""
