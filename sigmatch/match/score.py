"""Scoring signals: how much one known bug explains one crash report, signal by signal.

A query (:class:`QueryFeatures`, built once per report) is compared with a candidate bug
(:class:`~sigmatch.match.index.BugFeatures`). Each signal is a number, mostly in 0..1:

``title``     the report's title (or an alternative title) is exactly a title of the bug's
              quoted traces; scaled by how rare that title is in the catalog
``sequence``  position- and rarity-weighted similarity of the frame sequences (rapidfuzz LCS
              alignment of the top frames; top frames and rare frames count more)
``frames``    rarity-weighted overlap of the report's frames with the bug's trace frames
``idents``    ... with the identifiers the bug record names (description, fix subject)
``guilty``    the guilty function (or the title's function) is named by the bug record
``subject``   the fix subject itself names the guilty function ("fix UAF in foo()")
``subject_frame`` ... or another of the report's top frames
``subject_miss``  the fix subject names functions, none of them in the report (weighs against)
``subject_part``  the fix subject names what the guilty (or a top) frame is named after: the
              "mgmt_pending" list of mgmt_pending_remove, the "input_dev" of input_dev_uevent
``subject_words`` words of the fix subject's body are words of the guilty or top frames' names
              ("reject TDLS operations ..." and ieee80211_tdls_oper); one word 0.5, two or more 1
              (not the words that name how code runs: "work", "thread", :data:`PLUMBING_PARTS`)
``trace_miss``  the record quotes a crash trace, and the report's guilty function is not in it:
              that bug crashed elsewhere (weighs against; most records quote no trace at all)
``file``      a file the fix changed appears in the symbolized trace (``file.c:line``)
``site_file`` ... and it is the crash site's file (guilty frame, WARNING/BUG line)
``dir``       ... or at least its directory
``subsystem`` the fix subject's subsystem prefix ("ext4:", "USB: sisusbvga:") matches the
              report's files or function prefixes
``kind``      the crash kind agrees with what the fix subject says ("use-after-free", "leak")
``kind_miss`` ... or the fix subject names another kind of crash (weighs against)
``version``   the log's kernel can have the bug: +1 plausible, -1 already fixed or not yet
              introduced, 0 unknown
``recency``   the fix came soon after the log's kernel (bugs are usually fixed within releases)
``related``   the record names a function of a related stack (a hung task's lock holder, another
              blocked task, another leaked object: :mod:`sigmatch.trace.related`)
``related_subject`` ... and the fix subject itself names it
``related_file`` the fix changed a file of a related stack
``holder_site`` the fix changed the file where a hung task's lock holder runs (its crash site)
``wait``      the record names a function a hung task sleeps in (``usb_kill_urb`` above the
              guilty ``hub_port_init``: :func:`sigmatch.trace.related.wait_frames`)
``wait_subject`` ... and the fix subject itself names it ("Fix hang in usb_kill_urb")
``device``    the fix subject names the driver of a device error printed before the report, or
              the record names a function that error names

The weighted sum of the signals is the raw score; :mod:`sigmatch.match.matcher` ranks by it and
decides confidence. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from rapidfuzz.distance import LCSseq

from sigmatch.match.index import (
    SOFT_CLASSES,
    BugFeatures,
    CandidateIndex,
    kind_classes,
    norm_function,
    norm_path,
    norm_title,
    path_dirs,
    path_words,
)
from sigmatch.trace.kversion import (
    KernelVersion,
    abi_shaped,
    parse_kernel_version,
    release_ordinal,
    release_point,
)
from sigmatch.trace.model import Kind, Report
from sigmatch.trace.related import wait_frames
from sigmatch.trace.signature import Signature, signature_of

SEQ_DEPTH = 16  # frames compared by the sequence signal
RECENCY_SCALE = 4.0  # releases over which the recency signal falls to 1/e (after the first)
RELATED_TOKEN = 0.4  # index weight of a related stack's function or file (the report's own: up to 1)
CONTEXT_TOKEN = 0.3  # index weight of a device error's driver word or function
WAIT_TOKEN = 0.6  # index weight of a function a hung task sleeps in
TOKEN_DEPTH = 24  # frames used as identifier tokens
# Release distance (in mainline releases) at which the example_kernel signal falls to 1/e.
EXAMPLE_KERNEL_SCALE = 2.0
# A different build of a close release counts at most this much (the very same build counts 1).
EXAMPLE_KERNEL_NEAR = 0.8
# The crash site a WARNING/BUG line or a symbolized RIP line names: "at fs/ext4/inode.c:123".
_CRASH_SITE = re.compile(
    r"^(?:WARNING: .{0,80}? at |kernel BUG at |RIP: \S+ |pc : \S+ )((?:[\w\-]+/)+[\w\-]+\.(?:c|h|rs)):\d+",
    re.M)
_CRASH_SITE_HEADS = ("WARNING: ", "kernel BUG at ", "RIP: ", "pc : ")


def _crash_sites(text: str) -> list[str]:
    """The files :data:`_CRASH_SITE` finds in ``text``, in order; the regex is tried only at the
    line starts that begin with one of its literal heads (trying it at every line cost ~20 us)."""
    starts: list[int] = []
    for head in _CRASH_SITE_HEADS:
        k = text.find(head)
        while k >= 0:
            if k == 0 or text[k - 1] == "\n":
                starts.append(k)
            k = text.find(head, k + 1)
    out = []
    for k in sorted(starts):
        m = _CRASH_SITE.match(text, k)
        if m is not None:
            out.append(m.group(1))
    return out


_TITLE_FN = re.compile(r" in ([A-Za-z0-9_.$/]+)")
_TITLE_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Crash kinds -> kind classes of :data:`sigmatch.match.index.KIND_WORDS` that agree with them.
_KIND_CLASSES: dict[str, frozenset[str]] = {
    Kind.NULL_DEREF: frozenset({"null"}),
    Kind.PAGING_REQUEST: frozenset({"null", "uaf", "oob"}),
    Kind.GPF: frozenset({"null", "uaf"}),
    Kind.MEMORY_LEAK: frozenset({"leak"}),
    Kind.KMSAN: frozenset({"uninit"}),
    Kind.LOCKDEP: frozenset({"deadlock", "locking"}),
    Kind.ATOMIC_SLEEP: frozenset({"deadlock", "locking"}),
    Kind.HUNG_TASK: frozenset({"hang", "deadlock", "locking"}),
    Kind.SOFT_LOCKUP: frozenset({"hang"}),
    Kind.HARD_LOCKUP: frozenset({"hang"}),
    Kind.RCU_STALL: frozenset({"hang"}),
    Kind.WORKQUEUE_LOCKUP: frozenset({"hang"}),
    Kind.WARNING: frozenset({"warning"}),
    Kind.KERNEL_BUG: frozenset({"bug"}),
    Kind.KCSAN: frozenset({"race"}),
    Kind.UBSAN: frozenset({"oob", "shift"}),
    Kind.REFCOUNT: frozenset({"leak", "uaf"}),
    Kind.LIST_CORRUPTION: frozenset({"uaf", "race"}),
    Kind.CPU_EXCEPTION: frozenset({"divide", "bug"}),
}


def position_weight(pos: int) -> float:
    """Top frames count more (ReBucket/TraceSim-style decay)."""
    return 1.0 / (1.0 + 0.2 * pos)


@dataclass(frozen=True, slots=True)
class KernelPoint:
    """The log's kernel on the release line, as far as version plausibility needs it."""

    ordinal: float
    branch: str
    patch: int | None  # upstream stable sublevel when known (None: a mainline build, or unknown)
    rc: bool  # a release candidate: a fix in this very release is still ahead of it
    sublevel_known: bool  # False for Debian/Ubuntu/RHEL numbering: only the branch is known


