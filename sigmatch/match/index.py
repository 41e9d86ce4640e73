"""The candidate index: what each known bug offers as evidence, and who shares a token with a query.

Built once per catalog. For every bug it precomputes :class:`BugFeatures` (exact title keys, the
frame sequences of its quoted traces, the identifiers its record and fix subject name, the files
and directories its fix changed, subsystem words from the fix subject, the kind words of the fix
subject, release ordinals for version plausibility). Tokens go into inverted indexes, one
namespace per kind of evidence, each with document frequencies for rarity (IDF) weights::

    t:<title>      exact titles and alternative titles of the bug's signatures
    f:<function>   functions of the bug's quoted traces (signature frames)
    i:<function>   identifiers the record names (description functions, fix subject identifiers)
    p:<path>       files the fix changed (and files of symbolized signature frames)
    d:<dir>        directories of those files
    s:<word>       subsystem words: fix subject prefixes ("fsnotify:", "USB: sisusbvga:")

:meth:`CandidateIndex.lookup` walks only the postings of the query's own tokens, never the whole
catalog; postings of tokens that thousands of bugs share (``net``, ``kfree``) are skipped since
their IDF weight is close to nothing anyway.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import KnownBug, Origin

# The release line is trace/kversion.py's (release_ordinal and release_point re-exported for the scorer's tests).
from sigmatch.trace.kversion import release_ordinal as release_ordinal
from sigmatch.trace.kversion import release_point as release_point
from sigmatch.trace.kversion import release_position

# Identifiers in fix subjects and record text: kernel symbols are snake_case or end with "()".
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}(?:\(\))?")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# A fix that frees or releases what was left allocated (not "use after free", "double free").
_FREES = re.compile(r"(?i)(?<!after )(?<!double )(?<!after-)(?<!double-)\b(?:free|release|put)s?\b(?! after)(?!-after)"
                    r"(?! (?:path|race|bug|crash|warning|splat|deadlock|hang|oops))")
_INFO_LEAK = re.compile(r"(?i)\b(?:info(?:rmation)?|data|stack|kernel|uninit\w*|pointer|address)[- ]?leak")
_MEMORY_LEAK = re.compile(r"(?i)\b(?:memory|mem|refcount|resource|reference|object|skb|page)[- ]?leak|memleak")
_RECURRENCE = re.compile(r"\s+\(\d+\)$")
_SPACES = re.compile(r"\s+")

# Words of a fix subject that say nothing about where the bug is ("net: fix a use-after-free").
_SUBJECT_STOP = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "not",
    "no", "when", "if", "while", "into", "after", "before", "fix", "fixes", "fixed", "fixing", "add",
    "adds", "added", "remove", "removes", "drop", "avoid", "prevent", "make", "use", "handle", "check",
    "don't", "dont", "do", "does", "only", "also", "correctly", "properly", "possible", "potential",
    "missing", "wrong", "bad", "revert", "error", "return", "set", "get", "init", "free",
})

# Kind words: what a fix subject says about the crash, and the crash kinds it agrees with.
KIND_WORDS: dict[str, frozenset[str]] = {
    "uaf": frozenset({"use-after-free", "uaf", "use-after-frees", "after-free", "dangling", "freed"}),
    "oob": frozenset({"out-of-bounds", "oob", "overflow", "overrun", "bounds", "overread", "overflows",
                      "underflow", "index"}),
    "null": frozenset({"null", "null-ptr-deref", "null-pointer", "nullptr", "npd"}),
    "leak": frozenset({"leak", "leaks", "leaking", "memleak", "refcount"}),
    "uninit": frozenset({"uninit", "uninit-value", "uninitialized", "uninitialised", "initialize",
                         "initialise", "kmsan", "infoleak", "zero-initialize"}),
    "deadlock": frozenset({"deadlock", "deadlocks", "lockdep", "circular", "recursive", "abba", "sleeping"}),
    # A fix that names a lock may be a deadlock fix ("fix locking in ..._error path") as well as a
    # race fix ("Protect mgmt_pending list with its own lock" for a corrupted list): a class of its
    # own, which agrees with the lock-shaped crash kinds and weighs against no other (SOFT_CLASSES).
    "locking": frozenset({"lock", "locking", "mutex", "spinlock", "rcu"}),
    "hang": frozenset({"hang", "hung", "stall", "stalls", "lockup", "loop", "infinite", "livelock",
                       "wait", "busy", "starvation", "timeout"}),
    "warning": frozenset({"warning", "warn", "warn_on", "splat", "warnings"}),
    "bug": frozenset({"bug", "bug_on", "assertion", "crash", "oops", "panic"}),
    "race": frozenset({"race", "races", "racy", "data-race", "concurrent"}),
    "double": frozenset({"double-free", "double", "invalid-free"}),
    "shift": frozenset({"shift-out-of-bounds", "shift", "ubsan"}),
    "divide": frozenset({"divide", "division", "zero", "div"}),
}


SOFT_CLASSES = frozenset({"locking"})  # kind classes that never make a kind_miss

_KIND_VOCABULARY = frozenset(w for vocab in KIND_WORDS.values() for w in vocab)


def norm_function(name: str) -> str:
    """A function name as an index token: leading underscores and a trailing "()" dropped."""
    name = name.strip()
    if name.endswith("()"):
        name = name[:-2]
    return name.lstrip("_").lower()


def norm_title(title: str) -> str:
    """An exact title key: whitespace collapsed, syzbot's " (N)" recurrence suffix dropped."""
    return _RECURRENCE.sub("", _SPACES.sub(" ", title.strip()))


