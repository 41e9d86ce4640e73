"""The background half of a chat request: get the log, analyze it, post exactly one reply.

::

    job = ReplyJob(platform="slack", text=log, response_url=url)      # JSON-able, built by the view
    runner.submit(job)                                                  # returns at once

:class:`ThreadRunner` (the embedded default) runs jobs on a small thread pool of this process,
with the catalog the web app already holds. :class:`QueueRunner` hands them to a
:class:`~sigmatch.runtime.jobs.Jobs` queue (RQ when ``REDIS_URL`` is set) as the plain function
:func:`sigmatch.worker.tasks.chat_reply_job`, which a worker process runs with its own catalog.
Which of the two a deployment uses is :meth:`sigmatch.runtime.Runtime.chat_runner`'s decision.

Replies go out through Slack's SDK (``WebhookClient`` for a ``response_url``, ``WebClient`` for
``chat.postMessage`` with ``thread_ts``) or, for Mattermost, one JSON POST to its ``response_url``.
A delivery is retried only when the far end said it did not take it (connection refused, 429, 5xx),
so a reply is never posted twice.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from sigmatch import __version__
from sigmatch.answer import Answer, lookup_target
from sigmatch.config import Settings
from sigmatch.errors import InputError
from sigmatch.match.evidence import UpstreamEvidence
from sigmatch.runtime.chat import format as fmt
from sigmatch.textio import decode_log
from sigmatch.upstream.evidence import evidence_from
from sigmatch.upstream.http import UpstreamClient
from sigmatch.upstream.lookup import lookup

log = logging.getLogger("sigmatch.chat")


class Analyze(Protocol):
    """The core call with the catalog the replies answer from; ``evidence``: what upstream said
    (the reply is answered again with it when the chat upstream budget brings any)."""

    def __call__(self, text: str, evidence: UpstreamEvidence | None = None) -> Answer: ...

USER_AGENT = f"sigmatch/{__version__} (chat bot)"
DELIVERY_TIMEOUT = 10.0  # seconds, one POST of a reply
DELIVERY_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class SlackFile:
    """A file attached to a Slack message (a snippet or an uploaded text file)."""

    id: str
    name: str = ""
    size: int | None = None
    url: str | None = None  # url_private_download (or url_private)
    mimetype: str = ""
    filetype: str = ""

    @classmethod
    def from_event(cls, d: Mapping[str, Any]) -> SlackFile:
        size = d.get("size")
        return cls(
            id=str(d.get("id") or "")[:100],
            name=str(d.get("name") or d.get("title") or "")[:200],
            size=int(size) if isinstance(size, int) else None,
            url=str(d.get("url_private_download") or d.get("url_private") or "")[:2048] or None,
            mimetype=str(d.get("mimetype") or "")[:100],
            filetype=str(d.get("filetype") or "")[:50],
        )


@dataclass(frozen=True, slots=True)
class ReplyJob:
    """Everything the background half needs; JSON-able so that an RQ worker can run it elsewhere."""

    platform: str  # "slack" | "mattermost"
    text: str = ""  # the log as pasted (may be empty when it comes in files)
    response_url: str | None = None  # slash commands: reply there
    channel: str | None = None  # Slack events: chat.postMessage into this channel ...
    thread_ts: str | None = None  # ... in this thread
    files: tuple[SlackFile, ...] = ()
    # Slack events: the mention's own ts; when it is a reply in a thread (thread_ts differs) and holds
    # no log, the log is read from the thread's first message (conversations.replies)
    message_ts: str | None = None
    key: str = ""  # the idempotency key it was claimed under (for the log)
    received_at: float = field(default_factory=time.time)
    command: str = "/kernel-crash"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReplyJob:
        files = tuple(SlackFile(**f) for f in d.get("files") or ())
        return cls(**{**dict(d), "files": files})


@dataclass(frozen=True, slots=True)
class Delivery:
    """How replies leave: Slack credentials and endpoints, size caps."""

    bot_token: str = ""
    api_url: str = "https://slack.com/api/"
    max_bytes: int = 2 * 1024 * 1024  # largest log accepted, pasted or downloaded
    timeout: float = DELIVERY_TIMEOUT
    upstream_budget: float = 0.0  # seconds a reply waits for upstream reports; 0: none asked
    settings: Settings | None = field(default=None, hash=False, compare=False, repr=False)
    # the deployment's upstream client (shared cache and pace); None: one of this process
    upstream_client: Callable[[], UpstreamClient] | None = field(default=None, hash=False, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings,
                      upstream_client: Callable[[], UpstreamClient] | None = None) -> Delivery:
        api = settings.slack_api_url
        return cls(
            bot_token=settings.slack_bot_token,
            api_url=api if api.endswith("/") else api + "/",
            max_bytes=settings.max_request_bytes,
            timeout=settings.http_timeout,
            upstream_budget=settings.chat_upstream_budget,
            settings=settings,
            upstream_client=upstream_client,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one job (returned to the queue, logged, and read by tests/benchmarks)."""

    delivered: bool
    kind: str  # "match" | "no_match" | "no_crash" | "usage" | "error"
    elapsed: float  # seconds from receipt to the reply being accepted
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- getting the log ------------------------------------------------------------------------------------


