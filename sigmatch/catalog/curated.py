"""The curated known-bugs catalog: ``signatures/*.yaml`` → :class:`KnownBug` values.

One YAML file per bug, validated by the JSON Schema beside them (``signatures/schema.json``) and
by checks a schema cannot express (id = file name, unique ids, every fact has a ``source`` or says
``verified: false``, example traces that parse to a crash report). Every problem is a
:class:`SignatureFileError` reading ``file: field: problem`` (``fixes[0].sha: not a 40-hex commit
sha``).

* :func:`load_curated` returns the bugs, or raises the first problem in a file's content;
* :func:`lint` returns every problem in the directory (``sigmatch db lint`` prints them).

Problems with an example trace (it parses to no report, or to one that disagrees with the entry's
``signatures``) are reported by :func:`lint` only: the entry still loads with the signatures that
could be derived, so that a change of parser rules never takes the whole catalog down.

Signatures come from the entry's ``signatures`` and from its ``examples``, parsed with
:func:`sigmatch.parse_log` and :func:`sigmatch.signature_of`. Pure: reads files, no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sigmatch import config
from sigmatch.catalog.model import (
    BugSignature,
    FixCommit,
    Introduced,
    KnownBug,
    Origin,
    Reference,
    StableFix,
)
from sigmatch.catalog.versions import version_from_log
from sigmatch.errors import SignatureFileError
from sigmatch.trace.parse import parse_log
from sigmatch.trace.signature import signature_of

__all__ = ["MAX_FILE_BYTES", "default_schema_path", "lint", "load_curated", "load_file"]

MAX_FILE_BYTES = 1_048_576  # a curated entry is a page of YAML: anything larger is a mistake
SCHEMA_NAME = "schema.json"
_SUFFIXES = (".yaml", ".yml")

# jsonschema patterns → the problem a curator reads
_PATTERN_PROBLEMS = {
    "^[0-9a-f]{40}$": "not a 40-hex commit sha (lower case, full length)",
    "^[0-9]+\\.[0-9]+(\\.[0-9]+){0,2}(-rc[0-9]+)?$": "not an upstream release such as \"4.17\", \"4.14.38\" or \"6.11-rc3\"",
    "^[0-9]+\\.[0-9]+(\\.[0-9]+)?$": "not a stable branch such as \"4.14\"",
    "^[a-z0-9][a-z0-9._-]{0,99}$": "ids are up to 100 lower case letters, digits, '.', '_' and '-'",
    "^[A-Za-z_][A-Za-z0-9_.$]*$": "not a kernel function name",
    "^https?://": "not an http(s) URL",
}


def default_schema_path() -> Path:
    """The schema shipped with sigmatch's own curated tree (``signatures/schema.json``)."""
    return config.curated_dir() / SCHEMA_NAME


def load_curated(directory: Path) -> list[KnownBug]:
    """Every curated bug in ``directory`` (``Settings.signatures_dir``; a missing one is a problem).

    Raises :class:`SignatureFileError` naming file, field and problem on the first problem found.
    """
    bugs, problems, _ = _load_dir(Path(directory))
    if problems:
        raise problems[0]
    return bugs


def lint(directory: Path) -> list[SignatureFileError]:
    """Every problem in ``directory`` (empty list: the tree is clean)."""
    _, problems, example_problems = _load_dir(Path(directory))
    return sorted([*problems, *example_problems], key=lambda e: e.path)


def load_file(path: Path, schema_path: Path | None = None) -> KnownBug:
    """One curated file (raises its first problem). Duplicate ids are a directory-level check."""
    validator = _validator(schema_path or _schema_for(path.parent))
    entry = _Entry(path, validator)
    bug, problems = entry.load()
    if problems or bug is None:
        raise problems[0]
    return bug


# ----------------------------------------------------------------------------------- internals


def _schema_for(directory: Path) -> Path:
    own = directory / SCHEMA_NAME
    return own if own.is_file() else default_schema_path()


