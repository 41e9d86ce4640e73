"""The embedded deployment's own nightly refresh: ``sigmatch serve`` with ``SIGMATCH_SERVE_REFRESH=on``.

With no worker and no Redis, the serving process itself runs ``sigmatch refresh`` at
``SIGMATCH_REFRESH_CRON`` (UTC). It runs the refresh as a child process, so the server's memory
and its request threads are untouched, and a crashed refresh is just a failed run; the web workers
pick the new snapshot up through the store like any other. The refresh lock makes a second
scheduler (another host, or an ``rq cron`` too) harmless.

::

    schedule = RefreshSchedule.from_settings(settings)   # None when SIGMATCH_SERVE_REFRESH is off
    schedule.start()                                      # a daemon thread
    schedule.stop()
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from sigmatch.config import Settings
from sigmatch.errors import ConfigError

log = logging.getLogger("sigmatch.runtime.schedule")

REFRESH_COMMAND = (sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main(['refresh']))")


def next_run(expr: str, after: _dt.datetime) -> _dt.datetime:
    """The first time after ``after`` (aware) that the cron expression ``expr`` names, in UTC."""
    if not croniter.is_valid(expr):
        raise ConfigError("SIGMATCH_REFRESH_CRON", expr, "not a cron expression (minute hour day month weekday)")
    base = after.astimezone(_dt.UTC).replace(tzinfo=None)
    nxt: _dt.datetime = croniter(expr, base).get_next(_dt.datetime)
    return nxt.replace(tzinfo=_dt.UTC)


@dataclass
class RefreshSchedule:
    """A daemon thread that runs ``command`` at every time ``cron`` names (UTC)."""

    cron: str
    command: Sequence[str] = REFRESH_COMMAND
    timeout: float = 3600.0
    env: Mapping[str, str] | None = None  # the child's environment (None: this process's)
    runs: list[dict[str, Any]] = field(default_factory=list)  # the most recent outcomes
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RefreshSchedule | None:
        if not settings.serve_refresh:
            return None
        cron = settings.refresh_cron.strip()
        next_run(cron, _dt.datetime.now(_dt.UTC))  # validate now, not at 03:00
        # the child refreshes the store this process serves: same settings, passed as its environment
        return cls(cron=cron, timeout=float(settings.job_timeout), env={**os.environ, **settings.to_env()})

    def start(self) -> RefreshSchedule:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sigmatch-refresh-schedule", daemon=True)
        self._thread.start()
        log.info("serve-side refresh scheduled at %r (UTC); next %s", self.cron,
                 next_run(self.cron, _dt.datetime.now(_dt.UTC)).isoformat())
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = _dt.datetime.now(_dt.UTC)
            wait = (next_run(self.cron, now) - now).total_seconds()
            # Sleep in slices: a suspended host or a changed clock is noticed within a minute.
            if self._stop.wait(min(max(wait, 0.0), 60.0)):
                return
            if wait > 60.0:
                continue
            self.run_once()

    def run_once(self) -> dict[str, Any]:
        """Run the refresh now, in a child process; returns (and remembers) its outcome."""
        started = _dt.datetime.now(_dt.UTC)
        try:
            proc = subprocess.run(list(self.command), capture_output=True, text=True, timeout=self.timeout,
                                  check=False, env=dict(self.env) if self.env is not None else None)
            outcome = {"started": started.isoformat(), "returncode": proc.returncode,
                       "output": (proc.stdout + proc.stderr)[-2000:]}
        except (OSError, subprocess.TimeoutExpired) as exc:
            outcome = {"started": started.isoformat(), "returncode": None, "output": f"{type(exc).__name__}: {exc}"}
        level = logging.INFO if outcome["returncode"] == 0 else logging.WARNING
        log.log(level, "scheduled refresh ended with %s", outcome["returncode"])
        self.runs.append(outcome)
        del self.runs[:-20]
        return outcome