def _file_host_allowed(url: str, api_url: str) -> bool:
    """The bot token only goes to Slack's own hosts (or the configured API host, for mirrors/tests)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return False
    api = urlsplit(api_url)
    if host == (api.hostname or "").lower() and parts.port == api.port and parts.scheme == api.scheme:
        return True
    return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")
                                        or host.endswith(".slack-edge.com"))


def download_file(f: SlackFile, d: Delivery) -> bytes:
    """A file's bytes, fetched with the bot token, refused above ``d.max_bytes`` (InputError)."""
    url = f.url
    if not url:
        raise InputError(f"file {f.name or f.id} has no download URL")
    if not _file_host_allowed(url, d.api_url):
        raise InputError(f"file {f.name or f.id} is not on a Slack host; not downloading it")
    if f.size is not None and f.size > d.max_bytes:
        raise InputError(f"file {f.name or f.id} is {f.size} bytes, more than the limit of {d.max_bytes}",
                         reason="too_large")
    headers = {"Authorization": f"Bearer {d.bot_token}", "User-Agent": USER_AGENT}
    try:
        with requests.get(url, headers=headers, timeout=d.timeout, stream=True, allow_redirects=False) as resp:
            if resp.status_code != 200:
                raise InputError(f"could not download file {f.name or f.id}: HTTP {resp.status_code}")
            ctype = resp.headers.get("Content-Type", "")
            if ctype.startswith("text/html"):  # Slack serves its login page when the token lacks files:read
                raise InputError(f"could not download file {f.name or f.id}: got a web page, not the file "
                                 "(does the app have the files:read scope?)")
            return read_capped(resp, d.max_bytes, f.name or f.id)
    except requests.RequestException as exc:
        raise InputError(f"could not download file {f.name or f.id}: {type(exc).__name__}") from exc


def read_capped(resp: requests.Response, limit: int, name: str) -> bytes:
    """A streamed file's bytes; InputError (``too_large``) as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(65536):
        total += len(chunk)
        if total > limit:
            raise InputError(f"file {name} is larger than the limit of {limit} bytes", reason="too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _files_info(f: SlackFile, d: Delivery) -> SlackFile:
    """Events sometimes carry only a file id: ask ``files.info`` for the rest."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=d.bot_token, base_url=d.api_url, timeout=int(d.timeout))
    try:
        resp = client.files_info(file=f.id)
    except SlackApiError as exc:
        raise InputError(f"files.info failed for {f.id}: {exc.response.get('error', 'error')}") from exc
    info = resp.get("file")
    if not isinstance(info, Mapping):
        raise InputError(f"files.info returned no file for {f.id}")
    return SlackFile.from_event(info)


_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_FENCE = re.compile(r"```")


def clean_text(text: str) -> str:
    """A Slack message's text as the person typed it: mentions out, ``&lt;``/``&gt;``/``&amp;`` undone."""
    text = _MENTION.sub(" ", text)
    text = _FENCE.sub("\n", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _thread_root(job: ReplyJob, d: Delivery) -> ReplyJob | None:
    """For a mention with no log, replying in a thread: the thread's first message as a job (its
    text and files), or None when the mention is not in a thread. InputError when Slack refuses."""
    if not (job.platform == "slack" and job.channel and job.thread_ts and job.message_ts
            and job.thread_ts != job.message_ts):
        return None
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=d.bot_token, base_url=d.api_url, timeout=int(d.timeout))
    try:
        resp = client.conversations_replies(channel=job.channel, ts=job.thread_ts, limit=1, inclusive=True)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "error"))
        hint = " (the app needs the channels:history scope to read threads)" if error == "missing_scope" else ""
        raise InputError(f"could not read the thread's first message: {error}{hint}; "
                         "paste the log in your message instead") from exc
    messages = resp.get("messages")
    root = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else None
    if root is None:
        raise InputError("no log in the message, and the thread's first message could not be read", reason="empty")
    text = root.get("text")
    raw_files = root.get("files")
    files: list[Any] = raw_files if isinstance(raw_files, list) else []
    return replace(job, text=clean_text(text if isinstance(text, str) else ""), message_ts=job.thread_ts,
                   files=tuple(SlackFile.from_event(f) for f in files[:5] if isinstance(f, Mapping)))


