"""The parser's rules as versioned data: skip lists, anchors, syscall prefixes, per-class skips.

Each list is one small text file beside this module (``#`` comments, one entry per line). They
are read and compiled once, at first use; a malformed entry raises at load time, loudly, naming
the file and line, so a bad rule never silently changes titles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sigmatch.errors import SigmatchError

RULES_DIR = Path(__file__).resolve().parent


class RuleFileError(SigmatchError, ValueError):
    """A rules file has an entry that does not compile (a packaging/editing error, raised at load)."""


def _lines(name: str) -> list[tuple[int, str, str]]:
    """(line number, entry, section) for each non-comment line; section = last '# ---' header."""
    out: list[tuple[int, str, str]] = []
    section = ""
    for n, raw in enumerate((RULES_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("# ---"):
            section = line[5:].strip()
            continue
        if not line or line.startswith("#"):
            continue
        out.append((n, line, section))
    return out


def _compile(name: str, n: int, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RuleFileError(f"{name}:{n}: bad pattern {pattern!r}: {exc}") from exc


def _union(name: str, entries: list[tuple[int, str]]) -> re.Pattern[str]:
    """One regex that finds a match wherever one of the entries does (only match/no match is
    used: never its position or groups)."""
    for n, p in entries:
        _compile(name, n, p)
    if not entries:
        return re.compile(r"(?!x)x")
    return re.compile(factored_union([p for _, p in entries]))


def plain_union(patterns: list[str]) -> str:
    """The union as written: the reference :func:`factored_union` is tested against."""
    return "|".join(f"(?:{p})" for p in patterns)


_PLAIN_FIRST = re.compile(r"[A-Za-z0-9_]")


def factored_union(patterns: list[str]) -> str:
    """The union of ``patterns`` for ``search``, factored so the engine tries few alternatives
    at each position of a function name: ``^``-anchored patterns share one ``^(?:...)`` group
    and patterns that start with a plain character share a group per character
    (``k(?:asan|msan)`` for ``kasan|kmsan``). A 295-pattern skip list searched in a name no
    pattern matches costs ~10 us as a plain union. Patterns with a top-level ``|``, or whose
    first character is special or quantified, stay alternatives of their own.
    """
    anchored: list[str] = []
    by_char: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in patterns:
        if _top_level_bar(p):
            rest.append(p)
        elif p.startswith("^"):
            anchored.append(p[1:])
        elif _PLAIN_FIRST.match(p) and p[1:2] not in ("?", "*", "+", "{"):
            by_char.setdefault(p[0], []).append(p[1:])
        else:
            rest.append(p)
    parts = [f"^(?:{'|'.join(anchored)})"] if anchored else []
    parts += [f"{c}(?:{'|'.join(r)})" for c, r in by_char.items()]
    parts += [f"(?:{p})" for p in rest]
    return "|".join(parts)


def _top_level_bar(p: str) -> bool:
    """``p`` has a ``|`` outside every group and character class (``_trap$|do_trap``)."""
    depth = 0
    in_class = False
    k = 0
    while k < len(p):
        c = p[k]
        if c == "\\":
            k += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if p[k + 1:k + 2] == "^":
                k += 1
            if p[k + 1:k + 2] == "]":  # "[]...]" / "[^]...]": a literal "]" first
                k += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        k += 1
    return False


@dataclass(frozen=True, slots=True)
class SkipList:
    """The global skip list, one compiled union per commented section (for the notes)."""

    sections: tuple[tuple[str, re.Pattern[str]], ...]
    union: re.Pattern[str]

    def why(self, function: str) -> str | None:
        """The section name of the first pattern that matches ``function``, or None."""
        if not self.union.search(function):
            return None
        for section, rx in self.sections:
            if rx.search(function):
                return section or "generic frame"
        return "generic frame"


@cache
def skip_list() -> SkipList:
    by_section: dict[str, list[tuple[int, str]]] = {}
    allp: list[tuple[int, str]] = []
    for n, entry, section in _lines("skip.txt"):
        by_section.setdefault(section, []).append((n, entry))
        allp.append((n, entry))
    sections = tuple((s, _union("skip.txt", e)) for s, e in by_section.items())
    return SkipList(sections, _union("skip.txt", allp))


@cache
def pattern_union(name: str) -> re.Pattern[str]:
    """A whole file of regexes as one substring-matching union (anchors, hang skips)."""
    return _union(name, [(n, e) for n, e, _ in _lines(name)])


@cache
def class_skips() -> dict[str, re.Pattern[str]]:
    out: dict[str, re.Pattern[str]] = {}
    for n, entry, _ in _lines("class_skips.txt"):
        key, sep, rest = entry.partition(":")
        if not sep or not rest.split():
            raise RuleFileError(f"class_skips.txt:{n}: expected '<class>: <regex> ...'")
        out[key.strip()] = _union("class_skips.txt", [(n, p) for p in rest.split()])
    return out


@cache
def hang_buckets() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for n, entry, _ in _lines("hang_buckets.txt"):
        parts = entry.split()
        if len(parts) != 2:
            raise RuleFileError(f"hang_buckets.txt:{n}: expected '<regex> <bucket>'")
        out.append((_compile("hang_buckets.txt", n, parts[0]), parts[1]))
    return tuple(out)


@cache
def syscall_prefixes() -> tuple[tuple[str, str], ...]:
    """(prefix, replacement) pairs, longest prefix first."""
    out = []
    for n, entry, _ in _lines("syscall_prefixes.txt"):
        parts = entry.split()
        if len(parts) not in (1, 2):
            raise RuleFileError(f"syscall_prefixes.txt:{n}: expected '<prefix> [<replacement>]'")
        out.append((parts[0], parts[1] if len(parts) == 2 else ""))
    return tuple(sorted(out, key=lambda p: -len(p[0])))


@cache
def out_of_tree_modules() -> re.Pattern[str]:
    """Known out-of-tree module names (out_of_tree.txt), as one whole-name regex."""
    entries = [(n, e) for n, e, _ in _lines("out_of_tree.txt")]
    for n, e in entries:
        _compile("out_of_tree.txt", n, e)
    return re.compile("(?:" + "|".join(f"(?:{e})" for _, e in entries) + r")\Z") if entries else re.compile(r"(?!x)x")


def load_all() -> None:
    """Load and compile every rules file now (raises :class:`RuleFileError` on a bad entry)."""
    skip_list()
    pattern_union("stall_anchors.txt")
    pattern_union("hang_skip.txt")
    pattern_union("signature_glue.txt")
    pattern_union("stack_bottoms.txt")
    class_skips()
    hang_buckets()
    syscall_prefixes()
    out_of_tree_modules()
