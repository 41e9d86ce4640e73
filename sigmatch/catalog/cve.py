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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmatch.catalog.model import BugSignature, FixCommit, Introduced, KnownBug, Origin, Reference, StableFix
from sigmatch.errors import ImportSourceError

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


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


def _is_mainline(v: str) -> bool:
    """``6.11``, ``6.11-rc3``; for 2.6 kernels ``2.6.38`` (2.6.x.y is the stable form)."""
    base = v.split("-", 1)[0]
    parts = base.split(".")
    return len(parts) == (3 if base.startswith("2.6.") else 2) and all(p.isdigit() for p in parts)


def _branch(v: str) -> str | None:
    """Stable branch of a release: ``5.10.226`` -> ``5.10``; ``2.6.32.5`` -> ``2.6.32``."""
    base = v.split("-", 1)[0]
    parts = base.split(".")
    if not all(p.isdigit() for p in parts):
        return None
    n = 3 if base.startswith("2.6.") else 2
    return ".".join(parts[:n]) if len(parts) >= n else None


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

    Raises :class:`MalformedRecord` with a short reason when the record cannot be used.
    """
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
    descriptions = cna.get("descriptions")
    description = ""
    if isinstance(descriptions, list):
        for d in descriptions:
            if isinstance(d, dict) and isinstance(d.get("value"), str):
                description = d["value"]
                if d.get("lang", "en").startswith("en"):
                    break
    title = cna.get("title") if isinstance(cna.get("title"), str) else None
    subject = _subject(description, title)
    if not subject:
        raise MalformedRecord("no description and no title")
    affected = cna.get("affected")
    if affected is not None and not isinstance(affected, list):
        raise MalformedRecord("containers.cna.affected is not a list")

    src = cve_id
    files: dict[str, None] = {}
    semver: list[dict[str, Any]] = []
    for block in affected or ():
        if not isinstance(block, dict):
            continue
        for f in block.get("programFiles") or ():
            if isinstance(f, str):
                files.setdefault(f, None)
        for v in block.get("versions") or ():
            if isinstance(v, dict) and isinstance(v.get("version"), str):
                semver.append(v)

    rows = _dyad(dyad)
    fix_shas = _shas(sha1)
    # Releases by fixing sha, from the dyad; stable fixes per branch (the earliest release wins).
    mainline_of: dict[str, str] = {}
    stable: dict[str, tuple[str, str | None]] = {}
    unfixed: dict[str, None] = {}
    # A branch that got the bug by a stable backport: its first release with the bug.
    branch_intro: dict[str, str] = {}

    def note_intro(ver: str) -> None:
        b = _branch(ver)
        if b and not _is_mainline(ver) and (b not in branch_intro or _version_key(ver) < _version_key(branch_intro[b])):
            branch_intro[b] = ver

    for vuln_ver, _vuln_sha, fixed_ver, fixed_sha in rows:
        note_intro(vuln_ver)
        if fixed_ver == "0":
            b = _branch(vuln_ver)
            if b:
                unfixed.setdefault(b, None)
            continue
        if _is_mainline(fixed_ver):
            mainline_of.setdefault(fixed_sha, fixed_ver)
            continue
        b = _branch(fixed_ver)
        if b and (b not in stable or _version_key(fixed_ver) < _version_key(stable[b][0])):
            stable[b] = (fixed_ver, fixed_sha if _SHA.match(fixed_sha) else None)
    mainline_release: str | None = None
    intro_release: str | None = None
    for v in semver:
        ver = v["version"]
        vtype = v.get("versionType")
        status = v.get("status")
        lte = v.get("lessThanOrEqual")
        lt = v.get("lessThan")
        if vtype == "original_commit_for_fix" and mainline_release is None:
            mainline_release = ver
        elif vtype == "semver" and status == "unaffected" and isinstance(lte, str) and lte.endswith(".*"):
            b = lte[:-2]
            if b not in stable or _version_key(ver) < _version_key(stable[b][0]):
                stable[b] = (ver, stable[b][1] if b in stable and stable[b][0] == ver else None)
        elif vtype == "semver" and status == "affected" and isinstance(lt, str):
            note_intro(ver)
            b = _branch(ver)
            if b and _branch(lt) != b:  # "5.10.220" < "5.11": the whole rest of the branch
                unfixed.setdefault(b, None)
        elif vtype is None and status == "affected" and lt is None and lte is None and intro_release is None:
            intro_release = ver
    for b in stable:
        unfixed.pop(b, None)

    stable_shas = {sha for _, sha in stable.values() if sha}
    fixes: list[FixCommit] = []
    for sha in fix_shas:
        if sha in stable_shas and sha not in mainline_of:
            continue  # a stable backport listed beside the mainline fix
        release = mainline_of.get(sha)
        if release is None and len(fix_shas) == 1:
            release = mainline_release
        fixes.append(FixCommit(sha=sha, subject=subject, mainline=release, source=src))
    if not fixes:
        for sha, release in mainline_of.items():
            if _SHA.match(sha):
                fixes.append(FixCommit(sha=sha, subject=subject, mainline=release, source=src))
    if not fixes and fix_shas:  # fixed only in a stable branch: keep that commit
        fixes.append(FixCommit(sha=fix_shas[0], subject=subject, mainline=None, source=src))
    if fixes and fixes[0].mainline is None and mainline_release and fixes[0].sha not in stable_shas:
        fixes[0] = FixCommit(sha=fixes[0].sha, subject=subject, mainline=mainline_release, source=src)

    intro_shas = _shas(vulnerable)
    if not intro_shas and intro_release:
        intro_shas = [s for ver, s, _, _ in rows if ver == intro_release and _SHA.match(s)][:1]
    introduced = (
        Introduced(sha=intro_shas[0] if intro_shas else None, release=intro_release, source=src)
        if intro_shas or intro_release else None
    )

    sigs = signatures_in(description, f"{cve_id} description") if with_traces else ()
    funcs = functions_in(subject + "\n" + description)
    stable_facts = [
        StableFix(branch=b, version=ver, sha=sha, source=src, introduced=branch_intro.get(b))
        for b, (ver, sha) in sorted(stable.items(), key=lambda kv: _version_key(kv[0]))
    ]
    stable_facts += [StableFix(branch=b, version=None, source=src, introduced=branch_intro.get(b))
                     for b in sorted(unfixed, key=_version_key)]
    return KnownBug(
        id=cve_id,
        title=subject,
        origin=Origin.CVE,
        kinds=tuple(dict.fromkeys(s.kind for s in sigs if s.kind)),
        signatures=sigs,
        fixes=tuple(fixes),
        stable=tuple(stable_facts),
        introduced=introduced,
        references=(Reference(kind="cve", value=cve_id, url=f"https://www.cve.org/CVERecord?id={cve_id}"),),
        cves=(cve_id,),
        files=tuple(files),
        functions=funcs,
        unfixed_branches=tuple(sorted(unfixed, key=_version_key)),
        source_path=path,
    )


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
        for field in out.split(b"\0"):
            m = _CVE_PATH.search(field.decode("utf-8", "replace"))
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
    """
    if commit is not None:
        new = commit
    else:
        if progress:
            progress("fetch", 0, 1)
        new = repo.sync()
        if progress:
            progress("fetch", 1, 1)
    notes: list[str] = []
    incremental = bool(previous_commit) and not full and previous_commit is not None
    if incremental and previous_commit is not None and not repo.has_commit(previous_commit):
        notes.append(f"last imported commit {previous_commit[:12]} is not in the repository: full import")
        incremental = False
    if incremental and previous_commit == new:
        return ImportResult(bugs=tuple(previous.values()), commit=new, previous_commit=previous_commit,
                            full=False, notes=tuple(notes))
    blobs = repo.record_blobs(new)
    if incremental and previous_commit is not None:
        todo = sorted(repo.changed_ids(previous_commit, new))
    else:
        todo = sorted(blobs)

    result: dict[str, KnownBug] = dict(previous) if incremental else {}
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    skipped: list[Skipped] = []
    traces = 0
    total = len(todo)
    step = max(1, total // 100)
    contents: dict[str, bytes] = {}
    for i, cid in enumerate(todo):
        if i % _BATCH == 0:  # read the records in batches: memory stays flat on a full import
            batch = todo[i:i + _BATCH]
            contents = repo.read_blobs(sha for c in batch for _, sha, size in blobs.get(c, {}).values()
                                       if size <= _MAX_RECORD_BYTES)
        if progress and i % step == 0:
            progress("import", i, total)
        files = blobs.get(cid, {})
        bug: KnownBug | None = None
        if "json" in files:
            path, sha, _ = files["json"]

            def get(ext: str, files: dict[str, tuple[str, str, int]] = files,
                    contents: dict[str, bytes] = contents) -> str | None:
                entry = files.get(ext)
                return _text(contents.get(entry[1])) if entry else None

            try:
                too_big = [f"{e} ({n} bytes)" for e, (_, _, n) in files.items() if n > _MAX_RECORD_BYTES]
                if too_big:
                    raise MalformedRecord(f"too large: {', '.join(too_big)}")
                raw = contents.get(sha)
                if raw is None:
                    raise MalformedRecord("record file could not be read from git")
                bug = bug_from_record(cid, path, raw, get("dyad"), get("sha1"), get("vulnerable"))
            except MalformedRecord as exc:
                skipped.append(Skipped(cid, f"{path}: {exc}"))
                if cid in previous:  # keep the last good version of a record that became malformed
                    result[cid] = previous[cid]
                continue
        elif files:
            exts = ", ".join(sorted("." + e for e in files))
            skipped.append(Skipped(cid, f"{next(iter(files.values()))[0]}: no .json record beside {exts}"))
        if bug is None:
            if cid in result or cid in previous:
                result.pop(cid, None)
                if cid in previous:
                    removed.append(cid)
            continue
        if any(s.frames or s.title for s in bug.signatures):
            traces += 1
        old = previous.get(cid)
        if old is None:
            added.append(cid)
        elif old.to_dict() != bug.to_dict():
            changed.append(cid)
        result[cid] = bug
    if not incremental:
        removed.extend(sorted(set(previous) - set(result)))
    if progress:
        progress("import", total, total)
    return ImportResult(
        bugs=tuple(result[k] for k in sorted(result, key=_id_key)),
        commit=new,
        previous_commit=previous_commit,
        full=not incremental,
        added=tuple(added),
        changed=tuple(changed),
        removed=tuple(removed),
        skipped=tuple(skipped),
        records=total,
        traces=traces,
        notes=tuple(notes),
    )


def _id_key(cve_id: str) -> tuple[int, ...]:
    return _version_key(cve_id)