def norm_path(path: str) -> str:
    p = path.strip().lstrip("./")
    for prefix in ("a/", "b/", "linux/"):
        if p.startswith(prefix):
            p = p[len(prefix):]
    return p


def path_dirs(path: str) -> tuple[str, ...]:
    """``drivers/usb/misc/sisusbvga/sisusb.c`` -> the two innermost directories, innermost first."""
    parts = path.split("/")[:-1]
    out = []
    for n in range(len(parts), max(len(parts) - 2, 0), -1):
        out.append("/".join(parts[:n]))
    return tuple(out)


def path_words(path: str) -> tuple[str, ...]:
    """Subsystem words a path offers: directory names below the top level and the file stem."""
    parts = path.lower().split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    words = [w for w in parts[1:-1] if len(w) > 2]
    words.append(stem)
    return tuple(dict.fromkeys(words))


def subject_prefix_words(subject: str) -> tuple[str, ...]:
    """``"USB: sisusbvga: Add endpoint checks"`` -> ``("usb", "sisusbvga")``."""
    if ":" not in subject:
        return ()
    head = subject.rsplit(":", 1)[0] if subject.count(":") <= 3 else ":".join(subject.split(":")[:3])
    words: list[str] = []
    for seg in re.split(r"[:,/\s]+", head.lower()):
        seg = seg.strip(" []()")
        if len(seg) < 2:
            continue
        words.append(seg)
        if "-" in seg:
            words.extend(w for w in seg.split("-") if len(w) > 2)
            words.append(seg.replace("-", "_"))
    return tuple(dict.fromkeys(words))


def subject_identifiers(subject: str) -> tuple[str, ...]:
    """Kernel symbols a fix subject names: ``foo_bar()``, ``foo_bar`` (with an underscore)."""
    body = subject.rsplit(":", 1)[-1] if ":" in subject else subject
    out = []
    for m in _IDENT.finditer(body):
        tok = m.group(0)
        if tok.endswith("()") or "_" in tok.strip("_"):
            out.append(norm_function(tok))
    return tuple(dict.fromkeys(out))


# Compound kind words by their ends: KASAN's "slab-out-of-bounds", "slab-use-after-free" (the
# titles since 6.3), "null-ptr-dereference", "heap-buffer-overflow", "self-deadlock".
_KIND_COMPOUNDS: tuple[tuple[str, str, str], ...] = (
    ("suffix", "out-of-bounds", "out-of-bounds"),
    ("suffix", "-overflow", "overflow"),
    ("suffix", "after-free", "use-after-free"),
    ("prefix", "null-ptr", "null"),
    ("prefix", "null-deref", "null"),
    ("prefix", "null-point", "null"),
    ("suffix", "-deadlock", "deadlock"),
    ("exact", "dead-lock", "deadlock"),
    ("exact", "lock-up", "lockup"),
)


