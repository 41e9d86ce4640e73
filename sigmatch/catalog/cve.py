"""Importer for the Linux kernel CVE team's ``vulns`` git repository.

Two halves:

* :func:`bug_from_record` turns one record (``cve/published/YYYY/CVE-*.json`` plus its ``.dyad``,
  ``.sha1`` and ``.vulnerable`` files) into a :class:`KnownBug`. Pure: no I/O. It keeps facts
  (shas, subjects, releases, files, function names, crash signatures parsed out of the quoted
  report) and never the description prose. Every fact's ``source`` names the record.
* :class:`VulnsRepo` and :func:`import_cve` clone or fetch the repository with the ``git`` command
  into the data directory and import everything (first run) or only the records that changed since
  the last imported commit (``git diff --name-status OLD NEW -- cve/``).

A malformed record is skipped and reported, never fatal. A record that left ``cve/published``
(deleted, or moved to ``cve/rejected``) or whose state is ``REJECTED`` is withdrawn: it is removed
from the imported set. An unreachable repository raises :class:`ImportSourceError`.

Record formats (bippy 1.x, CVE JSON 5.1): ``containers.cna.descriptions[0].value`` starts with
"In the Linux kernel, the following vulnerability has been resolved:" and then the fixing commit's
subject and message; ``affected[]`` has git ranges and semver entries (``lessThanOrEqual: "6.1.*"``
= fixed in that stable branch at ``version``; ``versionType: original_commit_for_fix`` = first
mainline release with the fix; ``{"version": "2.6.38", "status": "affected"}`` = introducing
release; ``lessThan: "5.11", status: affected`` = a branch that is vulnerable with no fix). The
``.dyad`` lines are ``vuln_ver:vuln_sha:fixed_ver:fixed_sha`` (``fixed`` = ``0:0`` when unfixed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigmatch.catalog.model import BugSignature, FixCommit, Introduced, KnownBug, Origin, Reference, StableFix
from sigmatch.errors import ImportSourceError
from sigmatch.trace.kversion import branch_of, is_mainline_release, release_key

# Bump when what the importer extracts changes: a stored snapshot made by another version is
# re-imported in full on the next refresh.
IMPORTER_VERSION = "3"

Progress = Callable[[str, int, int], None]  # (step, done, total)

_CVE_PATH = re.compile(r"(?:^|/)(CVE-\d{4}-\d+)\.(json|dyad|sha1|vulnerable|mbox)$")
_PUBLISHED = re.compile(r"^cve/published/\d{4}/(CVE-\d{4}-\d+)\.(json|dyad|sha1|vulnerable)$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_RESOLVED = "vulnerability has been resolved:"
_MAX_SIGNATURES = 4
_MAX_FUNCTIONS = 16
_MAX_DESCRIPTION = 200_000  # bytes of description handed to the parser
_MAX_RECORD_BYTES = 4 << 20  # a record file larger than this is skipped unread (real ones are < 100 KiB)
_BATCH = 1000  # records read from git at a time

# A description that quotes a crash report has one of these; the parser only runs on those.
_CRASH_HINT = re.compile(
    r"Call Trace|BUG:|WARNING:|RIP:|Oops|Kernel panic|INFO: task|rcu_sched|rcu:|KASAN|UBSAN|KMSAN|"
    r"KCSAN|KFENCE|general protection|soft lockup|hard LOCKUP|refcount_t|list_add corruption|"
    r"list_del corruption|Unable to handle|unregister_netdevice|circular locking|lock state|"
    r"recursive locking|kernel BUG|Hardware name:|Backtrace|pc :|stack backtrace|Modules linked in"
)
# ``foo_bar()`` calls, and snake_case words that look like kernel symbols (not ``->field``/``.field``).
_CALL = re.compile(r"(?<![\w>.])([A-Za-z_][A-Za-z0-9_]{2,63})\(\)")
_SNAKE = re.compile(r"(?<![\w>.$])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b(?!\.\w)")
_NOT_SYMBOLS = frozenset({"use_after_free", "out_of_bounds", "read_only", "write_only", "per_cpu"})


class MalformedRecord(ValueError):
    """A record that cannot be imported; caught by the importer and reported as skipped."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out of the import, and why."""

    id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one import produced: the full imported set and how it differs from the previous one."""

    bugs: tuple[KnownBug, ...]
    commit: str
    previous_commit: str | None
    full: bool  # every record was read (first run, or the previous commit was unusable)
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # withdrawn: rejected or deleted records
    skipped: tuple[Skipped, ...] = ()
    records: int = 0  # records read in this run
    traces: int = 0  # records (of those read) whose description gave a crash signature
    notes: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed)


# --------------------------------------------------------------------------- one record (pure)


_LAST = (1 << 30,) * 5  # orders a string that is not a release after every release


def _order(v: str) -> tuple[int, ...]:
    """Release order (trace/kversion.py's); a string that is not a release sorts last."""
    return release_key(v) or _LAST


def _shas(text: str | None) -> list[str]:
    out: list[str] = []
    for word in (text or "").split():
        w = word.strip().lower()
        if _SHA.match(w) and w not in out:
            out.append(w)
    return out


def _dyad(text: str | None) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) == 4:
            rows.append((parts[0], parts[1].lower(), parts[2], parts[3].lower()))
    return rows