MEDIA = ("image/", "video/", "audio/", "application/pdf", "application/zip", "application/x-")


def gather_log(job: ReplyJob, d: Delivery) -> str:
    """The pasted text plus the text of attached files, decoded (InputError when none is usable).

    Pictures and other media attached beside a log are skipped; a file that cannot be used is an
    error only when nothing else in the message is a log.
    """
    parts: list[str] = []
    if job.text.strip():
        parts.append(job.text)
    problems: list[InputError] = []
    budget = d.max_bytes
    for f in job.files[:5]:
        if f.mimetype.startswith(MEDIA):
            continue
        try:
            if not f.url and f.id:
                f = _files_info(f, d)
                if f.mimetype.startswith(MEDIA):
                    continue
            data = download_file(f, replace(d, max_bytes=max(0, budget)))
            parts.append(decode_log(data, max_bytes=d.max_bytes))
            budget -= len(data)
        except InputError as exc:
            problems.append(exc)
    if not parts:
        if problems:
            raise problems[0]
        raise InputError("no log in the message", reason="empty")
    # as bytes, so that binary junk pasted as text is refused like an uploaded binary file
    return decode_log("\n".join(parts).encode("utf-8", "surrogatepass"), max_bytes=d.max_bytes)


# --- rendering and posting ------------------------------------------------------------------------------


def render(job: ReplyJob, analyze: Analyze, d: Delivery) -> tuple[dict[str, Any], str]:
    """The message to post and its kind. Never raises: failures become an error message.

    A mention replying in a thread whose own message holds no crash (no log, or a question like
    "@sigmatch what is this?") and no file is answered from the thread's first message.
    """
    found = _analyzed(job, analyze, d)
    if not (isinstance(found, tuple) and found[1].reports) and not job.files:
        try:
            root = _thread_root(job, d)
        except InputError as exc:
            root, found = None, (found if isinstance(found, tuple) else exc)
        if root is not None:
            found = _analyzed(root, analyze, d)
    if isinstance(found, InputError):
        if found.reason == "empty":
            return _simple(job.platform, fmt.usage_text(job.command)), "usage"
        return _simple(job.platform, fmt.error_text(str(found))), "error"
    text, answer = found
    answer = with_upstream(answer, text, d, analyze)
    kind = "match" if answer.confident else ("no_match" if answer.reports else "no_crash")
    msg = fmt.slack_message(answer) if job.platform == "slack" else fmt.mattermost_message(answer)
    return msg, kind


def _analyzed(job: ReplyJob, analyze: Analyze, d: Delivery) -> tuple[str, Answer] | InputError:
    """The job's log and its answer, or the input error that stopped it."""
    try:
        text = gather_log(job, d)
        return text, analyze(text)
    except InputError as exc:
        return exc
    except Exception:
        log.exception("chat analysis failed")
        return InputError("internal error; it has been logged")


def with_upstream(answer: Answer, text: str, d: Delivery, analyze: Analyze | None = None) -> Answer:
    """The answer with upstream reports (lore, bugzilla, syzbot) found within ``d.upstream_budget``,
    answered again with that evidence (``analyze``): a bug naming the top candidate's fix may make
    it confident. A chat reply is posted once: sources still pending then are not counted, and the
    reply's notes say so."""
    if d.upstream_budget <= 0 or not answer.reports:
        return answer
    if d.settings is None or not d.settings.upstream_lookup:
        return answer
    try:
        index, fixes = lookup_target(answer)  # the same report and commits as the API asks about
        report = answer.reports[index] if 0 <= index < len(answer.reports) else answer.reports[0]
        client = d.upstream_client() if d.upstream_client is not None else None
        result = lookup(report, settings=d.settings, budget=d.upstream_budget, text=text, fix_commits=fixes,
                        client=client)
    except Exception:  # upstream never keeps the catalog answer from going out
        log.exception("upstream lookup for a chat reply failed")
        return answer
    if analyze is not None:
        try:
            answer = analyze(text, evidence=evidence_from(result, report_index=index, text=text))
        except Exception:
            log.exception("answering a chat reply with upstream evidence failed; the catalog answer stands")
    return replace(answer, upstream={**answer.upstream, **result.to_dict()})