def _kind_word(w: str) -> str:
    """A compound word as the kind word it ends (or starts) with; other words as they are."""
    if "-" in w:
        for how, part, word in _KIND_COMPOUNDS:
            if (w.endswith(part) if how == "suffix" else w.startswith(part) if how == "prefix" else w == part):
                return word
    return w


def kind_classes(words: Iterable[str]) -> frozenset[str]:
    ws = {_kind_word(w) for w in words}
    return frozenset(k for k, vocab in KIND_WORDS.items() if ws & vocab)


def subject_words(subject: str) -> tuple[str, ...]:
    return tuple(w for w in _WORD.findall(subject.lower()) if w not in _SUBJECT_STOP)


# --- per-bug features ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BugFeatures:
    """What one known bug offers the scorer, precomputed at index time."""

    titles: frozenset[str]
    sequences: tuple[tuple[str, ...], ...]  # normalized frame sequences of its signatures
    frames: frozenset[str]  # every signature frame
    idents: frozenset[str]  # identifiers the record names (functions, fix subject)
    subject_idents: frozenset[str]  # identifiers named in the fix subject itself
    files: frozenset[str]
    dirs: frozenset[str]
    words: frozenset[str]  # subsystem words from the fix subject prefix
    kinds: frozenset[str]  # crash kinds of its signatures and record
    kind_classes: frozenset[str]  # what the fix subject says the crash was
    fixed: float | None  # release ordinal of the first mainline release with the fix
    introduced: float | None  # release ordinal of the introducing release
    stable: dict[str, int]  # "6.1" -> first fixed sublevel
    unfixed: frozenset[str]
    low_information: bool  # nothing specific at all (no frames, idents, files)
    # Release points of the kernels that printed its example traces (curated entries): the
    # tie-breaker between bugs with one title ("X" and the later "X (2)").
    example_kernels: tuple[float, ...] = ()
    example_builds: frozenset[str] = frozenset()  # their exact version strings (one build, one time)
    subject_body_words: frozenset[str] = frozenset()  # words of the fix subject after its prefix (no kind words)