def kernel_point(kernel: KernelVersion | str | None) -> KernelPoint | None:
    if isinstance(kernel, str):
        kernel = parse_kernel_version(kernel)
    if kernel is None or kernel.major < 3:
        return None
    return KernelPoint(
        ordinal=release_ordinal(kernel.major, kernel.minor),
        branch=kernel.branch,
        patch=kernel.patch if kernel.sublevel_known and kernel.patch else None,
        rc=kernel.rc is not None,
        sublevel_known=kernel.sublevel_known and not abi_shaped(kernel),
    )


@dataclass(frozen=True, slots=True)
class QueryFeatures:
    """What the scorer needs from one report, computed once per query."""

    titles: tuple[str, ...]
    sequence: tuple[str, ...]  # normalized top frames, in order (for alignment)
    frames: tuple[str, ...]  # normalized frames used as tokens, in order, deduplicated
    guilty: tuple[str, ...]  # guilty function and the title's functions
    files: tuple[str, ...]
    dirs: tuple[str, ...]
    words: tuple[str, ...]
    kind: str
    kind_classes: frozenset[str]
    kernel: KernelPoint | None
    low_information: bool
    corrupted: bool
    tokens: tuple[tuple[str, float], ...] = field(default=())  # ("ns:token", weight)
    kernel_build: str | None = None  # the log's kernel version string as printed
    truncated: bool = False  # a partial report: the matcher's partial-report rule decides
    related: tuple[str, ...] = ()  # functions of related stacks (lock holders, other leaks), most telling first
    related_files: tuple[str, ...] = ()
    context_words: tuple[str, ...] = ()  # drivers of the device errors before the report
    context_idents: tuple[str, ...] = ()  # functions those errors name
    out_of_tree: str | None = None  # the out-of-tree module the guilty frame is in: never confident
    holder_files: tuple[str, ...] = ()  # a hung task's lock holder's crash site: its stack's files, top first
    waits: tuple[str, ...] = ()  # functions a hung task sleeps in (above its guilty frame), top first


def _title_functions(title: str) -> tuple[str, ...]:
    out: list[str] = []
    for m in _TITLE_FN.finditer(title):
        for part in m.group(1).split("/"):
            part = part.strip(".")
            if part and not part[0].isdigit():
                out.append(norm_function(part))
    return tuple(out)


def _title_kind_classes(title: str, kind: str) -> frozenset[str]:
    words = set(_TITLE_WORD.findall(title.lower()))
    extra = set(_KIND_CLASSES.get(kind, frozenset()))
    return kind_classes(words) | extra


@dataclass(frozen=True, slots=True)
class _Sources:
    """What query_features reads from a report or a bare signature, before normalizing."""

    seq_src: list[str]  # the signature's frames (out-of-tree ones left out), top first
    files_src: list[str]  # the crash site's file, the signature frames' files, the WARNING/RIP line's
    title: str
    alts: tuple[str, ...]
    guilty_fn: str | None
    kind: str
    low_info: bool
    corrupted: bool
    truncated: bool
    kernel: KernelVersion | str | None
    related: list[tuple[str, str | None]] = field(default_factory=list)  # (function, file) of related stacks
    holder_files: list[str] = field(default_factory=list)  # where a hung task's lock holder runs, top first
    context_words: list[str] = field(default_factory=list)  # drivers of the device errors before the report
    context_idents: list[str] = field(default_factory=list)  # functions those errors name
    out_of_tree: str | None = None
    waits_src: list[str] = field(default_factory=list)  # functions a hung task sleeps in