def _subject(description: str, title: str | None) -> str:
    idx = description.find(_RESOLVED)
    if idx >= 0:
        for line in description[idx + len(_RESOLVED):].splitlines():
            if line.strip():
                return line.strip()[:300]
    return (title or "").strip()[:300]


def functions_in(text: str, limit: int = _MAX_FUNCTIONS) -> tuple[str, ...]:
    """Function names and kernel-looking identifiers a text mentions: calls first, capped."""
    seen: dict[str, None] = {}
    for m in _CALL.finditer(text):
        seen.setdefault(m.group(1), None)
    for m in _SNAKE.finditer(text):
        word = m.group(1)
        if word not in _NOT_SYMBOLS and len(word) <= 64:
            seen.setdefault(word, None)
    return tuple(seen)[:limit]


# Frames as descriptions quote them after scripts/decode_stacktrace.sh ("vfs_write (fs/read_write.c:584)")
# or with the offsets cut ("  __schedule"): rewritten to the console form ("vfs_write+0x0/0x0") for a
# last try when the text as quoted gives no frame.
_DECODED_FRAME = re.compile(r"^(\s*(?:\? )?)([A-Za-z_][\w.]*)\s+\((?:\./)?[\w/.+-]+\.[chS]:\d+[^\n]*$", re.M)
_DECODED_RIP = re.compile(r"((?:RIP|IP|pc)\s*:\s*(?:[0-9a-f]{4}:)?)([A-Za-z_][\w.]*)\s+\((?:\./)?[\w/.+-]+\.[chS]:\d+[^\n]*$", re.M)
_BARE_NAME = re.compile(r"^(\s+(?:\? )?)([A-Za-z_][\w.]*)\s*$")


def _console_form(text: str) -> str:
    text = _DECODED_RIP.sub(r"\1\2+0x0/0x0", text)
    text = _DECODED_FRAME.sub(r"\1\2+0x0/0x0", text)
    out: list[str] = []
    in_trace = False
    for line in text.splitlines():
        if "Call Trace:" in line or "Backtrace:" in line:
            in_trace = True
        elif not line.strip():
            in_trace = False
        elif in_trace and not line.lstrip().startswith("<"):
            m = _BARE_NAME.match(line)
            if m:
                line = f"{m.group(1)}{m.group(2)}+0x0/0x0"
        out.append(line)
    return "\n".join(out)


