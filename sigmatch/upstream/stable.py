"""Which stable release first carries an upstream commit, read from kernel.org's ChangeLogs.

kernel.org publishes one ``ChangeLog-X.Y.Z`` per stable release (``v6.x/ChangeLog-6.1.109``):
the ``git log`` (medium format) of the commits new in that release. A stable backport names its
mainline commit in one of two forms (Documentation/process/stable-kernel-rules.rst)::

    [ Upstream commit 172e422ffea20a89bfdc672741c1aad6fbb5044e ]
    commit 2222222222222222222222222222222222222222 upstream.

Each ChangeLog holds only that release's new commits, so the release whose ChangeLog names the
commit is the first on its branch to carry it. Fetches are bounded per call and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigmatch.errors import UpstreamError
from sigmatch.trace.kversion import branch_of as branch_of  # re-exported: the stable branch of a release
from sigmatch.trace.kversion import stable_release
from sigmatch.upstream.http import UpstreamClient, build_url
from sigmatch.upstream.lore import clean_text
from sigmatch.upstream.model import StableRelease

_COMMIT_LINE_RE = re.compile(r"^commit ([0-9a-f]{40})\b", re.MULTILINE)
_UPSTREAM_RE = re.compile(
    r"^[ \t]*(?:\[[ \t]*Upstream commit ([0-9a-f]{12,40})[ \t]*\]|commit ([0-9a-f]{12,40}) upstream\.?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
MIN_SHA = 12


@dataclass(frozen=True, slots=True)
class ChangeLogEntry:
    stable_sha: str
    subject: str
    upstream_sha: str | None


def changelog_path(version: str) -> str | None:
    """``6.1.109`` → ``v6.x/ChangeLog-6.1.109`` (``v2.6/`` for 2.6.x.y); None for anything but a stable
    release (:func:`~sigmatch.trace.kversion.stable_release`). The path is built from the parsed
    numbers, never from the string given."""
    sr = stable_release(version)
    if sr is None:
        return None
    branch, sublevel = sr
    if branch.startswith("2."):
        return f"v2.6/ChangeLog-{branch}.{sublevel}" if branch.startswith("2.6.") else None
    return f"v{branch.split('.', 1)[0]}.x/ChangeLog-{branch}.{sublevel}"


def parse_changelog(text: str) -> list[ChangeLogEntry]:
    """The commits of one ChangeLog, each with the upstream commit it backports (if it says)."""
    starts = [m.start() for m in _COMMIT_LINE_RE.finditer(text)]
    out = []
    for i, start in enumerate(starts):
        block = text[start: starts[i + 1] if i + 1 < len(starts) else len(text)]
        sha = block[7:47]
        subject = ""
        # medium format: headers, a blank line, then the message indented by four spaces
        _, _, msg = block.partition("\n\n")
        for line in msg.splitlines():
            if line.strip():
                subject = clean_text(line, 200)
                break
        up = _UPSTREAM_RE.search(msg)
        out.append(ChangeLogEntry(sha, subject, (up.group(1) or up.group(2)).lower() if up else None))
    return out


def same_commit(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    n = min(len(a), len(b))
    return n >= MIN_SHA and a[:n] == b[:n]


class Stable:
    """kernel.org's release tree (``SIGMATCH_STABLE_URL``) through an :class:`UpstreamClient`."""

    def __init__(self, client: UpstreamClient, base: str) -> None:
        self.client = client
        self.base = base.rstrip("/")

    def changelog(self, version: str, *, deadline: float | None = None) -> list[ChangeLogEntry] | None:
        """The entries of ``ChangeLog-<version>``; None when kernel.org has no such file."""
        path = changelog_path(version)
        if path is None:
            return None
        f = self.client.get(build_url(self.base, path), ok=(200, 404), deadline=deadline, accept="text/plain")
        if f.status == 404:
            return None
        entries = parse_changelog(f.text)
        if not entries:
            raise UpstreamError(f"ChangeLog-{version} is not in git log format", url=f.url, status=f.status)
        return entries

    def first_releases(
        self, upstream_sha: str, versions: list[str], *, deadline: float | None = None, max_fetches: int = 6
    ) -> tuple[list[StableRelease], list[str]]:
        """Check the ChangeLogs of candidate ``versions`` (at most ``max_fetches``) for ``upstream_sha``.

        Returns the releases found (one per branch: the first that carries the commit) and notes
        on what could not be checked.
        """
        found: dict[str, StableRelease] = {}
        notes: list[str] = []
        fetched = 0
        if len(upstream_sha) < MIN_SHA:
            return [], [f"stable: commit id {upstream_sha!r} is too short to look up"]
        for version in dict.fromkeys(v for v in versions if changelog_path(v)):
            branch = branch_of(version) or version
            if branch in found:
                continue
            if fetched >= max_fetches:
                notes.append(f"stable: not checked (fetch limit {max_fetches}): ChangeLog-{version}")
                continue
            fetched += 1
            try:
                entries = self.changelog(version, deadline=deadline)
            except UpstreamError as exc:
                notes.append(f"stable: ChangeLog-{version}: {exc}")
                continue
            if entries is None:
                notes.append(f"stable: kernel.org has no ChangeLog-{version}")
                continue
            for e in entries:
                if e.upstream_sha and same_commit(e.upstream_sha, upstream_sha):
                    found[branch] = StableRelease(branch=branch, version=version, upstream_sha=upstream_sha,
                                                  stable_sha=e.stable_sha, subject=e.subject,
                                                  source=build_url(self.base, changelog_path(version) or ""))
                    break
            else:
                notes.append(f"stable: ChangeLog-{version} does not carry {upstream_sha[:12]}")
        return list(found.values()), notes