def _report_sources(item: Report, sig: Signature, kernel: KernelVersion | str | None) -> _Sources:
    # Frames in out-of-tree modules (zfs, nvidia...) are no evidence for an in-tree fix: a
    # word of their names ("arc" of arc_shrink [zfs]) must not pull in in-tree bugs.
    oot = frozenset(item.out_of_tree_modules)
    foreign = frozenset(f.function for f in item.frames if f.module is not None and f.module in oot)
    out_of_tree = item.out_of_tree
    seq_src = [f for f in sig.frames if f not in foreign]
    in_sig = set(seq_src)
    # Files of the signature's frames (the guilty frame and below), top first; then the
    # file a WARNING/BUG line or the RIP line names.
    files_src = [item.guilty_file] if item.guilty_file and out_of_tree is None else []
    files_src += [f.file for f in item.frames if f.file and not f.skipped and f.function in in_sig]
    files_src += _crash_sites(item.text[:100_000])
    title, alts = (item.title, item.alt_titles) if sig.title_is_key else ("", sig.alt_titles)
    context_words: list[str] = []
    context_idents: list[str] = []
    for e in item.device_errors:
        if e.driver:
            context_words.append(e.driver.lower())
        context_idents.extend(e.functions)
    return _Sources(
        seq_src=seq_src, files_src=files_src, title=title, alts=alts,
        guilty_fn=item.guilty_frame if out_of_tree is None else None,
        kind=item.kind.value, low_info=sig.low_information, corrupted=item.corrupted, truncated=item.truncated,
        kernel=kernel if kernel is not None else item.kernel_version,  # the parser's, never the raw text
        related=[(f.function, f.file) for f in item.related_frames if f.module is None or f.module not in oot],
        holder_files=[f.file for f in item.related_frames if f.file and f.note.startswith("related: lock holder")],
        context_words=context_words, context_idents=context_idents, out_of_tree=out_of_tree,
        waits_src=[f.function for f in wait_frames(item) if f.module is None or f.module not in oot],
    )


def _signature_sources(item: Signature, kernel: KernelVersion | str | None) -> _Sources:
    title, alts = (item.title, item.alt_titles) if item.title_is_key else ("", item.alt_titles)
    return _Sources(
        seq_src=list(item.frames), files_src=list(item.files), title=title, alts=alts,
        guilty_fn=item.guilty_function, kind=item.kind.value, low_info=item.low_information,
        corrupted=item.corrupted, truncated=item.truncated, kernel=kernel,
    )


def _norm_frames(seq_src: Sequence[str]) -> list[str]:
    """Normalized frame names, top first, without immediate repeats (recursion)."""
    frames: list[str] = []
    for fn in seq_src:
        n = norm_function(fn)
        if n and (not frames or frames[-1] != n):
            frames.append(n)
    return frames


def _guilty_functions(guilty_fn: str | None, titles: tuple[str, ...], out_of_tree: str | None) -> tuple[str, ...]:
    """The guilty function, then the title's other functions ("in usbtmc_ioctl/usb_submit_urb")."""
    if out_of_tree is not None:
        return ()
    g = norm_function(guilty_fn) if guilty_fn else None
    return tuple(dict.fromkeys([g] if g else [])) + tuple(
        f for t in titles[:1] for f in _title_functions(t) if f != g)