def bug_features(bug: KnownBug) -> BugFeatures:
    titles: set[str] = set()
    seqs: list[tuple[str, ...]] = []
    sig_files: list[str] = []
    ex_kernels: list[float] = []
    ex_builds: set[str] = set()
    kinds = set(bug.kinds)
    for sig in bug.signatures:
        for t in (sig.title, *sig.alt_titles):
            if t:
                titles.add(norm_title(t))
        if sig.frames:
            seq = tuple(norm_function(f) for f in sig.frames if f)
            if seq and seq not in seqs:
                seqs.append(seq)
        sig_files.extend(sig.files)
        if sig.kernel:
            point = release_point(sig.kernel)
            if point is not None:
                ex_kernels.append(point)
                ex_builds.add(sig.kernel.strip())
        if sig.kind:
            kinds.add(sig.kind)
    if bug.origin is Origin.CURATED and bug.title:
        titles.add(norm_title(bug.title))  # curators name a bug by its crash title
    subjects = [bug.title, *(f.subject for f in bug.fixes if f.subject)]
    subj_idents: set[str] = set()
    words: set[str] = set()
    kcls: set[str] = set()
    for subject in dict.fromkeys(subjects):
        subj_idents.update(subject_identifiers(subject))
        words.update(subject_prefix_words(subject))
        kcls |= kind_classes(subject_words(subject))
        if _INFO_LEAK.search(subject) and not _MEMORY_LEAK.search(subject):
            kcls.discard("leak")  # "fix info leak in hid_submit_ctrl": uninitialized memory shown, not leaked
            kcls.add("uninit")
        if _FREES.search(subject):
            kcls.add("leak")  # "free raw_report buffers in usbhid_stop": a leak fix that says what it frees
    if bug.origin is Origin.CURATED:
        # A curated bug is named by the titles of its traces as much as by the curator's title
        # ("WARNING in kvfree (2)" whose example says "WARNING in ext4_expand_extra_isize_ea"): the
        # functions those titles name count as the record naming them (not the alternative
        # titles: they name the frames around the guilty one too).
        for sig in bug.signatures:
            if sig.title:
                subj_idents.update(subject_identifiers(sig.title))
    idents = {norm_function(f) for f in bug.functions if f} | subj_idents
    files = {norm_path(f) for f in (*bug.files, *sig_files) if f}
    body_words: set[str] = set()
    for subject in dict.fromkeys(f.subject for f in bug.fixes if f.subject):
        body = subject.rsplit(":", 1)[-1] if ":" in subject else subject
        body_words.update(w for w in _WORD.findall(body.lower())
                          if len(w) >= 4 and w not in _SUBJECT_STOP and w not in _KIND_VOCABULARY)
    dirs = {d for f in files for d in path_dirs(f)}
    fixed = None
    for f in bug.fixes:
        r = release_position(f.mainline)
        if r is not None:
            fixed = r[0] if fixed is None else min(fixed, r[0])
    intro = release_position(bug.introduced.release) if bug.introduced else None
    stable: dict[str, int] = {}
    for s in bug.stable:
        if s.version:
            r = release_position(s.version)
            if r is not None and r[1] is not None:
                stable[s.branch] = r[1]
    frames = frozenset(f for seq in seqs for f in seq)
    return BugFeatures(
        titles=frozenset(titles),
        sequences=tuple(seqs),
        frames=frames,
        idents=frozenset(idents),
        subject_idents=frozenset(subj_idents),
        files=frozenset(files),
        dirs=frozenset(dirs),
        words=frozenset(words),
        kinds=frozenset(kinds),
        kind_classes=frozenset(kcls),
        fixed=fixed,
        introduced=intro[0] if intro else None,
        stable=stable,
        unfixed=frozenset(bug.unfixed_branches),
        low_information=not (frames or idents or files or titles),
        example_kernels=tuple(ex_kernels),
        example_builds=frozenset(ex_builds),
        subject_body_words=frozenset(body_words),
    )


# --- the index -----------------------------------------------------------------------------------

NAMESPACES = ("t", "f", "i", "p", "d", "s")


@dataclass(frozen=True, slots=True)
class QueryToken:
    """One token of a query: namespace, token, and how much this occurrence counts (position)."""

    ns: str
    token: str
    weight: float = 1.0
    key: str = field(default="", compare=False)  # "ns:token", the postings key

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", f"{self.ns}:{self.token}")