def _simple(platform: str, text: str) -> dict[str, Any]:
    if platform == "slack":
        return {"text": fmt.SLACK.esc(text)}
    return {"text": text}


class _Retryable(Exception):
    pass


def _post_response_url(job: ReplyJob, message: dict[str, Any], d: Delivery) -> None:
    body = {**message, "response_type": "in_channel"}
    if job.platform == "slack":
        from slack_sdk.webhook import WebhookClient

        try:
            resp = WebhookClient(job.response_url or "", timeout=int(d.timeout)).send_dict(body)
        except OSError as exc:  # connection refused / reset before the request was taken
            raise _Retryable(str(exc)) from exc
        status = resp.status_code
    else:
        try:
            r = requests.post(job.response_url or "", json=body, timeout=d.timeout,
                              headers={"User-Agent": USER_AGENT}, allow_redirects=False)
        except requests.ConnectionError as exc:
            raise _Retryable(str(exc)) from exc
        status = r.status_code
    if status == 429 or status >= 500:
        raise _Retryable(f"HTTP {status}")
    if status >= 300:
        raise RuntimeError(f"response_url answered HTTP {status}")


def _post_message(job: ReplyJob, message: dict[str, Any], d: Delivery) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=d.bot_token, base_url=d.api_url, timeout=int(d.timeout))
    try:
        client.chat_postMessage(channel=job.channel or "", thread_ts=job.thread_ts, text=message.get("text", ""),
                                blocks=message.get("blocks"), unfurl_links=False, unfurl_media=False)
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}") from exc
        raise RuntimeError(f"chat.postMessage failed: {exc.response.get('error', status)}") from exc
    except OSError as exc:
        raise _Retryable(str(exc)) from exc


def deliver(job: ReplyJob, message: dict[str, Any], d: Delivery) -> None:
    post = _post_response_url if job.response_url else _post_message
    if not job.response_url and not job.channel:
        raise RuntimeError("nowhere to reply: no response_url and no channel")
    for attempt in range(DELIVERY_ATTEMPTS):
        try:
            post(job, message, d)
            return
        except _Retryable as exc:
            if attempt == DELIVERY_ATTEMPTS - 1:
                raise RuntimeError(f"reply not accepted after {DELIVERY_ATTEMPTS} attempts: {exc}") from exc
            time.sleep(0.5 * 2**attempt)


def run_reply(job: ReplyJob, analyze: Analyze, d: Delivery) -> Outcome:
    """Analyze and post one reply. Never raises; the outcome says what happened."""
    message, kind = render(job, analyze, d)
    try:
        deliver(job, message, d)
    except Exception as exc:
        log.warning("chat reply %s (%s) not delivered: %s", job.key, job.platform, exc)
        return Outcome(False, kind, time.time() - job.received_at, str(exc)[:300])
    elapsed = time.time() - job.received_at
    log.info("chat reply %s (%s, %s) delivered %.3fs after receipt", job.key, job.platform, kind, elapsed)
    return Outcome(True, kind, elapsed)


# --- runners ---------------------------------------------------------------------------------------------


class Runner(Protocol):
    backend: str

    def submit(self, job: ReplyJob) -> None:
        """Start the job in the background and return at once."""
        ...


class ThreadRunner:
    """Embedded default: a small thread pool in this process, analyzing with the app's catalog."""

    backend = "thread"

    def __init__(self, analyze: Analyze, delivery: Delivery, *, workers: int = 2) -> None:
        self._analyze = analyze
        self._delivery = delivery
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigmatch-chat")
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []  # the most recent ones, for tests and benchmarks

    def submit(self, job: ReplyJob) -> None:
        self._pool.submit(self._run, job)

    def _run(self, job: ReplyJob) -> None:
        outcome = run_reply(job, self._analyze, self._delivery)
        with self._lock:
            self.outcomes.append(outcome)
            del self.outcomes[:-1000]

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


class QueueRunner:
    """Hands jobs to a :class:`~sigmatch.runtime.jobs.Jobs` queue (RQ with Redis) as
    :func:`sigmatch.worker.tasks.chat_reply_job`."""

    backend = "queue"
    FUNC = "sigmatch.worker.tasks.chat_reply_job"

    def __init__(self, jobs: Any) -> None:
        self._jobs = jobs

    def submit(self, job: ReplyJob) -> None:
        self._jobs.enqueue(self.FUNC, job=job.to_dict())