def _path_features(files_src: Sequence[str], token_frames: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """(files, their directories, subsystem words of the files and of the top frames' heads)."""
    files = tuple(dict.fromkeys(norm_path(f) for f in files_src if f))[:32]
    dirs = tuple(dict.fromkeys(d for f in files for d in path_dirs(f)))
    words_l: list[str] = []
    for f in files:
        words_l.extend(path_words(f))
    for fn in token_frames[:12]:
        head = fn.split("_", 1)[0]
        if len(head) > 2:
            words_l.append(head)
    return files, dirs, tuple(dict.fromkeys(words_l))


def _index_tokens(q: QueryFeatures) -> tuple[tuple[str, float], ...]:
    """The query's index tokens as ("ns:token", weight) pairs (see :class:`QueryToken`; plain
    tuples are cheap): the report's own evidence, then the weaker evidence of related stacks, the
    device errors printed before the report and the functions a hung task sleeps in."""
    tokens: list[tuple[str, float]] = [(f"t:{t}", 3.0 if i == 0 else 2.0) for i, t in enumerate(q.titles)]
    for g in q.guilty:
        tokens.append((f"i:{g}", 1.5))
        tokens.append((f"f:{g}", 1.0))
    for pos, fn in enumerate(q.frames):
        w = position_weight(pos)
        tokens.append((f"f:{fn}", w))
        tokens.append((f"i:{fn}", w))
    for pos, f in enumerate(q.files):
        tokens.append((f"p:{f}", position_weight(pos)))
    for pos, d in enumerate(q.dirs):
        tokens.append((f"d:{d}", position_weight(pos)))
    for w_ in q.words:
        tokens.append((f"s:{w_}", 0.5))
    for pos, fn in enumerate(q.related):
        tokens.append((f"i:{fn}", RELATED_TOKEN * position_weight(pos)))
        tokens.append((f"f:{fn}", RELATED_TOKEN * position_weight(pos)))
    for f in q.related_files:
        tokens.append((f"p:{f}", RELATED_TOKEN))
    for w_ in q.context_words:
        tokens.append((f"s:{w_}", CONTEXT_TOKEN))
    for fn in q.context_idents:
        tokens.append((f"i:{fn}", CONTEXT_TOKEN))
    for pos, fn in enumerate(q.waits):
        tokens.append((f"i:{fn}", WAIT_TOKEN / (1.0 + pos)))
    return tuple(tokens)


def query_features(item: Report | Signature, *, kernel: KernelVersion | str | None = None,
                   signature: Signature | None = None) -> QueryFeatures:
    """Everything the scorer compares, from a parsed report (best) or a bare signature.

    ``signature``: the report's :func:`~sigmatch.trace.signature.signature_of`, when the caller
    already has it (saves computing it twice). The steps: read the sources, normalize the frames,
    titles, guilty functions and paths, add the related stacks' functions and files that the
    report's own do not already name, then the index tokens.
    """
    if isinstance(item, Report):
        src = _report_sources(item, signature if signature is not None else signature_of(item), kernel)
    else:
        src = _signature_sources(item, kernel)
    frames = _norm_frames(src.seq_src)
    seq = tuple(frames[:SEQ_DEPTH])
    token_frames = tuple(dict.fromkeys(frames))[:TOKEN_DEPTH]
    titles = tuple(dict.fromkeys(norm_title(t) for t in (src.title, *src.alts) if t))
    guilty = _guilty_functions(src.guilty_fn, titles, src.out_of_tree)
    files, dirs, words = _path_features(src.files_src, token_frames)
    in_query = set(token_frames) | set(guilty)
    kernel = src.kernel
    q = QueryFeatures(
        titles=titles, sequence=seq, frames=token_frames, guilty=guilty, files=files, dirs=dirs,
        words=words, kind=src.kind, kind_classes=_title_kind_classes(src.title or "", src.kind),
        kernel=kernel_point(kernel),
        kernel_build=(kernel.raw if isinstance(kernel, KernelVersion) else kernel or "").strip() or None,
        low_information=src.low_info or (not seq and not guilty and not files), corrupted=src.corrupted,
        truncated=src.truncated,
        related=tuple(dict.fromkeys(n for n in (norm_function(f) for f, _ in src.related) if n and n not in in_query)),
        related_files=tuple(dict.fromkeys(norm_path(p) for _, p in src.related if p and norm_path(p) not in files)),
        context_words=tuple(dict.fromkeys(w_ for w_ in src.context_words if len(w_) > 1)),
        context_idents=tuple(dict.fromkeys(norm_function(f) for f in src.context_idents)),
        out_of_tree=src.out_of_tree,
        holder_files=tuple(dict.fromkeys(norm_path(f) for f in src.holder_files))[:4],
        waits=tuple(dict.fromkeys(n for n in (norm_function(f) for f in src.waits_src) if n and n not in in_query)),
    )
    return replace(q, tokens=_index_tokens(q))


# --- signals -------------------------------------------------------------------------------------


def _saturate(x: float, scale: float) -> float:
    return 1.0 - math.exp(-x / scale) if x > 0 else 0.0


def sequence_similarity(q: Sequence[str], wq: Sequence[float], b: Sequence[str],
                        wb: Sequence[float]) -> tuple[float, list[int]]:
    """Weighted LCS similarity of two frame sequences (0..1) and the matched query positions.

    rapidfuzz aligns the sequences; each aligned frame counts with its weight on both sides
    (position: top frames more; rarity: IDF over the catalog), as a Dice-style ratio.
    ``wq``/``wb`` come from :meth:`CandidateIndex.frame_weights`.
    """
    if not q or not b:
        return 0.0, []
    b = b[: len(wb)]
    matched_q: list[int] = []
    got = 0.0
    for blk in LCSseq.opcodes(q, b).as_matching_blocks():
        for k in range(blk.size):
            matched_q.append(blk.a + k)
            got += wq[blk.a + k] + wb[blk.b + k]
    total = sum(wq) + sum(wb)
    return (got / total if total else 0.0), matched_q


def version_signal(k: KernelPoint | None, bug: BugFeatures) -> tuple[float, float, str]:
    """(plausibility -1..1, recency 0..1, note) of the log's kernel against one bug's releases.

    -1: the log's kernel cannot have this bug (it already carries the fix, or predates the
    introducing release); +1: it sits between introduction and fix on its branch; 0: unknown.
    """
    if k is None or bug.fixed is None:
        return 0.0, 0.0, ""
    if bug.introduced is not None and bug.introduced > k.ordinal + 0.5:
        if not (k.rc and bug.introduced < k.ordinal + 1.5):
            return -1.0, 0.0, "the log's kernel predates the release that introduced the bug"
        # A release candidate of a -next tree (syzbot's linux-next, net-next...) already carries
        # what the following merge window brings: the bug may be there.
        return 0.5, 0.0, "the bug came in the release after the log's (a -next tree has it early)"
    if k.patch is not None or not k.sublevel_known:
        # A stable (or distribution) kernel of branch k.branch.
        if bug.fixed < k.ordinal + 0.5:
            return -1.0, 0.0, f"branch {k.branch} descends from the mainline release with the fix"
        fixed_sub = bug.stable.get(k.branch)
        if fixed_sub is not None and k.patch is not None:
            if k.patch >= fixed_sub:
                return -1.0, 0.0, f"{k.branch}.{k.patch} already carries the fix ({k.branch}.{fixed_sub})"
            plaus, note = 1.0, f"{k.branch}.{k.patch} predates the fix on its branch ({k.branch}.{fixed_sub})"
        elif k.branch in bug.unfixed:
            plaus, note = 1.0, f"branch {k.branch} has no fix"
        else:
            plaus, note = 0.5, f"fixed in mainline after branch {k.branch}"
    elif bug.fixed < k.ordinal - 0.5:
        return -1.0, 0.0, "the log's kernel is newer than the mainline release with the fix"
    elif bug.fixed < k.ordinal + 0.5 and not k.rc:
        plaus, note = -0.3, "the fix is in the log's mainline release"
    else:
        plaus, note = 1.0, "the log's kernel predates the mainline fix"
    delta = bug.fixed - k.ordinal
    recency = 0.75 if delta < 0.5 else 1.0 if delta <= 1.0 else math.exp((1.0 - delta) / RECENCY_SCALE)
    if not k.sublevel_known:
        # Debian/Ubuntu/RHEL kernels live for years on one branch with backports: how soon after
        # the branch a fix came says less there than for a mainline or stable build.
        recency = 0.5 * recency + 0.2
    return plaus, recency, note


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the signals in the raw score.

    Fitted as a conditional logit (softmax over each report's shortlisted candidates, L2 0.02,
    evidence weights kept >= 0 and ``*_miss`` weights <= 0) on half A of
    ``../shared/corpus/e2e-dev.jsonl`` by ``benchmarks/e2e_match.py --tune``; half B is held out.
    match-6: refitted with ``--keep related,related_subject,related_file,holder_site,device,example_kernel``
    (signals that fire on too few dev reports for the fit; their weights as chosen before), checked
    by ``--cv 5`` inside half A first. match-8's ``wait``/``wait_subject`` were set by hand (add
    them to ``--keep``): they fire on a handful of dev hung tasks, none of them a half-A positive.
    """

    title: float = 0.455
    sequence: float = 0.096
    frames: float = 0.0
    idents: float = 0.633
    guilty: float = 2.027
    subject: float = 0.631
    subject_frame: float = 0.0
    subject_miss: float = -0.515
    file: float = 0.182
    site_file: float = 0.986
    dir: float = 0.51
    subsystem: float = 0.363
    kind: float = 0.667
    kind_miss: float = -1.083
    version: float = 1.216
    recency: float = 2.644
    # Tie-breaker from curated example traces (CVE records have none, so e2e-dev cannot fit it):
    # chosen on half A of crashes-dev's groups by ``benchmarks/dedup_match.py --tune`` (0.25 with
    # whole releases; 0.4 since rc numbers and describe suffixes place builds within a release).
    example_kernel: float = 0.4
    # Weaker evidence from outside the report's own stack (chosen on half A with the rest):
    related: float = 1.0  # the record names a function of a related stack (lock holder, other leak)
    related_subject: float = 1.0  # ... and the fix subject itself names it
    related_file: float = 0.5  # the fix changed a file of a related stack
    holder_site: float = 1.2  # the fix changed the file a hung task's lock holder runs in (as site_file)
    device: float = 0.09  # the fix subject names the driver of a device error before the report
    wait: float = 0.6  # the record names a function the hung task sleeps in (1.0 made a half-A negative confident)
    wait_subject: float = 1.0  # ... and the fix subject names it
    # match-6, fitted with the rest (the related weights above kept as they were: ``--keep``):
    trace_miss: float = -1.496  # the record's quoted trace does not reach the guilty function
    subject_part: float = 1.0  # the fix subject names what a top frame is named after (rare: the fit leaves it at 1)
    subject_words: float = 0.766  # words of the fix subject are words of the top frames' names

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


DEFAULT_WEIGHTS = Weights()
_WEIGHT_DICTS: dict[Weights, dict[str, float]] = {}
_DEFAULT_DICT = DEFAULT_WEIGHTS.as_dict()


def _weights_dict(w: Weights) -> dict[str, float]:
    if w is DEFAULT_WEIGHTS:  # the common case, without hashing 17 floats per candidate
        return _DEFAULT_DICT
    d = _WEIGHT_DICTS.get(w)
    if d is None:
        d = _WEIGHT_DICTS[w] = w.as_dict()
        if len(_WEIGHT_DICTS) > 64:  # tuning makes many; keep the cache small
            _WEIGHT_DICTS.clear()
            _WEIGHT_DICTS[w] = d
    return d

# Saturation scales of the evidence sums (sum of idf * position weight), ~ "two rare tokens".
_SCALE = {"f": 8.0, "i": 8.0, "p": 5.0, "d": 5.0, "s": 4.0}
_SCALE_F, _SCALE_I, _SCALE_P, _SCALE_D, _SCALE_S = (_SCALE[k] for k in "fipds")


@dataclass(frozen=True, slots=True)
class Scored:
    """One candidate with its signals; the matcher turns the best ones into :class:`Match` values."""

    bug_index: int
    raw: float
    signals: dict[str, float]  # signal -> value (before weights)
    weights: dict[str, float]  # the weights raw was summed with (shared, never copied)
    seq_positions: tuple[int, ...]  # positions of the report's sequence aligned with the bug's
    title_hit: str | None  # "title" / "alt-title" when an exact key matched
    version_note: str

    @property
    def contributions(self) -> dict[str, float]:
        """signal -> weight * value (made when asked: only the returned matches need them)."""
        w = self.weights
        return {k: w[k] * v for k, v in self.signals.items()}


# Per index namespace (``t f i p d s``): the weight of one unit of evidence in the prescore, the
# linear first-stage score the shortlist is cut from. Fixed (not the fitted weights): the shortlist
# must keep every kind of evidence in play, whatever the final weights make of it.
PRESCORE_WEIGHTS = (0.5, 0.15, 0.2, 0.3, 0.1, 0.1)


@dataclass(frozen=True, slots=True)
class QueryContext:
    """Per-query values that depend on the index (rarity weights), computed once per query."""

    seq_weights: tuple[float, ...]
    dir_weights: dict[str, float]
    word_weights: dict[str, float]
    guilty_weights: tuple[tuple[str, float], ...]
    top_frames: frozenset[str]
    all_frames: frozenset[str]
    site_file: str | None
    site_weight: float
    title_weights: tuple[tuple[str, float], ...]
    kernel_point: float | None = None  # the log's kernel on the release line (rc before release)
    related_weights: tuple[tuple[str, float], ...] = ()
    related_file_weights: tuple[tuple[str, float], ...] = ()
    context_weights: tuple[tuple[str, float], ...] = ()  # ("s:word" / "i:function", weight)
    holder_weights: tuple[tuple[str, float], ...] = ()
    wait_weights: tuple[tuple[str, float], ...] = ()  # functions a hung task sleeps in, by rarity
    fn_parts: frozenset[str] = frozenset()  # words of the guilty and top 3 frames' names ("tdls", "inline")
    dir_keys: frozenset[str] = frozenset()  # dir_weights' keys (set intersections are cheaper)
    word_keys: frozenset[str] = frozenset()  # word_weights' keys
    guilty_set: frozenset[str] = frozenset()  # the report's guilty functions
    name_heads: frozenset[str] = frozenset()  # ... and their heads: "mgmt_pending" of mgmt_pending_remove


def query_context(q: QueryFeatures, index: CandidateIndex) -> QueryContext:
    log_n = index._log_n or 1.0
    named = tuple(dict.fromkeys((*q.guilty[:1], *q.frames[:3])))
    dir_weights = {d: position_weight(p) * index.idf(f"d:{d}") for p, d in enumerate(q.dirs)}
    word_weights = {w_: 0.5 * index.idf(f"s:{w_}") for w_ in q.words}
    return QueryContext(
        seq_weights=index.frame_weights(q.sequence),
        dir_weights=dir_weights,
        word_weights=word_weights,
        dir_keys=frozenset(dir_weights),
        word_keys=frozenset(word_weights),
        guilty_set=frozenset(q.guilty),
        guilty_weights=tuple((g, (index.fn_idf(g) / log_n) * (1.0 if pos == 0 else 0.8) * _victim(q))
                             for pos, g in enumerate(q.guilty)),
        top_frames=frozenset(q.frames[:10]),
        all_frames=frozenset(q.frames),
        site_file=q.files[0] if q.files else None,
        site_weight=index.idf(f"p:{q.files[0]}") / log_n if q.files else 0.0,
        title_weights=tuple((t, (1.0 if n == 0 else 0.7) * index.idf(f"t:{t}") / log_n)
                            for n, t in enumerate(q.titles)),
        kernel_point=None if q.kernel is None else _build_point(q.kernel, q.kernel_build),
        related_weights=tuple((f, index.fn_idf(f) / log_n * position_weight(p)) for p, f in enumerate(q.related)),
        related_file_weights=tuple((f, index.idf(f"p:{f}") / log_n) for f in q.related_files),
        context_weights=tuple((f"s:{w_}", index.idf(f"s:{w_}") / log_n) for w_ in q.context_words)
        + tuple((f"i:{f}", index.fn_idf(f) / log_n) for f in q.context_idents),
        holder_weights=tuple((f, index.idf(f"p:{f}") / log_n * position_weight(p)) for p, f in enumerate(q.holder_files)),
        # The top one is what the task sleeps in; those below it led there (usb_control_msg).
        wait_weights=tuple((f, index.fn_idf(f) / log_n / (1.0 + p)) for p, f in enumerate(q.waits)),
        fn_parts=frozenset(w_ for fn in named for w_ in fn.split("_") if len(w_) >= 4 and w_ not in PLUMBING_PARTS),
        name_heads=frozenset(head for fn in named for head in _name_heads(fn)),
    )


# Words of function names that say how the code runs, not what it does (ieee80211_iface_work,
# hci_rx_work, foo_irq_thread): a fix subject's "work" or "data" is no sign that it is about the
# function ("use safe list iteration in radar detect work" and ieee80211_iface_work).
PLUMBING_PARTS = frozenset({"work", "worker", "func", "handler", "thread", "data"})


def _name_heads(fn: str) -> tuple[str, ...]:
    """The heads of a function name at its underscores, of 6 characters or more (what it is named
    after): ``mgmt_pending_remove`` -> ``("mgmt_pending",)``."""
    parts = fn.split("_")
    heads = ("_".join(parts[:n]) for n in range(1, len(parts)))
    return tuple(h for h in heads if len(h) >= 6)


# A hung task's guilty frame is where the victim waits, not where the bug is: a record that
# names it is weaker evidence than for a crash site (the related stacks carry the rest).
HANG_GUILTY = 0.6


def _victim(q: QueryFeatures) -> float:
    return HANG_GUILTY if q.kind in ("hung_task", "memory_leak") else 1.0


def _build_point(k: KernelPoint, build: str | None) -> float:
    """The log's kernel on the release line as finely as its version string tells (rc number,
    commits after the tag: :func:`~sigmatch.match.index.release_point`), as example kernels are."""
    point = release_point(build) if build else None
    if point is None or abs(point - k.ordinal) > 1.0:  # a string release_point reads another way
        return k.ordinal - (0.5 if k.rc else 0.0)
    return point


def align(q: QueryFeatures, i: int, index: CandidateIndex, ctx: QueryContext) -> tuple[float, tuple[int, ...]]:
    """Best sequence similarity of the report against bug ``i``'s signatures, and aligned positions."""
    bug = index.features[i]
    best_seq = 0.0
    best_matched: tuple[int, ...] = ()
    if bug.sequences and not bug.frames.isdisjoint(ctx.all_frames):  # no shared frame: nothing to align
        for seq, wb in zip(bug.sequences, index.sequence_weights[i], strict=True):
            sim, positions = sequence_similarity(q.sequence, ctx.seq_weights, seq, wb)
            if sim > best_seq:
                best_seq, best_matched = sim, tuple(positions)
    return best_seq, best_matched


