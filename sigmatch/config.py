"""Settings: one table, read once from the environment into one typed, frozen :class:`Settings`.

::

    settings = Settings.from_env()                     # the process environment, every default applied
    settings = Settings.from_env({"SIGMATCH_TOP_K": "3"})   # another environment (tests, a job's env)
    settings = settings.with_(top_k=3, redis_url="")   # changed copy (typed values, attribute names)
    settings.top_k, settings.data_dir, settings.redis  # typed reads; nobody reads a setting by its name

:data:`SETTINGS` is the table: environment name, attribute, default, unit, help. It is the only
place a default is written, the README's settings table shows it (a test checks that every row is
there), and :meth:`Settings.from_env` is the only code that reads these environment variables.
On/off values go through :func:`switch` (``on``/``off``, ``1``/``0``, ``true``/``false``,
``yes``/``no``; anything else is a :class:`~sigmatch.errors.ConfigError` naming the setting).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmatch.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# The curated known bugs: `signatures/` of the checkout, shipped inside the wheel as package data
# (pyproject maps the package `sigmatch.curated` onto that directory).
CURATED_DIR = PACKAGE_DIR / "curated"

ON = frozenset({"1", "on", "true", "yes"})
OFF = frozenset({"0", "off", "false", "no"})


def switch(name: str, raw: str) -> bool:
    """The one on/off parser (case and surrounding spaces do not matter)."""
    value = raw.strip().lower()
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ConfigError(name, raw, "expected on or off")


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "sigmatch")


def curated_dir() -> Path:
    """The curated tree shipped with sigmatch: the copy inside the installed package (a wheel),
    else the checkout's ``signatures/`` (an editable install or a source tree)."""
    for candidate in (CURATED_DIR, REPO_DIR / "signatures"):
        if (candidate / "schema.json").is_file():
            return candidate
    return CURATED_DIR  # neither: loading it fails and names this directory


