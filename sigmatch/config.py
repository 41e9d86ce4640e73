"""Settings: one table, read from ``SIGMATCH_*`` environment variables (and ``REDIS_URL``).

Every setting is documented here (name, default, unit, help) and in the README's settings table;
a test fails when one is missing there. Read values with :func:`get`, or build a
:class:`Settings` snapshot with :func:`load` (the web app does, so tests can override).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmatch.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    unit: str
    help: str
    kind: type = str


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "sigmatch")


SETTINGS: tuple[Setting, ...] = (
    # --- catalog and storage
    Setting("SIGMATCH_DATA_DIR", "~/.local/share/sigmatch", "path",
            "Local store: imported catalog snapshots, the CVE repository clone, caches."),
    Setting("SIGMATCH_SIGNATURES_DIR", "<repo>/signatures", "path",
            "Directory of curated known-bug YAML files."),
    Setting("SIGMATCH_CVE_REPO", "https://git.kernel.org/pub/scm/linux/security/vulns.git", "url|path",
            "The kernel CVE team's vulns git repository (URL or local path/bundle)."),
    Setting("REDIS_URL", "", "url",
            "When set, Redis holds the shared cache, snapshots and queues, and RQ runs background jobs."),
    # --- matching
    Setting("SIGMATCH_TOP_K", "5", "matches", "How many ranked matches an answer carries by default.", int),
    # --- web service
    Setting("SIGMATCH_MAX_REQUEST_BYTES", "2097152", "bytes", "Largest request body the API accepts (413 above).", int),
    Setting("SIGMATCH_ADMIN_TOKEN", "", "secret", "Bearer token for admin endpoints (refresh); empty disables them."),
    Setting("SIGMATCH_CLIENT_TIMEOUT", "10", "seconds",
            "Longest a client may stall in the middle of a request before the server cuts it off.", float),
    # --- upstream
    Setting("SIGMATCH_LORE_URL", "https://lore.kernel.org", "url", "Base URL of lore.kernel.org (or a mirror)."),
    Setting("SIGMATCH_BUGZILLA_URL", "https://bugzilla.kernel.org", "url", "Base URL of the kernel Bugzilla."),
    Setting("SIGMATCH_SYZBOT_URL", "https://syzkaller.appspot.com", "url", "Base URL of the syzbot dashboard."),
    Setting("SIGMATCH_STABLE_URL", "https://cdn.kernel.org/pub/linux/kernel", "url",
            "Base URL of kernel.org's release tree (stable ChangeLog-X.Y.Z files)."),
    Setting("SIGMATCH_UPSTREAM_LOOKUP", "on", "on|off",
            "Whether answers ask lore, bugzilla, syzbot and kernel.org about the crash, and whether the "
            "refresh asks them about the curated entries (steps `stable` and `upstream`)."),
    Setting("SIGMATCH_HTTP_TIMEOUT", "10", "seconds", "Timeout of one upstream HTTP request.", float),
    Setting("SIGMATCH_UPSTREAM_BUDGET", "2.0", "seconds",
            "Longest time an answer waits on upstream before returning cached results and a job to poll.", float),
    Setting("SIGMATCH_CACHE_TTL", "21600", "seconds", "How long upstream results stay cached.", int),
    Setting("SIGMATCH_RATE_LIMIT", "1.0", "requests/second", "Per-host upstream request rate.", float),
    Setting("SIGMATCH_UPSTREAM_MAX_BYTES", "5242880", "bytes",
            "Largest upstream response read; longer bodies are cut off there.", int),
    # --- chat
    Setting("SIGMATCH_SLACK_SIGNING_SECRET", "", "secret", "Slack app signing secret (enables /slack/*)."),
    Setting("SIGMATCH_SLACK_BOT_TOKEN", "", "secret", "Slack bot token (xoxb-...) for replies and file downloads."),
    Setting("SIGMATCH_SLACK_API_URL", "https://slack.com/api/", "url", "Slack Web API base URL."),
    Setting("SIGMATCH_SLACK_COMMAND", "/kernel-crash", "name", "Slash command name the Slack app registers."),
    Setting("SIGMATCH_MATTERMOST_TOKEN", "", "secret", "Mattermost slash-command/outgoing-webhook token(s), comma-separated."),
    Setting("SIGMATCH_MATTERMOST_URL", "", "url",
            "Mattermost server URL; with SIGMATCH_MATTERMOST_BOT_TOKEN, logs attached to a post that triggers the "
            "outgoing webhook are downloaded from it."),
    Setting("SIGMATCH_MATTERMOST_BOT_TOKEN", "", "secret",
            "Mattermost bot (or personal) access token that may read the channels' files."),
    Setting("SIGMATCH_CHAT_UPSTREAM_BUDGET", "0", "seconds",
            "How long a chat reply waits for upstream reports (lore, bugzilla, syzbot); 0 leaves them out.", float),
    # --- worker
    Setting("SIGMATCH_REFRESH_CRON", "0 3 * * *", "cron (UTC)", "When the nightly refresh runs."),
    Setting("SIGMATCH_SERVE_REFRESH", "off", "on|off",
            "When on, `sigmatch serve` runs the refresh itself on SIGMATCH_REFRESH_CRON (embedded deployment, no worker)."),
    Setting("SIGMATCH_REFRESH_UPSTREAM_BUDGET", "900", "seconds",
            "Longest a refresh spends asking upstream about curated entries; the entries not reached go first next time.",
            float),
    Setting("SIGMATCH_REFRESH_LOCK_TTL", "120", "seconds",
            "Expiry of the refresh lock in Redis; its holder renews it, a killed holder loses it after this.", float),
    Setting("SIGMATCH_JOB_TIMEOUT", "3600", "seconds", "Longest a background job (a refresh) may run in an RQ worker.", int),
    Setting("SIGMATCH_JOB_RETRIES", "2", "retries", "How many times RQ retries a failed background job.", int),
    Setting("SIGMATCH_SNAPSHOT_CHECK", "5", "seconds",
            "How often a web process checks the store for a new catalog snapshot (and swaps it in).", float),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _resolve_default(s: Setting) -> str:
    if s.name == "SIGMATCH_DATA_DIR":
        return _default_data_dir()
    if s.name == "SIGMATCH_SIGNATURES_DIR":
        return str(REPO_DIR / "signatures")
    return s.default


def get(name: str, env: Mapping[str, str] | None = None) -> Any:
    """The typed value of one setting, from ``env`` (default: the process environment)."""
    s = _BY_NAME[name]
    source = os.environ if env is None else env
    raw = source.get(name)
    if raw is None or raw == "":
        raw = _resolve_default(s)
    if s.kind is str:
        return os.path.expanduser(raw) if s.unit == "path" else raw
    try:
        return s.kind(raw)
    except ValueError as exc:
        raise ConfigError(name, raw, f"expected {s.kind.__name__} ({s.unit})") from exc


def upstream_lookups_on(settings: Mapping[str, Any]) -> bool:
    """``SIGMATCH_UPSTREAM_LOOKUP``: whether answers and the refresh may ask upstream (on unless it
    says off, 0, false or no)."""
    return str(settings.get("SIGMATCH_UPSTREAM_LOOKUP", "on")).strip().lower() not in ("off", "0", "false", "no")


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """All settings as a dict (name -> typed value), with ``overrides`` applied last."""
    values = {s.name: get(s.name, env) for s in SETTINGS}
    unknown = set(overrides) - set(values)
    if unknown:
        raise ConfigError(sorted(unknown)[0], overrides[sorted(unknown)[0]], "no such setting")
    values.update(overrides)
    return values