@dataclass(slots=True)
class Candidate:
    """One candidate's signals as the steps of :data:`SIGNAL_STEPS` add them: a mutable accumulator
    local to one ranking (:func:`score_candidates` makes them, :func:`add_alignment` adds the frame
    alignment to the few that can still reach the results, :meth:`scored` freezes the returned
    ones). The order of ``values`` is the steps' order: the raw score sums them in it."""

    index: int  # the bug's position in the index
    bug: BugFeatures
    weights: dict[str, float]  # the weights ``raw`` is summed with (shared, never copied)
    values: dict[str, float] = field(default_factory=dict)
    raw: float = 0.0
    seq_positions: tuple[int, ...] = ()  # positions of the report's sequence aligned with the bug's
    title_hit: str | None = None  # "title" / "alt-title"
    subject: bool = False  # the fix subject names the guilty function (other subject signals defer to it)
    version_note: str = ""

    def scored(self) -> Scored:
        return Scored(self.index, self.raw, self.values, self.weights, self.seq_positions, self.title_hit,
                      self.version_note)


# 1 - exp(-x / scale) is inlined in the steps (see _saturate): they run for ~40 candidates per query.
_exp = math.exp


def _title_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``title``: the report's title (or an alternative one) is a title of the bug's traces."""
    bug = c.bug
    if bug.titles:
        for n, (t, tw) in enumerate(ctx.title_weights):
            if t in bug.titles:
                c.title_hit = "title" if n == 0 else "alt-title"
                c.values["title"] = tw
                break


def _prescore_steps(ev: Sequence[float], c: Candidate) -> None:
    """``frames``, ``idents``, ``file``: the index's evidence sums, saturated."""
    sig = c.values
    x = ev[1]
    if x:
        sig["frames"] = 1.0 - _exp(-x / _SCALE_F) if x > 0 else 0.0
    x = ev[2]
    if x:
        sig["idents"] = 1.0 - _exp(-x / _SCALE_I) if x > 0 else 0.0
    x = ev[3]
    if x:
        sig["file"] = 1.0 - _exp(-x / _SCALE_P) if x > 0 else 0.0