def signatures_in(text: str, source: str) -> tuple[BugSignature, ...]:
    """Crash signatures of the reports a description quotes (as is, and with indentation removed).

    The parser is called as a library: any error it raises on odd text gives no signature.
    """
    if not _CRASH_HINT.search(text):
        return ()
    from sigmatch import parse_log, signature_of  # the parser lives in the same core

    text = text[:_MAX_DESCRIPTION]
    variants = [text]
    stripped = "\n".join(line.strip() for line in text.splitlines())
    if stripped != text:
        variants.append(stripped)
    found: dict[tuple[str | None, tuple[str, ...]], BugSignature] = {}
    console = _console_form(text)
    if console != text:
        variants.append(console)
    for n, variant in enumerate(variants):
        if n == 2 and any(sig.frames for sig in found.values()):
            break  # the console-form rewrite is a last resort
        try:
            reports = parse_log(variant)
        except Exception:  # a parser bug on one description must not stop the import
            continue
        for report in reports:
            try:
                sig = signature_of(report)
            except Exception:
                continue
            # A title that names no crash class or no location is no exact key.
            title = sig.title or None
            if title and (not sig.title_is_key or (sig.corrupted and title.endswith(" corrupted"))):
                title = None
            if not title and not sig.frames:
                continue
            key = (title, sig.frames)
            if key in found:
                continue
            found[key] = BugSignature(
                title=title,
                alt_titles=tuple(t for t in sig.alt_titles if not t.endswith(" corrupted")),
                frames=sig.frames,
                kind=sig.kind.value,
                files=sig.files,
                low_information=sig.low_information or sig.corrupted,
                source=source,
            )
    # The fuller signature first (a real frame sequence beats a bare title).
    ordered = sorted(found.values(), key=lambda s: (s.low_information, -len(s.frames)))
    return tuple(ordered[:_MAX_SIGNATURES])


def bug_from_record(
    cve_id: str,
    path: str,
    json_text: str | bytes,
    dyad: str | None = None,
    sha1: str | None = None,
    vulnerable: str | None = None,
    *,
    with_traces: bool = True,
) -> KnownBug | None:
    """The known bug one CVE record describes; ``None`` when the record is rejected (withdrawn).

    Raises :class:`MalformedRecord` with a short reason when the record cannot be used. The steps:
    :func:`_read_record` (the JSON's fields, checked), :func:`_releases` (the release rules over
    the ``.dyad`` rows and the ``affected`` versions), then the facts built from them.
    """
    rec = _read_record(cve_id, json_text)
    if rec is None:
        return None
    rows = _dyad(dyad)
    rel = _releases(rows, rec.semver)
    sigs = signatures_in(rec.description, f"{cve_id} description") if with_traces else ()
    return KnownBug(
        id=cve_id,
        title=rec.subject,
        origin=Origin.CVE,
        kinds=tuple(dict.fromkeys(s.kind for s in sigs if s.kind)),
        signatures=sigs,
        fixes=_fix_commits(_shas(sha1), rel, rec.subject, cve_id),
        stable=_stable_facts(rel, cve_id),
        introduced=_introduced(_shas(vulnerable), rel, rows, cve_id),
        references=(Reference(kind="cve", value=cve_id, url=f"https://www.cve.org/CVERecord?id={cve_id}"),),
        cves=(cve_id,),
        files=rec.files,
        functions=functions_in(rec.subject + "\n" + rec.description),
        unfixed_branches=tuple(sorted(rel.unfixed, key=_order)),
        source_path=path,
    )


@dataclass(frozen=True, slots=True)
class _Record:
    """The fields of a CVE JSON record the importer reads."""

    description: str
    subject: str  # the fixing commit's subject (the description's first line after "resolved:")
    files: tuple[str, ...]  # affected[].programFiles
    semver: tuple[dict[str, Any], ...]  # affected[].versions[] entries with a string "version"


