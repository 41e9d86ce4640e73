"""Batch triage (``sigmatch match --jsonl``): many logs in, one result per log out, on several cores.

Input: one JSON object per line, ``{"id": ..., "log": "..."}`` (``"trace"`` is read as ``"log"``;
optional ``"kernel"``, the running kernel when the log does not say it, and ``"time"`` /
``"timestamp"`` / ``"date"`` / ``"seen"``, when the log was taken, for the roll-up). Output: one
JSON object per non-blank input line, in input order, ``{"id", "reports", "matches", "confident",
"kernel", "notes", "algorithm_version", "catalog_version"}``; a line that cannot be answered gives
``{"id", "line", "error"}`` and the batch goes on. With a roll-up (:mod:`sigmatch.rollup`) the
results are grouped by known bug instead of printed.

``jobs`` > 1 answers chunks of lines in worker processes forked from this one after the matcher is
loaded (they share its memory copy-on-write; nothing is loaded again), at most a few chunks per
worker in flight (memory stays bounded on any input size), results written in input order: the
output is byte-identical to ``jobs=1``. Batches of a chunk or less are answered in this process.
Where fork is not available, or a worker dies (out of memory), the rest of the batch is answered
here, and a note says so on standard error.
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from sigmatch.answer import Answer, analyze
from sigmatch.errors import InputError, SigmatchError
from sigmatch.match.matcher import ALGORITHM_VERSION, Matcher
from sigmatch.rollup import Rollup, log_item

CHUNK = 8  # lines per task sent to a worker
IN_FLIGHT = 4  # tasks per worker queued ahead
MAX_DEFAULT_JOBS = 4


def default_jobs() -> int:
    """The cores this process may use, at most :data:`MAX_DEFAULT_JOBS` (each worker's share of
    the catalog's memory grows as it touches it)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_DEFAULT_JOBS))


@dataclass(frozen=True, slots=True)
class Job:
    """What answering one line needs, beside the matcher."""

    top: int = 5
    summary: bool = False  # also return the roll-up item of each line


def result_of(answer: Answer, item_id: Any) -> dict[str, Any]:
    """The output object of one answered line (the per-line JSONL contract)."""
    return {"id": item_id, "reports": [r.to_dict() for r in answer.reports],
            "matches": [m.to_dict() for m in answer.matches], "confident": answer.confident,
            "kernel": answer.kernel.to_dict() if answer.kernel else None, "notes": list(answer.notes),
            "algorithm_version": answer.algorithm_version, "catalog_version": answer.catalog_version}


def answer_line(lineno: int, line: str, matcher: Matcher, job: Job) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The result of one input line, and its roll-up item when ``job.summary``; never raises."""
    item_id: Any = None
    obj: dict[str, Any] = {}
    try:
        parsed = json.loads(line)
        if not isinstance(parsed, dict):
            raise InputError("line is not a JSON object")
        obj = parsed
        item_id = obj.get("id", lineno)
        log = obj.get("log", obj.get("trace"))
        if not isinstance(log, str):
            raise InputError('no "log" string on this line')
        kernel = obj.get("kernel")
        answer = analyze(log, matcher, top=job.top, kernel=kernel if isinstance(kernel, str) and kernel else None)
        res = result_of(answer, item_id)
        return res, (log_item(res, obj, log, answer.reports) if job.summary else None)
    except json.JSONDecodeError as exc:
        res = {"id": item_id, "line": lineno, "error": f"not JSON: {exc.msg}"}
    except SigmatchError as exc:
        res = {"id": item_id, "line": lineno, "error": str(exc)}
    except Exception as exc:  # one bad line must not stop the batch; say what happened
        res = {"id": item_id, "line": lineno, "error": f"internal error: {exc.__class__.__name__}: {exc}"}
    return res, (log_item(res, obj, None, ()) if job.summary else None)


def numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """The non-blank input lines with their line numbers (1-based, blank lines counted)."""
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            yield lineno, line


def batch_results(lines: Iterable[str], matcher: Matcher, *, top: int = 5) -> Iterator[dict[str, Any]]:
    """One result object per non-blank input line, in this process; errors become ``{"id", "error"}``."""
    job = Job(top=top)
    for lineno, line in numbered(lines):
        yield answer_line(lineno, line, matcher, job)[0]


# --------------------------------------------------------------------------- several processes

Chunk = list[tuple[int, str]]
Answered = list[tuple[str, dict[str, Any] | None]]

# The matcher and job of a batch, set before the workers are forked (they inherit them).
_STATE: tuple[Matcher, Job] | None = None


def _encode(res: dict[str, Any]) -> str:
    # check_circular=False: results are fresh trees of dicts and lists (~30% faster encoding).
    return json.dumps(res, default=str, check_circular=False)


def answer_chunk(chunk: Chunk, matcher: Matcher, job: Job) -> Answered:
    out: Answered = []
    for lineno, line in chunk:
        res, item = answer_line(lineno, line, matcher, job)
        out.append((_encode(res), item))
    return out


def _worker_chunk(chunk: Chunk) -> Answered:
    if _STATE is None:  # not forked from a batch: nothing to answer with
        raise RuntimeError("batch worker without a matcher")
    return answer_chunk(chunk, *_STATE)


def _chunks(pairs: Iterator[tuple[int, str]], size: int) -> Iterator[Chunk]:
    while chunk := list(islice(pairs, size)):
        yield chunk


def _fork_context() -> Any:
    import multiprocessing

    try:
        return multiprocessing.get_context("fork")
    except ValueError:
        return None


def _parallel(chunks: Iterator[Chunk], matcher: Matcher, job: Job, jobs: int,
              warn: Callable[[str], None]) -> Iterator[Answered]:
    """Chunks answered by ``jobs`` forked workers, yielded in input order."""
    global _STATE
    ctx = _fork_context()
    if ctx is None:
        warn(f"--jobs {jobs}: this platform cannot fork; answering in one process")
        yield from (answer_chunk(c, matcher, job) for c in chunks)
        return
    _STATE = (matcher, job)
    # Chunks taken from the input and not yet yielded, oldest first, with their task (None: not
    # submitted: the pool broke first). What the pool leaves unanswered is answered from here.
    pending: deque[tuple[Chunk, Future[Answered] | None]] = deque()
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            try:
                for chunk in chunks:
                    pending.append((chunk, None))
                    pending[-1] = (chunk, pool.submit(_worker_chunk, chunk))
                    while len(pending) >= jobs * IN_FLIGHT:
                        yield _result(pending[0][1])
                        pending.popleft()
                while pending:
                    yield _result(pending[0][1])
                    pending.popleft()
            except BrokenProcessPool:
                warn("a batch worker process died (out of memory?); answering the rest in one process")
            finally:
                for _, fut in pending:
                    if fut is not None:
                        fut.cancel()
        # the pool broke: what it did not answer, in order, here
        for chunk, _ in pending:
            yield answer_chunk(chunk, matcher, job)
        yield from (answer_chunk(c, matcher, job) for c in chunks)
    finally:
        _STATE = None


def _result(fut: Future[Answered] | None) -> Answered:
    if fut is None:
        raise BrokenProcessPool("not submitted")
    return fut.result()


def _stderr_note(text: str) -> None:
    print(f"sigmatch: note: {text}", file=sys.stderr)


def run_batch(lines: Iterable[str], matcher: Matcher, out: IO[str] | None, *, top: int = 5, jobs: int = 1,
              summary: bool = False, warn: Callable[[str], None] = _stderr_note) -> tuple[int, Rollup | None]:
    """Answer every line; write each result to ``out`` (one JSON object per line) unless
    ``summary``, in which case the results go into the returned :class:`~sigmatch.rollup.Rollup`.
    Returns the number of results and the roll-up (``None`` without ``summary``)."""
    job = Job(top=top, summary=summary)
    rollup = Rollup(matcher.catalog_version, ALGORITHM_VERSION) if summary else None
    chunks = _chunks(numbered(lines), CHUNK)
    head = list(islice(chunks, 2))
    if jobs > 1 and len(head) > 1:
        answered: Iterator[Answered] = _parallel(_chain(head, chunks), matcher, job, jobs, warn)
    else:
        answered = (answer_chunk(c, matcher, job) for c in _chain(head, chunks))
    n = 0
    for part in answered:
        for text, item in part:
            n += 1
            if rollup is not None and item is not None:
                rollup.add(item)
            elif out is not None:
                out.write(text + "\n")
    if out is not None:
        out.flush()
    return n, rollup


def _chain(head: list[Chunk], rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield from head
    yield from rest


def batch(lines: Iterable[str], matcher: Matcher, out: IO[str], *, top: int = 5, jobs: int = 1) -> int:
    """Every line's result on ``out``, one JSON object per line; the number of results."""
    return run_batch(lines, matcher, out, top=top, jobs=jobs)[0]