def _path_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``dir``, ``subsystem``: directories and subsystem words, counted here in full (the index
    only counts rare ones)."""
    bug, sig = c.bug, c.values
    dw = ctx.dir_weights
    if dw and bug.dirs:
        common = bug.dirs.intersection(ctx.dir_keys)
        if common:
            dsum = sum([dw[d] for d in common])
            if dsum:
                sig["dir"] = 1.0 - _exp(-dsum / _SCALE_D) if dsum > 0 else 0.0
    ww = ctx.word_weights
    if ww and bug.words:
        common = bug.words.intersection(ctx.word_keys)
        if common:
            wsum = sum([ww[w_] for w_ in common])
            if wsum:
                sig["subsystem"] = 1.0 - _exp(-wsum / _SCALE_S) if wsum > 0 else 0.0


def _guilty_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``guilty``, ``subject``, ``subject_frame``, ``subject_miss``: the record and its fix subject
    against the guilty function and the top frames."""
    bug, sig = c.bug, c.values
    g_best = 0.0
    b_idents, b_frames, b_subj = bug.idents, bug.frames, bug.subject_idents
    for g, gw in ctx.guilty_weights:
        if gw > g_best and (g in b_idents or g in b_frames):
            g_best = gw
        if g in b_subj:
            c.subject = True
    if g_best:
        sig["guilty"] = g_best
    if c.subject:
        sig["subject"] = 1.0
    elif b_subj:
        if not b_subj.isdisjoint(ctx.top_frames):
            sig["subject_frame"] = 1.0
        elif b_subj.isdisjoint(ctx.all_frames):
            sig["subject_miss"] = 1.0  # the fix names functions this report never reaches