def _read_record(cve_id: str, json_text: str | bytes) -> _Record | None:
    """The record's fields, checked in this order; None for a rejected record."""
    try:
        doc = json.loads(json_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRecord(f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedRecord("not a JSON object")
    meta = doc.get("cveMetadata")
    state = meta.get("state") if isinstance(meta, dict) else None
    if isinstance(state, str) and state.upper() == "REJECTED":
        return None
    containers = doc.get("containers")
    cna = containers.get("cna") if isinstance(containers, dict) else None
    if not isinstance(cna, dict):
        raise MalformedRecord("no containers.cna object")
    if isinstance(meta, dict) and meta.get("cveId") not in (None, cve_id):
        raise MalformedRecord(f"cveMetadata.cveId {meta.get('cveId')!r} differs from the file name")
    description = _description(cna.get("descriptions"))
    subject = _subject(description, cna.get("title") if isinstance(cna.get("title"), str) else None)
    if not subject:
        raise MalformedRecord("no description and no title")
    affected = cna.get("affected")
    if affected is not None and not isinstance(affected, list):
        raise MalformedRecord("containers.cna.affected is not a list")
    files: dict[str, None] = {}
    semver: list[dict[str, Any]] = []
    for block in affected or ():
        if not isinstance(block, dict):
            continue
        files.update((f, None) for f in block.get("programFiles") or () if isinstance(f, str))
        semver.extend(v for v in block.get("versions") or () if isinstance(v, dict) and isinstance(v.get("version"), str))
    return _Record(description, subject, tuple(files), tuple(semver))


def _description(descriptions: object) -> str:
    """The English description (else the last one given)."""
    description = ""
    if isinstance(descriptions, list):
        for d in descriptions:
            if isinstance(d, dict) and isinstance(d.get("value"), str):
                description = d["value"]
                if d.get("lang", "en").startswith("en"):
                    break
    return description


# ------------------------------------------------------------- the release rules of one record


@dataclass(slots=True)
class _Releases:
    """What a record's version data says, gathered by the release rules (filled in while they run)."""

    mainline_of: dict[str, str] = field(default_factory=dict)  # fixing sha -> first mainline release
    stable: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # branch -> (first fixed, backport sha)
    unfixed: dict[str, None] = field(default_factory=dict)  # branches vulnerable with no fix
    # a branch that got the bug by a stable backport -> its first release with the bug
    branch_intro: dict[str, str] = field(default_factory=dict)
    mainline_release: str | None = None  # affected[] original_commit_for_fix
    intro_release: str | None = None  # affected[] plain "affected" version: the introducing release

    def note_intro(self, ver: str) -> None:
        b = branch_of(ver)
        if b and not is_mainline_release(ver) and (
                b not in self.branch_intro or _order(ver) < _order(self.branch_intro[b])):
            self.branch_intro[b] = ver


_DyadRow = tuple[str, str, str, str]  # vuln_ver, vuln_sha, fixed_ver, fixed_sha


def _row_unfixed(r: _Releases, row: _DyadRow) -> bool:
    """``fixed`` is ``0``: the vulnerable release's branch has no fix."""
    if row[2] != "0":
        return False
    b = branch_of(row[0])
    if b:
        r.unfixed.setdefault(b, None)
    return True


def _row_mainline_fix(r: _Releases, row: _DyadRow) -> bool:
    """Fixed in a mainline release: the first mainline release of that fixing sha."""
    if not is_mainline_release(row[2]):
        return False
    r.mainline_of.setdefault(row[3], row[2])
    return True


def _row_stable_fix(r: _Releases, row: _DyadRow) -> bool:
    """Fixed in a stable release: the earliest one of its branch wins."""
    fixed_ver, fixed_sha = row[2], row[3]
    b = branch_of(fixed_ver)
    if b and (b not in r.stable or _order(fixed_ver) < _order(r.stable[b][0])):
        r.stable[b] = (fixed_ver, fixed_sha if _SHA.match(fixed_sha) else None)
    return True


# Each .dyad row goes through these in order; the first that applies decides.
_DYAD_RULES = (_row_unfixed, _row_mainline_fix, _row_stable_fix)


def _sv_fix_release(r: _Releases, v: dict[str, Any]) -> bool:
    """``versionType: original_commit_for_fix``: the first mainline release with the fix (the first entry)."""
    if v.get("versionType") != "original_commit_for_fix" or r.mainline_release is not None:
        return False
    r.mainline_release = v["version"]
    return True


def _sv_stable_fix(r: _Releases, v: dict[str, Any]) -> bool:
    """``unaffected`` with ``lessThanOrEqual: "6.1.*"``: fixed on branch 6.1 at ``version``."""
    lte = v.get("lessThanOrEqual")
    if v.get("versionType") != "semver" or v.get("status") != "unaffected" or not (
            isinstance(lte, str) and lte.endswith(".*")):
        return False
    ver, b = v["version"], lte[:-2]
    if b not in r.stable or _order(ver) < _order(r.stable[b][0]):
        r.stable[b] = (ver, r.stable[b][1] if b in r.stable and r.stable[b][0] == ver else None)
    return True


def _sv_affected_branch(r: _Releases, v: dict[str, Any]) -> bool:
    """``affected`` with ``lessThan``: vulnerable from ``version``; ``"5.10.220" < "5.11"`` leaves
    the whole rest of the branch unfixed."""
    lt = v.get("lessThan")
    if v.get("versionType") != "semver" or v.get("status") != "affected" or not isinstance(lt, str):
        return False
    ver = v["version"]
    r.note_intro(ver)
    b = branch_of(ver)
    if b and branch_of(lt) != b:
        r.unfixed.setdefault(b, None)
    return True


def _sv_introducing(r: _Releases, v: dict[str, Any]) -> bool:
    """A bare ``{"version": "2.6.38", "status": "affected"}``: the introducing release (the first such)."""
    if v.get("versionType") is not None or v.get("status") != "affected" or r.intro_release is not None or (
            v.get("lessThan") is not None or v.get("lessThanOrEqual") is not None):
        return False
    r.intro_release = v["version"]
    return True


# Each affected[] version entry goes through these in order; the first that applies decides.
_SEMVER_RULES = (_sv_fix_release, _sv_stable_fix, _sv_affected_branch, _sv_introducing)


def _releases(rows: list[_DyadRow], semver: tuple[dict[str, Any], ...]) -> _Releases:
    r = _Releases()
    for row in rows:
        r.note_intro(row[0])
        any(rule(r, row) for rule in _DYAD_RULES)
    for v in semver:
        any(rule(r, v) for rule in _SEMVER_RULES)
    for b in r.stable:  # a branch with a fix is not unfixed
        r.unfixed.pop(b, None)
    return r


# ---------------------------------------------------------------- the facts built from them


def _fix_commits(fix_shas: list[str], r: _Releases, subject: str, src: str) -> tuple[FixCommit, ...]:
    """The mainline fixing commits (``.sha1``), each with its first mainline release."""
    stable_shas = {sha for _, sha in r.stable.values() if sha}
    fixes: list[FixCommit] = []
    for sha in fix_shas:
        if sha in stable_shas and sha not in r.mainline_of:
            continue  # a stable backport listed beside the mainline fix
        release = r.mainline_of.get(sha)
        if release is None and len(fix_shas) == 1:
            release = r.mainline_release
        fixes.append(FixCommit(sha=sha, subject=subject, mainline=release, source=src))
    if not fixes:
        fixes = [FixCommit(sha=sha, subject=subject, mainline=release, source=src)
                 for sha, release in r.mainline_of.items() if _SHA.match(sha)]
    if not fixes and fix_shas:  # fixed only in a stable branch: keep that commit
        fixes.append(FixCommit(sha=fix_shas[0], subject=subject, mainline=None, source=src))
    if fixes and fixes[0].mainline is None and r.mainline_release and fixes[0].sha not in stable_shas:
        fixes[0] = FixCommit(sha=fixes[0].sha, subject=subject, mainline=r.mainline_release, source=src)
    return tuple(fixes)


def _introduced(intro_shas: list[str], r: _Releases, rows: list[_DyadRow], src: str) -> Introduced | None:
    """The introducing commit (``.vulnerable``, else the dyad row of the introducing release)."""
    if not intro_shas and r.intro_release:
        intro_shas = [s for ver, s, _, _ in rows if ver == r.intro_release and _SHA.match(s)][:1]
    if not (intro_shas or r.intro_release):
        return None
    return Introduced(sha=intro_shas[0] if intro_shas else None, release=r.intro_release, source=src)


def _stable_facts(r: _Releases, src: str) -> tuple[StableFix, ...]:
    """One fact per stable branch, fixed ones first, each in branch order."""
    fixed = [StableFix(branch=b, version=ver, sha=sha, source=src, introduced=r.branch_intro.get(b))
             for b, (ver, sha) in sorted(r.stable.items(), key=lambda item: _order(item[0]))]
    unfixed = [StableFix(branch=b, version=None, source=src, introduced=r.branch_intro.get(b))
               for b in sorted(r.unfixed, key=_order)]
    return (*fixed, *unfixed)


# --------------------------------------------------------------------------- the git repository


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C", GIT_CONFIG_NOSYSTEM="1")
    return env


class VulnsRepo:
    """A bare clone of the vulns repository at ``path``, kept current from ``source``."""

    def __init__(self, path: Path, source: str, *, timeout: float = 1800.0) -> None:
        self.path = Path(path)
        self.source = source
        self.timeout = timeout

    def _run(self, *args: str, cwd: Path | None = None, input: bytes | None = None,
             check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = ["git", *args] if cwd is None else ["git", "-C", str(cwd), *args]
        try:
            proc = subprocess.run(cmd, input=input, capture_output=True, env=_git_env(),
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ImportSourceError(f"git {args[0]} timed out after {self.timeout:.0f}s", source=self.source) from exc
        except FileNotFoundError as exc:
            raise ImportSourceError("the git command is not installed", source=self.source) from exc
        if check and proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ImportSourceError(
                f"git {args[0]} failed for {self.source}: {err[-1] if err else f'exit {proc.returncode}'}",
                source=self.source,
            )
        return proc

    def _source_arg(self) -> str:
        """Local paths absolute (so ``git -C`` does not change their meaning)."""
        if "://" in self.source or re.match(r"^[\w.-]+@[\w.-]+:", self.source):
            return self.source
        p = Path(self.source).expanduser()
        if not p.exists():
            raise ImportSourceError(f"CVE repository {self.source} does not exist", source=self.source)
        return str(p.resolve())

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def sync(self) -> str:
        """Clone (first run) or fetch; the commit of the source's default branch."""
        src = self._source_arg()
        if not self.exists():
            tmp = self.path.with_name(self.path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remote = "://" in src and not src.startswith("file://")
            args = ["clone", "--bare", "--quiet", "--no-tags"]
            if remote:
                args += ["--depth", "1"]  # history is not needed: later fetches diff from here
            try:
                self._run(*args, src, str(tmp))
            except ImportSourceError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            shutil.rmtree(self.path, ignore_errors=True)
            os.replace(tmp, self.path)
        else:
            # A shallow clone fetches new commits down to its boundary: the last imported commit stays.
            self._run("fetch", "--quiet", "--no-tags", "--force", src, "+HEAD:refs/sigmatch/head",
                      cwd=self.path)
            return self.resolve("refs/sigmatch/head")
        return self.resolve("HEAD")

    def resolve(self, ref: str) -> str:
        out = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=self.path, check=False)
        sha = out.stdout.decode().strip()
        if out.returncode != 0 or not _SHA.match(sha):
            raise ImportSourceError(f"CVE repository {self.source} has no commit at {ref}", source=self.source)
        return sha

    def has_commit(self, sha: str) -> bool:
        out = self._run("cat-file", "-e", f"{sha}^{{commit}}", cwd=self.path, check=False)
        return out.returncode == 0

    def record_blobs(self, commit: str) -> dict[str, dict[str, tuple[str, str, int]]]:
        """``{cve_id: {ext: (path, blob_sha, size)}}`` of every published record at ``commit``."""
        out = self._run("ls-tree", "-r", "-l", "-z", commit, "--", "cve/published/", cwd=self.path).stdout
        records: dict[str, dict[str, tuple[str, str, int]]] = {}
        for entry in out.split(b"\0"):
            if not entry:
                continue
            head, _, name = entry.decode("utf-8", "replace").partition("\t")
            m = _PUBLISHED.match(name)
            parts = head.split()
            if not m or len(parts) != 4 or parts[1] != "blob":
                continue
            size = int(parts[3]) if parts[3].isdigit() else 0
            records.setdefault(m.group(1), {})[m.group(2)] = (name, parts[2], size)
        return records

    def changed_ids(self, old: str, new: str) -> set[str]:
        """CVE ids with any file added, modified, deleted or moved under ``cve/`` between two commits."""
        out = self._run("diff", "--name-status", "--no-renames", "-z", old, new, "--", "cve/",
                        cwd=self.path).stdout
        ids: set[str] = set()
        for entry in out.split(b"\0"):
            m = _CVE_PATH.search(entry.decode("utf-8", "replace"))
            if m:
                ids.add(m.group(1))
        return ids

    def read_blobs(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Contents of many blobs in one ``git cat-file --batch`` call."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        data = self._run("cat-file", "--batch", cwd=self.path, input=("\n".join(wanted) + "\n").encode()).stdout
        out: dict[str, bytes] = {}
        pos = 0
        for sha in wanted:
            nl = data.index(b"\n", pos)
            header = data[pos:nl].split()
            pos = nl + 1
            if len(header) < 3 or header[1] == b"missing":
                continue
            size = int(header[2])
            out[sha] = data[pos:pos + size]
            pos += size + 1
        return out


# --------------------------------------------------------------------------- the import


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


def import_cve(
    repo: VulnsRepo,
    previous: Mapping[str, KnownBug],
    previous_commit: str | None,
    *,
    full: bool = False,
    progress: Progress | None = None,
    commit: str | None = None,
) -> ImportResult:
    """Bring the imported set up to date with the repository.

    ``previous`` is the imported set of the last good snapshot (``id -> bug``) and
    ``previous_commit`` the commit it was made from; ``full=True`` re-reads every record.
    ``commit`` is the commit to import when the caller has already synced the repository.
    Steps: sync (unless ``commit``), :func:`_plan` which records to read, then an
    :class:`_ImportRun` over them in batches (:func:`_batches`).
    """
    new = commit if commit is not None else _sync(repo, progress)
    plan = _plan(repo, previous_commit, new, full)
    if plan.todo is None:  # nothing changed since the last import
        return ImportResult(bugs=tuple(previous.values()), commit=new, previous_commit=previous_commit,
                            full=False, notes=plan.notes)
    run = _ImportRun(previous, plan.incremental)
    total = len(plan.todo)
    step = max(1, total // 100)
    for i, (cid, files, contents) in enumerate(_batches(repo, plan)):
        if progress and i % step == 0:
            progress("import", i, total)
        run.take(cid, files, contents)
    if progress:
        progress("import", total, total)
    return run.result(new, previous_commit, total, plan.notes)


def _sync(repo: VulnsRepo, progress: Progress | None) -> str:
    if progress:
        progress("fetch", 0, 1)
    new = repo.sync()
    if progress:
        progress("fetch", 1, 1)
    return new


_Files = dict[str, tuple[str, str, int]]  # ext -> (path, blob sha, size) of one record


@dataclass(frozen=True, slots=True)
class _Plan:
    incremental: bool
    notes: tuple[str, ...]
    blobs: dict[str, _Files]  # every published record at the new commit
    todo: list[str] | None  # the ids to read, sorted; None: nothing changed


def _plan(repo: VulnsRepo, previous_commit: str | None, new: str, full: bool) -> _Plan:
    """Incremental (the records changed since ``previous_commit``) or full (every record)."""
    notes: list[str] = []
    incremental = bool(previous_commit) and not full
    if incremental and previous_commit is not None and not repo.has_commit(previous_commit):
        notes.append(f"last imported commit {previous_commit[:12]} is not in the repository: full import")
        incremental = False
    if incremental and previous_commit == new:
        return _Plan(False, tuple(notes), {}, None)
    blobs = repo.record_blobs(new)
    if incremental and previous_commit is not None:
        todo = sorted(repo.changed_ids(previous_commit, new))
    else:
        todo = sorted(blobs)
    return _Plan(incremental, tuple(notes), blobs, todo)


def _batches(repo: VulnsRepo, plan: _Plan) -> Iterator[tuple[str, _Files, dict[str, bytes]]]:
    """(id, its files, blob contents) for every id to read; contents are read from git
    :data:`_BATCH` records at a time, so memory stays flat on a full import."""
    todo = plan.todo or []
    for start in range(0, len(todo), _BATCH):
        batch = todo[start:start + _BATCH]
        contents = repo.read_blobs(sha for c in batch for _, sha, size in plan.blobs.get(c, {}).values()
                                   if size <= _MAX_RECORD_BYTES)
        for cid in batch:
            yield cid, plan.blobs.get(cid, {}), contents


class _ImportRun:
    """The imported set being brought up to date, one record at a time."""

    def __init__(self, previous: Mapping[str, KnownBug], incremental: bool) -> None:
        self.previous = previous
        self.incremental = incremental
        self.bugs: dict[str, KnownBug] = dict(previous) if incremental else {}
        self.added: list[str] = []
        self.changed: list[str] = []
        self.removed: list[str] = []
        self.skipped: list[Skipped] = []
        self.traces = 0

    def take(self, cid: str, files: _Files, contents: dict[str, bytes]) -> None:
        """Read one record: a bug (added, changed or the same), a withdrawal, or a skip."""
        try:
            bug = _read_files(cid, files, contents)
        except MalformedRecord as exc:
            self.skipped.append(Skipped(cid, f"{files['json'][0]}: {exc}"))
            if cid in self.previous:  # keep the last good version of a record that became malformed
                self.bugs[cid] = self.previous[cid]
            return
        if bug is None and files and "json" not in files:
            exts = ", ".join(sorted("." + e for e in files))
            self.skipped.append(Skipped(cid, f"{next(iter(files.values()))[0]}: no .json record beside {exts}"))
        if bug is None:
            self._withdraw(cid)
            return
        if any(s.frames or s.title for s in bug.signatures):
            self.traces += 1
        old = self.previous.get(cid)
        if old is None:
            self.added.append(cid)
        elif old.to_dict() != bug.to_dict():
            self.changed.append(cid)
        self.bugs[cid] = bug

    def _withdraw(self, cid: str) -> None:
        if cid in self.bugs or cid in self.previous:
            self.bugs.pop(cid, None)
            if cid in self.previous:
                self.removed.append(cid)

    def result(self, commit: str, previous_commit: str | None, records: int, notes: tuple[str, ...]) -> ImportResult:
        if not self.incremental:
            self.removed.extend(sorted(set(self.previous) - set(self.bugs)))
        return ImportResult(
            bugs=tuple(self.bugs[k] for k in sorted(self.bugs, key=_id_key)),
            commit=commit,
            previous_commit=previous_commit,
            full=not self.incremental,
            added=tuple(self.added),
            changed=tuple(self.changed),
            removed=tuple(self.removed),
            skipped=tuple(self.skipped),
            records=records,
            traces=self.traces,
            notes=notes,
        )


def _read_files(cid: str, files: _Files, contents: dict[str, bytes]) -> KnownBug | None:
    """The bug of one record's files; None when there is no ``.json`` or it is rejected."""
    if "json" not in files:
        return None
    path, sha, _ = files["json"]
    too_big = [f"{e} ({n} bytes)" for e, (_, _, n) in files.items() if n > _MAX_RECORD_BYTES]
    if too_big:
        raise MalformedRecord(f"too large: {', '.join(too_big)}")
    raw = contents.get(sha)
    if raw is None:
        raise MalformedRecord("record file could not be read from git")

    def text(ext: str) -> str | None:
        entry = files.get(ext)
        return _text(contents.get(entry[1])) if entry else None

    return bug_from_record(cid, path, raw, text("dyad"), text("sha1"), text("vulnerable"))


def _id_key(cve_id: str) -> tuple[int, ...]:
    """``CVE-2024-9`` < ``CVE-2024-10``: the numbers of an id, in order."""
    return tuple(int(p) for p in re.findall(r"\d+", cve_id))