def _validator(schema_path: Path) -> jsonschema.Draft202012Validator:
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except FileNotFoundError as exc:
        raise SignatureFileError(str(schema_path), "(schema)", "schema file not found") from exc
    except (OSError, ValueError, jsonschema.SchemaError) as exc:
        raise SignatureFileError(str(schema_path), "(schema)", f"unusable JSON Schema: {exc}") from exc
    return jsonschema.Draft202012Validator(schema)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.suffix in _SUFFIXES and not p.name.startswith((".", "_")) and p.is_file())


def _load_dir(directory: Path) -> tuple[list[KnownBug], list[SignatureFileError], list[SignatureFileError]]:
    """(bugs, problems that stop loading, problems with example traces)."""
    if not directory.is_dir():
        return [], [SignatureFileError(str(directory), "(directory)", "no such directory of curated known bugs "
                                       "(SIGMATCH_SIGNATURES_DIR)")], []
    validator = _validator(_schema_for(directory))
    bugs: list[KnownBug] = []
    problems: list[SignatureFileError] = []
    example_problems: list[SignatureFileError] = []
    seen: dict[str, Path] = {}
    for path in _files(directory):
        entry = _Entry(path, validator)
        bug, file_problems = entry.load()
        problems.extend(file_problems)
        example_problems.extend(entry.example_problems)
        if bug is None:
            continue
        if bug.id in seen:
            problems.append(SignatureFileError(str(path), "id", f"duplicate id {bug.id!r} (also in {seen[bug.id].name})"))
            continue
        seen[bug.id] = path
        if not file_problems:
            bugs.append(bug)
    return bugs, problems, example_problems


# libyaml's C parser when PyYAML was built with it (the pure-Python one is ~20x slower on
# the long block scalars that example traces are); both are safe loaders.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_NESTING = 32  # a curated entry nests four levels deep; far deeper is hostile or broken