def _site_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``site_file``, ``trace_miss``, ``subject_part``, ``subject_words``: the crash site's file,
    the record's quoted trace, and what the fix subject says of the top frames' names."""
    bug, sig = c.bug, c.values
    b_subj = bug.subject_idents
    if ctx.site_file is not None and ctx.site_file in bug.files:
        sig["site_file"] = ctx.site_weight
    if bug.sequences and ctx.guilty_set and not c.title_hit and bug.frames.isdisjoint(ctx.guilty_set):
        sig["trace_miss"] = 1.0  # its quoted crash never reaches the report's guilty function
    if b_subj and not c.subject and not b_subj.isdisjoint(ctx.name_heads):
        sig["subject_part"] = 1.0  # "Protect mgmt_pending list ..." and mgmt_pending_remove
    bw = bug.subject_body_words
    if bw and not bw.isdisjoint(ctx.fn_parts):
        sig["subject_words"] = 1.0 if len(bw.intersection(ctx.fn_parts)) > 1 else 0.5


def _related_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``related``, ``related_subject``, ``holder_site``, ``wait``, ``wait_subject``,
    ``related_file``: weaker evidence from outside the report's own stack."""
    bug, sig = c.bug, c.values
    b_idents, b_frames, b_subj = bug.idents, bug.frames, bug.subject_idents
    if ctx.related_weights:
        r_best = max([rw for f, rw in ctx.related_weights if f in b_idents or f in b_frames], default=0.0)
        if r_best:
            sig["related"] = r_best
            if not c.subject and any(f in b_subj for f, _ in ctx.related_weights):
                sig["related_subject"] = 1.0  # "Fix deadlock in usb_deauthorize_interface()"
    if ctx.holder_weights:
        # A hung task's lock holder is where the hang is made: its site counts like a crash site.
        h_best = max([hw for f, hw in ctx.holder_weights if f in bug.files], default=0.0)
        if h_best:
            sig["holder_site"] = h_best
    if ctx.wait_weights:
        wt_best = max([ww_ for f, ww_ in ctx.wait_weights if f in b_idents or f in b_frames], default=0.0)
        if wt_best:
            sig["wait"] = wt_best
        if not c.subject and any(f in b_subj for f, _ in ctx.wait_weights):
            sig["wait_subject"] = 1.0  # "USB: core: Fix hang in usb_kill_urb ..."
    if ctx.related_file_weights:
        rf_best = max([fw for f, fw in ctx.related_file_weights if f in bug.files], default=0.0)
        if rf_best:
            sig["related_file"] = rf_best