class CandidateIndex:
    """Inverted indexes over a catalog, with IDF weights. Build once; look up per query."""

    def __init__(self, catalog: Catalog, *, max_postings_share: float = 0.05,
                 create_postings_share: float = 0.004, max_candidates: int = 500) -> None:
        self.catalog = catalog
        self.bugs: tuple[KnownBug, ...] = tuple(b for b in catalog.bugs if not b.withdrawn)
        self.features: tuple[BugFeatures, ...] = tuple(bug_features(b) for b in self.bugs)
        self.n = len(self.bugs)
        self.max_postings = max(50, int(self.n * max_postings_share))
        self.create_postings = max(20, int(self.n * create_postings_share))
        # Rarest tokens first bring in at most this many candidates; later tokens only add evidence.
        self.max_candidates = max_candidates
        self._sets: dict[str, frozenset[int]] = {}
        postings: dict[str, list[int]] = {}
        for i, feat in enumerate(self.features):
            for ns, toks in (("t", feat.titles), ("f", feat.frames), ("i", feat.idents),
                             ("p", feat.files), ("d", feat.dirs), ("s", feat.words)):
                for tok in toks:
                    postings.setdefault(f"{ns}:{tok}", []).append(i)
        self.postings: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in postings.items()}
        # Document frequency of a function name over both function namespaces (f + i) as one.
        fn_df: dict[str, int] = {}
        for feat in self.features:
            for tok in feat.frames | feat.idents:
                fn_df[tok] = fn_df.get(tok, 0) + 1
        self._fn_df = fn_df
        self._log_n = math.log(self.n + 1)
        # Per bug, per signature sequence: the weight of each frame (position x rarity).
        self.sequence_weights: dict[int, tuple[tuple[float, ...], ...]] = {
            i: tuple(self.frame_weights(seq) for seq in feat.sequences)
            for i, feat in enumerate(self.features) if feat.sequences
        }

    def frame_weights(self, seq: Sequence[str], depth: int = 16) -> tuple[float, ...]:
        """Alignment weight of each frame of a sequence: top frames and rare frames count more."""
        log_n = self._log_n or 1.0
        return tuple((0.1 + self.fn_idf(name) / log_n) / (1.0 + 0.2 * pos) for pos, name in enumerate(seq[:depth]))

    def df(self, key: str) -> int:
        return len(self.postings.get(key, ()))

    def idf(self, key: str) -> float:
        """Rarity weight of one namespaced token, 0 (everyone has it) .. log(N+1) (nobody has it)."""
        return max(0.0, self._log_n - math.log(self.df(key) + 1))

    def fn_idf(self, name: str) -> float:
        """Rarity of a function name across trace frames and record identifiers."""
        return max(0.0, self._log_n - math.log(self._fn_df.get(name, 0) + 1))

    def lookup(self, tokens: Sequence[QueryToken | tuple[str, float]],
               slot_weights: Sequence[float] | None = None) -> dict[int, list[float]]:
        """Per candidate bug, per namespace (slots in :data:`NAMESPACES` order): the sum of
        ``weight * idf`` of the query tokens it shares (:class:`QueryToken` values or
        ``("ns:token", weight)`` pairs); the last slot is the prescore, the same
        sums weighted by ``slot_weights`` (default 1 each).

        Only postings of the query's own tokens are read. Rare tokens (shared by at most
        ``create_postings`` bugs) bring in candidates; commoner ones only add evidence to the
        candidates already found (checked against the smaller of the two sets); tokens shared by
        more than ``max_postings`` bugs are skipped (their IDF weight is negligible). Common
        directories and subsystem words are left to the scorer.
        """
        acc: dict[int, list[float]] = {}
        sw = tuple(slot_weights) if slot_weights is not None else (1.0,) * len(NAMESPACES)
        width = len(NAMESPACES) + 1
        weighted: dict[str, float] = {}
        postings = self.postings
        for qt in tokens:
            key, weight = (qt.key, qt.weight) if isinstance(qt, QueryToken) else qt
            if key in postings and weighted.get(key, 0.0) < weight:
                weighted[key] = weight
        # Rarest first, so that the candidate set is built from the most specific evidence.
        order = sorted(weighted, key=lambda k: len(self.postings[k]))
        # Only common tokens: let the rarest of them bring in candidates after all.
        create = self.create_postings
        if order and len(self.postings[order[0]]) > create:
            create = min(self.max_postings, len(self.postings[order[0]]))
        for key in order:
            post = self.postings[key]
            df = len(post)
            if df > self.max_postings:
                break
            gain = weighted[key] * (self._log_n - math.log(df + 1))
            if gain <= 0:
                continue
            slot = _SLOT[key[0]]
            pgain = gain * sw[slot]
            if df > create and key[0] in _CREATE_ONLY:
                continue  # common directories/words: the scorer counts them for the shortlist
            if df <= create and len(acc) < self.max_candidates:
                for i in post:
                    ev = acc.get(i)
                    if ev is None:
                        ev = acc[i] = [0.0] * width
                    ev[slot] += gain
                    ev[-1] += pgain
            elif len(acc) < df:
                members = self._sets.get(key)
                if members is None:
                    members = self._sets[key] = frozenset(post)
                for i, ev in acc.items():
                    if i in members:
                        ev[slot] += gain
                        ev[-1] += pgain
            else:
                for i in post:
                    ev = acc.get(i)
                    if ev is not None:
                        ev[slot] += gain
                        ev[-1] += pgain
        return acc


_SLOT = {ns: n for n, ns in enumerate(NAMESPACES)}
# Namespaces whose common tokens do not add evidence during lookup (too many per query to walk;
# :func:`sigmatch.match.score.score_candidates` counts them exactly for the shortlisted bugs).
_CREATE_ONLY = frozenset({"d", "s"})