def _check_events(text: str) -> None:
    """Walk the YAML events once before composing: refuse anchors/aliases (a curated file has no
    use for them, and alias bombs make validation exponential) and deep nesting (PyYAML's
    composer is recursive: thousands of ``[`` cost seconds and end in RecursionError)."""
    depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(None, None, "anchors and aliases (*name) are not allowed",
                                       event.start_mark)  # type: ignore[arg-type]
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise yaml.MarkedYAMLError(None, None, f"nested more than {MAX_NESTING} levels deep",
                                           event.start_mark)  # type: ignore[arg-type]
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _field(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


@dataclass(frozen=True, slots=True)
class _Problem:
    field: str
    problem: str


class _Entry:
    """One YAML file: read, validate, check, build."""

    def __init__(self, path: Path, validator: jsonschema.Draft202012Validator) -> None:
        self.path = path
        self.validator = validator
        self.problems: list[SignatureFileError] = []
        self.example_problems: list[SignatureFileError] = []  # lint-only: the entry still loads

    def _add(self, field: str, problem: str) -> None:
        self.problems.append(SignatureFileError(str(self.path), field, problem))

    def _add_example(self, field: str, problem: str) -> None:
        self.example_problems.append(SignatureFileError(str(self.path), field, problem))

    def load(self) -> tuple[KnownBug | None, list[SignatureFileError]]:
        doc = self._read()
        if doc is None:
            return None, self.problems
        for p in self._schema_problems(doc):
            self._add(p.field, p.problem)
        if self.problems:
            # a wrong shape makes the rest meaningless, but a duplicate-id check still wants the id
            bug_id = doc.get("id")
            stub = KnownBug(id=bug_id, title="") if isinstance(bug_id, str) else None
            return stub, self.problems
        self._check_facts(doc)
        if doc["id"] != self.path.stem:
            self._add("id", f"id {doc['id']!r} differs from the file name {self.path.stem!r}")
        signatures = self._signatures(doc)
        bug = self._build(doc, signatures)
        return bug, self.problems

    # ---- reading
    def _read(self) -> dict[str, Any] | None:
        try:
            size = self.path.stat().st_size
            if size > MAX_FILE_BYTES:
                self._add("(file)", f"{size} bytes: larger than the {MAX_FILE_BYTES} bytes a curated entry may have")
                return None
            data = self.path.read_bytes()
        except OSError as exc:
            self._add("(file)", f"cannot be read: {exc.strerror or exc}")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._add("(file)", f"not UTF-8 text (byte {exc.start})")
            return None
        if "\x00" in text:
            self._add("(file)", "holds NUL bytes: not a text file")
            return None
        try:
            _check_events(text)
            doc = yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader (no Python objects)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
            self._add("(yaml)", f"{where}{exc.problem or exc.context or 'invalid YAML'}")
            return None
        except (yaml.YAMLError, RecursionError) as exc:
            self._add("(yaml)", f"invalid YAML: {type(exc).__name__}")
            return None
        if not isinstance(doc, dict):
            self._add("(document)", f"must be a mapping of fields, not {_yaml_type(doc)}")
            return None
        return doc

    def _schema_problems(self, doc: dict[str, Any]) -> Iterator[_Problem]:
        errors = sorted(self.validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for err in errors:
            path = list(err.absolute_path)
            if err.validator == "required":
                missing = re.search(r"'([^']+)' is a required property", err.message)
                name = missing.group(1) if missing else "?"
                yield _Problem(_field([*path, name]), "required field is missing")
            elif err.validator == "anyOf" and not path:
                yield _Problem("signatures", "an entry needs `signatures` or `examples` (or both)")
            elif err.validator == "additionalProperties":
                extra = re.findall(r"'([^']+)'", err.message.split("(")[-1])
                for name in extra or ["?"]:
                    yield _Problem(_field([*path, name]), "unknown field (a typo? see signatures/schema.json)")
            elif err.validator == "pattern":
                yield _Problem(_field(path), f"{err.instance!r}: {_PATTERN_PROBLEMS.get(str(err.validator_value), 'does not match ' + str(err.validator_value))}")
            elif err.validator == "type":
                hint = ""
                if isinstance(err.instance, float | int) and not isinstance(err.instance, bool) and "string" in str(err.validator_value):
                    hint = " (quote it: YAML reads 4.10 as the number 4.1)"
                yield _Problem(_field(path), f"{_yaml_type(err.instance)} where {err.validator_value} is expected{hint}")
            elif err.validator == "oneOf" and path and path[-1] == "version":
                hint = " (quote it: YAML reads 4.10 as the number 4.1)" if isinstance(err.instance, float | int) else ""
                yield _Problem(_field(path), f"{err.instance!r}: not an upstream release nor null{hint}")
            elif err.validator == "enum":
                yield _Problem(_field(path), f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}")
            else:
                yield _Problem(_field(path), err.message)

    # ---- checks the schema cannot express
    def _check_facts(self, doc: dict[str, Any]) -> None:
        facts: list[tuple[str, dict[str, Any]]] = []
        if "introduced" in doc:
            facts.append(("introduced", doc["introduced"]))
        facts += [(f"fixes[{i}]", f) for i, f in enumerate(doc.get("fixes", []))]
        facts += [(f"stable[{i}]", s) for i, s in enumerate(doc.get("stable", []))]
        for where, fact in facts:
            verified = fact.get("verified", True)
            if verified and not fact.get("source"):
                self._add(f"{where}.source", "a fact needs a `source`, or `verified: false` until someone checks it")
        for i, s in enumerate(doc.get("stable", [])):
            for key in ("version", "introduced"):
                value = s.get(key)
                if value is not None and not (value == s["branch"] or value.startswith(s["branch"] + ".")):
                    self._add(f"stable[{i}].{key}", f"{value!r} is not a release of branch {s['branch']!r}")
        shas = [f["sha"] for f in doc.get("fixes", [])]
        for i, sha in enumerate(shas):
            if sha in shas[:i]:
                self._add(f"fixes[{i}].sha", "listed twice")
        for i, sig in enumerate(doc.get("signatures", [])):
            if not sig.get("title") and not sig.get("frames"):
                self._add(f"signatures[{i}]", "a signature needs a `title` or `frames`")

    def _signatures(self, doc: dict[str, Any]) -> list[BugSignature]:
        explicit = [
            BugSignature(title=s.get("title"), alt_titles=tuple(s.get("alt_titles", ())),
                         frames=tuple(s.get("frames", ())), kind=s.get("kind"), files=tuple(s.get("files", ())),
                         low_information=bool(s.get("frames")) and len(s["frames"]) < 2 and not s.get("title"),
                         source=s.get("source") or f"signatures[{i}]")
            for i, s in enumerate(doc.get("signatures", []))
        ]
        derived: list[BugSignature] = []
        for i, example in enumerate(doc.get("examples", [])):
            where = f"examples[{i}].trace"
            try:
                reports = parse_log(example["trace"])
            except Exception as exc:  # the parser must never raise; if it does, say where
                self._add_example(where, f"the parser failed on it: {type(exc).__name__}: {exc}")
                continue
            if not reports:
                self._add_example(where, "parses to no crash report")
                continue
            report = reports[0]
            if report.corrupted:
                self._add_example(where, f"parses to a corrupted report ({report.corrupted_reason or 'no reason given'})")
                continue
            sig = signature_of(report)
            derived_sig = BugSignature(title=sig.title, alt_titles=sig.alt_titles, frames=sig.frames,
                                       kind=sig.kind.value, files=sig.files, low_information=sig.low_information,
                                       source=f"examples[{i}]: {example['source']}",
                                       # the matcher's tie-breaker between bugs with one title
                                       kernel=report.kernel_version or _log_kernel(example["trace"]))
            if explicit and not any(_agrees(derived_sig, e) for e in explicit):
                self._add_example(where, f"its signature (title {sig.title!r}, frames {' > '.join(sig.frames[:5]) or '-'}) "
                                 f"matches none of the entry's `signatures`")
            derived.append(derived_sig)
        # explicit first (curated on purpose), then derived ones not already covered
        out = list(explicit)
        for d in derived:
            if not any(d.title == e.title and d.frames == e.frames for e in out):
                out.append(d)
        return out

    # ---- building
    def _build(self, doc: dict[str, Any], signatures: list[BugSignature]) -> KnownBug:
        intro = doc.get("introduced")
        refs = tuple(Reference(kind=r["kind"], value=r["value"], url=r.get("url"), title=r.get("title"))
                     for r in doc.get("references", []))
        cves = tuple(dict.fromkeys(r.value for r in refs if r.kind == "cve"))
        stable = tuple(StableFix(branch=s["branch"], version=s["version"], sha=s.get("sha"),
                                 source=s.get("source"), verified=s.get("verified", True),
                                 introduced=s.get("introduced"))
                       for s in doc.get("stable", []))
        kinds = doc.get("kinds") or list(dict.fromkeys(s.kind for s in signatures if s.kind))
        return KnownBug(
            id=doc["id"],
            title=doc["title"],
            origin=Origin.CURATED,
            summary=" ".join(doc.get("summary", "").split()),
            kinds=tuple(kinds),
            signatures=tuple(signatures),
            fixes=tuple(FixCommit(sha=f["sha"], subject=f.get("subject", ""), mainline=f.get("mainline"),
                                  source=f.get("source"), verified=f.get("verified", True))
                        for f in doc.get("fixes", [])),
            stable=stable,
            introduced=Introduced(sha=intro.get("sha"), subject=intro.get("subject"), release=intro.get("release"),
                                  source=intro.get("source"), verified=intro.get("verified", True))
            if intro else None,
            references=refs,
            cves=cves,
            files=tuple(doc.get("files", ())),
            functions=tuple(doc.get("functions", ())),
            unfixed_branches=tuple(s.branch for s in stable if s.version is None),
            withdrawn=bool(doc.get("withdrawn", False)),
            # where the entry comes from in the curated tree, not where this server keeps it
            source_path=f"signatures/{self.path.name}",
        )


def _log_kernel(trace: str) -> str | None:
    kv = version_from_log(trace)
    return kv.raw if kv is not None else None


def _agrees(derived: BugSignature, explicit: BugSignature) -> bool:
    """Does an example's signature match a curated one? Same title, or the curated frames appear
    in order among the example's frames."""
    if explicit.title and derived.title and (explicit.title == derived.title or derived.title in explicit.alt_titles
                                             or explicit.title in derived.alt_titles):
        return True
    if explicit.frames:
        it = iter(derived.frames)
        return all(f in it for f in explicit.frames)
    return False


def _yaml_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