def _device_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``device``: a device error printed before the report names the fix's driver or a function
    the record names."""
    if ctx.context_weights:
        bug = c.bug
        c_best = max([cw for key, cw in ctx.context_weights
                      if (key[2:] in bug.words if key[0] == "s" else key[2:] in bug.idents)], default=0.0)
        if c_best:
            c.values["device"] = c_best


def _kind_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``kind`` / ``kind_miss``: the crash kind against what the fix subject says."""
    bug = c.bug
    if q.kind in bug.kinds or not q.kind_classes.isdisjoint(bug.kind_classes):
        c.values["kind"] = 1.0
    elif q.kind_classes and bug.kind_classes and not bug.kind_classes <= SOFT_CLASSES:
        c.values["kind_miss"] = 1.0  # the fix subject names another kind of crash ("leak" for a UAF)


def _version_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``version``, ``recency``: the log's kernel against the bug's releases."""
    if q.kernel is not None and c.bug.fixed is not None:
        plaus, recency, c.version_note = version_signal(q.kernel, c.bug)
        if plaus:
            c.values["version"] = plaus
        if recency:
            c.values["recency"] = recency


def _example_kernel_step(q: QueryFeatures, ctx: QueryContext, c: Candidate) -> None:
    """``example_kernel``: the kernels of the bug's example traces against the log's. A bug filed
    again after a fix ("X (2)") shows up on later kernels than the first one."""
    bug = c.bug
    if bug.example_kernels and ctx.kernel_point is not None:
        kp = ctx.kernel_point
        if q.kernel_build in bug.example_builds:
            c.values["example_kernel"] = 1.0  # the very same build: same tree, same commit, same time
        else:
            c.values["example_kernel"] = EXAMPLE_KERNEL_NEAR * _exp(
                -min([abs(kp - e) for e in bug.example_kernels]) / EXAMPLE_KERNEL_SCALE)


def _always(q: QueryFeatures, ctx: QueryContext) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class SignalStep:
    """One named step of the scorer. ``fires``: whether the query offers the step anything at all
    (no related stack, no device error, no kernel version...): when it does not, the step is left
    out for every candidate of the query (it would add no signal to any)."""

    run: Callable[[QueryFeatures, QueryContext, Candidate], None]
    fires: Callable[[QueryFeatures, QueryContext], bool] = _always


# The signal steps after the title and the index's sums, in order (the raw score is summed in this
# order: reordering changes its last bits). The frame alignment comes last (add_alignment).
SIGNAL_STEPS: tuple[SignalStep, ...] = (
    SignalStep(_path_step, lambda q, ctx: bool(ctx.dir_weights or ctx.word_weights)),
    # before the steps that defer to the fix subject naming the guilty function
    SignalStep(_guilty_step),
    SignalStep(_site_step),  # after _title_step: trace_miss leaves exact-title hits alone
    SignalStep(_related_step, lambda q, ctx: bool(ctx.related_weights or ctx.holder_weights
                                                  or ctx.wait_weights or ctx.related_file_weights)),
    SignalStep(_device_step, lambda q, ctx: bool(ctx.context_weights)),
    SignalStep(_kind_step),
    SignalStep(_version_step, lambda q, ctx: q.kernel is not None),
    SignalStep(_example_kernel_step, lambda q, ctx: ctx.kernel_point is not None),
)


def score_candidates(q: QueryFeatures, candidates: Iterable[tuple[int, Sequence[float]]], index: CandidateIndex,
                     w: Weights, ctx: QueryContext) -> list[Candidate]:
    """Every signal but the frame alignment, and the raw score, of each ``(bug index, index
    evidence)`` candidate (``ctx``: :func:`query_context`, computed once per query): the title, the
    index's evidence sums, then the :data:`SIGNAL_STEPS` that fire for this query.

    The frame alignment is the costliest signal: :func:`add_alignment` adds it to the candidates
    it can still lift into the results.
    """
    steps = tuple(s.run for s in SIGNAL_STEPS if s.fires(q, ctx))
    wd = _weights_dict(w)
    features = index.features
    out: list[Candidate] = []
    for i, ev in candidates:
        c = Candidate(i, features[i], wd)
        _title_step(q, ctx, c)
        _prescore_steps(ev, c)
        for step in steps:
            step(q, ctx, c)
        c.raw = sum([wd[k] * v for k, v in c.values.items()])
        out.append(c)
    return out


def add_alignment(c: Candidate, q: QueryFeatures, index: CandidateIndex, ctx: QueryContext) -> None:
    """Adds the ``sequence`` signal (the frame alignment) to ``c`` and its raw score."""
    sim, positions = align(q, c.index, index, ctx)
    if sim:
        c.values["sequence"] = sim
        c.raw = c.raw + c.weights["sequence"] * sim
        c.seq_positions = positions


def frame_evidence(q: QueryFeatures, s: Scored, index: CandidateIndex) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(matched, unmatched) frames of the report for one scored candidate, for explanations."""
    bug = index.features[s.bug_index]
    known = bug.frames | bug.idents
    seq_matched = {q.sequence[p] for p in s.seq_positions}
    matched = tuple(dict.fromkeys(
        (*[f for f in q.sequence if f in seq_matched], *[f for f in q.frames[:SEQ_DEPTH] if f in known])))
    unmatched = tuple(f for f in q.frames[:SEQ_DEPTH] if f not in matched)
    return matched, unmatched