def _default_signatures_dir() -> str:
    return str(curated_dir())


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the settings table."""

    name: str  # environment variable
    attr: str  # attribute of Settings
    default: str  # as written in the environment ("" for none)
    unit: str
    help: str
    kind: type = str  # str, int, float, bool (on|off) or Path
    resolve: Callable[[], str] | None = None  # a default computed at start-up (documented by `default`)


SETTINGS: tuple[Setting, ...] = (
    # --- catalog and storage
    Setting("SIGMATCH_DATA_DIR", "data_dir", "~/.local/share/sigmatch", "path",
            "Local store: imported catalog snapshots, the CVE repository clone, caches.", Path, _default_data_dir),
    Setting("SIGMATCH_SIGNATURES_DIR", "signatures_dir", "signatures/", "path",
            "Directory of curated known-bug YAML files (default: the `signatures/` shipped with sigmatch: the "
            "checkout's, or the copy inside the installed package). A missing directory is an error.",
            Path, _default_signatures_dir),
    Setting("SIGMATCH_CVE_REPO", "cve_repo", "https://git.kernel.org/pub/scm/linux/security/vulns.git", "url|path",
            "The kernel CVE team's vulns git repository (URL or local path/bundle)."),
    Setting("REDIS_URL", "redis_url", "", "url",
            "When set, Redis holds the shared cache, snapshots and queues, and RQ runs background jobs."),
    # --- matching
    Setting("SIGMATCH_TOP_K", "top_k", "5", "matches", "How many ranked matches an answer carries by default.", int),
    # --- web service
    Setting("SIGMATCH_MAX_REQUEST_BYTES", "max_request_bytes", "2097152", "bytes",
            "Largest request body the API accepts (413 above).", int),
    Setting("SIGMATCH_ADMIN_TOKEN", "admin_token", "", "secret",
            "Bearer token for admin endpoints (refresh); empty disables them."),
    Setting("SIGMATCH_CLIENT_TIMEOUT", "client_timeout", "10", "seconds",
            "Longest a client may stall in the middle of a request before the server cuts it off.", float),
    Setting("PORT", "port", "8000", "port", "Port `sigmatch serve` and the Procfile's `web:` process listen on.", int),
    Setting("WEB_CONCURRENCY", "web_concurrency", "2", "processes",
            "gunicorn worker processes of `sigmatch serve` and the Procfile's `web:` line (`--workers` overrides).",
            int),
    Setting("SIGMATCH_WEB_THREADS", "web_threads", "8", "threads",
            "Threads per gunicorn worker process (`sigmatch serve --threads` overrides).", int),
    Setting("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "", "path",
            "Where gunicorn's worker processes keep their Prometheus counters so that /metrics adds them up "
            "(with more than one worker and none set, a temporary directory removed at exit)."),
    # --- upstream
    Setting("SIGMATCH_LORE_URL", "lore_url", "https://lore.kernel.org", "url",
            "Base URL of lore.kernel.org (or a mirror)."),
    Setting("SIGMATCH_BUGZILLA_URL", "bugzilla_url", "https://bugzilla.kernel.org", "url",
            "Base URL of the kernel Bugzilla."),
    Setting("SIGMATCH_SYZBOT_URL", "syzbot_url", "https://syzkaller.appspot.com", "url",
            "Base URL of the syzbot dashboard."),
    Setting("SIGMATCH_STABLE_URL", "stable_url", "https://cdn.kernel.org/pub/linux/kernel", "url",
            "Base URL of kernel.org's release tree (stable ChangeLog-X.Y.Z files)."),
    Setting("SIGMATCH_UPSTREAM_LOOKUP", "upstream_lookup", "on", "on|off",
            "Whether answers ask lore, bugzilla, syzbot and kernel.org about the crash, and whether the "
            "refresh asks them about the curated entries (steps `stable` and `upstream`).", bool),
    Setting("SIGMATCH_HTTP_TIMEOUT", "http_timeout", "10", "seconds", "Timeout of one upstream HTTP request.", float),
    Setting("SIGMATCH_UPSTREAM_BUDGET", "upstream_budget", "2.0", "seconds",
            "Longest time an answer waits on upstream before returning cached results and a job to poll.", float),
    Setting("SIGMATCH_CACHE_TTL", "cache_ttl", "21600", "seconds", "How long upstream results stay cached.", int),
    Setting("SIGMATCH_RATE_LIMIT", "rate_limit", "1.0", "requests/second", "Per-host upstream request rate.", float),
    Setting("SIGMATCH_UPSTREAM_MAX_BYTES", "upstream_max_bytes", "5242880", "bytes",
            "Largest upstream response read; longer bodies are cut off there.", int),
    # --- chat
    Setting("SIGMATCH_SLACK_SIGNING_SECRET", "slack_signing_secret", "", "secret",
            "Slack app signing secret (enables /slack/*)."),
    Setting("SIGMATCH_SLACK_BOT_TOKEN", "slack_bot_token", "", "secret",
            "Slack bot token (xoxb-...) for replies and file downloads."),
    Setting("SIGMATCH_SLACK_API_URL", "slack_api_url", "https://slack.com/api/", "url", "Slack Web API base URL."),
    Setting("SIGMATCH_SLACK_COMMAND", "slack_command", "/kernel-crash", "name",
            "Slash command name the Slack app registers."),
    Setting("SIGMATCH_MATTERMOST_TOKEN", "mattermost_token", "", "secret",
            "Mattermost slash-command/outgoing-webhook token(s), comma-separated."),
    Setting("SIGMATCH_MATTERMOST_URL", "mattermost_url", "", "url",
            "Mattermost server URL; with SIGMATCH_MATTERMOST_BOT_TOKEN, logs attached to a post that triggers the "
            "outgoing webhook are downloaded from it."),
    Setting("SIGMATCH_MATTERMOST_BOT_TOKEN", "mattermost_bot_token", "", "secret",
            "Mattermost bot (or personal) access token that may read the channels' files."),
    Setting("SIGMATCH_CHAT_UPSTREAM_BUDGET", "chat_upstream_budget", "0", "seconds",
            "How long a chat reply waits for upstream reports (lore, bugzilla, syzbot); 0 leaves them out.", float),
    # --- worker
    Setting("SIGMATCH_REFRESH_CRON", "refresh_cron", "0 3 * * *", "cron (UTC)", "When the nightly refresh runs."),
    Setting("SIGMATCH_SERVE_REFRESH", "serve_refresh", "off", "on|off",
            "When on, `sigmatch serve` runs the refresh itself on SIGMATCH_REFRESH_CRON (embedded deployment, "
            "no worker).", bool),
    Setting("SIGMATCH_REFRESH_UPSTREAM_BUDGET", "refresh_upstream_budget", "900", "seconds",
            "Longest a refresh spends asking upstream about curated entries; the entries not reached go first "
            "next time.", float),
    Setting("SIGMATCH_REFRESH_LOCK_TTL", "refresh_lock_ttl", "120", "seconds",
            "Expiry of the refresh lock in Redis; its holder renews it, a killed holder loses it after this.", float),
    Setting("SIGMATCH_JOB_TIMEOUT", "job_timeout", "3600", "seconds",
            "Longest a background job (a refresh) may run in an RQ worker.", int),
    Setting("SIGMATCH_JOB_RETRIES", "job_retries", "2", "retries", "How many times RQ retries a failed background job.",
            int),
    Setting("SIGMATCH_SNAPSHOT_CHECK", "snapshot_check", "5", "seconds",
            "How often a serving process checks the store for a new catalog snapshot and swaps it in (in the "
            "background, whether or not requests arrive).", float),
    # --- tests and benchmarks
    Setting("SIGMATCH_SHARED_DIR", "shared_dir", "../shared", "path",
            "Where the test suite and the benchmarks find the shared corpus and upstream samples (tests that need "
            "them skip when it is missing); relative to the checkout.", Path, lambda: str(REPO_DIR.parent / "shared")),
)

BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
BY_ATTR: Mapping[str, Setting] = {s.attr: s for s in SETTINGS}


def _parse(s: Setting, raw: str) -> Any:
    if s.kind is bool:
        return switch(s.name, raw)
    if s.kind is Path:
        return Path(os.path.expanduser(raw))
    if s.kind is str:
        return raw
    try:
        return s.kind(raw)
    except ValueError as exc:
        raise ConfigError(s.name, raw, f"expected {s.kind.__name__} ({s.unit})") from exc


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, typed. Build it once with :meth:`from_env`; change a copy with :meth:`with_`."""

    data_dir: Path
    signatures_dir: Path
    cve_repo: str
    redis_url: str
    top_k: int
    max_request_bytes: int
    admin_token: str
    client_timeout: float
    port: int
    web_concurrency: int
    web_threads: int
    prometheus_multiproc_dir: str
    lore_url: str
    bugzilla_url: str
    syzbot_url: str
    stable_url: str
    upstream_lookup: bool
    http_timeout: float
    upstream_budget: float
    cache_ttl: int
    rate_limit: float
    upstream_max_bytes: int
    slack_signing_secret: str
    slack_bot_token: str
    slack_api_url: str
    slack_command: str
    mattermost_token: str
    mattermost_url: str
    mattermost_bot_token: str
    chat_upstream_budget: float
    refresh_cron: str
    serve_refresh: bool
    refresh_upstream_budget: float
    refresh_lock_ttl: float
    job_timeout: int
    job_retries: int
    snapshot_check: float
    shared_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Every setting from ``env`` (default: the process environment); an unset or empty variable
        takes the table's default. ``overrides`` (attribute names, typed values) win."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = source.get(s.name)
            if raw is None or raw == "":
                raw = s.resolve() if s.resolve is not None else s.default
            values[s.attr] = _parse(s, raw)
        return cls(**values).with_(**overrides) if overrides else cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (attribute names; a str for a Path or bool setting is parsed)."""
        unknown = sorted(set(changes) - set(BY_ATTR))
        if unknown:
            raise ConfigError(unknown[0], changes[unknown[0]], "no such setting")
        typed = {k: _parse(BY_ATTR[k], v) if isinstance(v, str) and BY_ATTR[k].kind is not str else v
                 for k, v in changes.items()}
        return dataclasses.replace(self, **typed)

    @property
    def redis(self) -> bool:
        """Whether this deployment shares its state through Redis (``REDIS_URL`` set)."""
        return bool(self.redis_url)

    @property
    def upstream_urls(self) -> tuple[str, str, str, str]:
        """The four upstream base URLs an upstream client may reach."""
        return (self.lore_url, self.bugzilla_url, self.syzbot_url, self.stable_url)

    def to_env(self, *attrs: str) -> dict[str, str]:
        """Some settings (all by default) as environment variables, e.g. for a job run elsewhere."""
        rows = [BY_ATTR[a] for a in attrs] if attrs else list(SETTINGS)
        out: dict[str, str] = {}
        for s in rows:
            value = getattr(self, s.attr)
            out[s.name] = ("on" if value else "off") if isinstance(value, bool) else str(value)
        return out
