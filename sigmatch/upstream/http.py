"""One way to talk to upstream sites politely and safely.

:class:`UpstreamClient` wraps one ``requests.Session`` (:func:`make_session`) and adds what every
upstream request needs:

- a ``User-Agent`` naming sigmatch and its version;
- a timeout on every request, and an overall per-request deadline (a slow-drip body is cut off);
- retries with backoff only on 429/5xx and connection errors (urllib3 ``Retry``), honouring
  ``Retry-After`` up to a cap (a longer wait is not worth an answer that must come in seconds);
- a per-host rate limit (:class:`RateLimiter`; :class:`TokenBucket` in-process by default,
  the interface is small so a Redis-backed one can take its place);
- a response size cap: bodies are streamed and cut off (``Fetched.truncated``);
- a cache with TTL (:class:`Cache`; :class:`MemoryCache` in-process by default), and one request
  per URL at a time in a process (a second asker waits for the first answer);
- lore's bot wall ("Making sure you're not a bot!", served with status 200) → :class:`BotWallError`;
- only URLs under the configured base URLs are fetched, redirects included: a user's log never
  chooses a host.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from sigmatch import __version__
from sigmatch.config import Settings
from sigmatch.errors import BotWallError, UpstreamError

# The project has no public home page yet; the product name and version identify it to upstream admins.
USER_AGENT = f"sigmatch/{__version__} (Linux kernel crash triage)"

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
RETRY_STATUSES = (429, 500, 502, 503, 504)
# lore.kernel.org sits behind Anubis; its challenge page comes with status 200 and this title
# (HTML-escaped as "you&#39;re" in the page). Checked in the first bytes of every answer.
BOT_WALL_MARKERS = ("making sure you're not a bot", "making sure you’re not a bot")
_BOT_WALL_SCAN = 65536


# --------------------------------------------------------------------------- cache


class Cache(Protocol):
    """Key/value bytes with a time to live. Implementations must be thread-safe."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryCache:
    """In-process LRU cache with TTL, bounded in entries and bytes."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if expires < time.monotonic():
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0 or len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (time.monotonic() + ttl, value)
            self._bytes += len(value)
            while self._data and (len(self._data) > self.max_entries or self._bytes > self.max_bytes):
                self._drop(next(iter(self._data)))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def _drop(self, key: str) -> None:
        _, value = self._data.pop(key)
        self._bytes -= len(value)


# --------------------------------------------------------------------------- rate limit


class RateLimiter(Protocol):
    """Per-key (host) request pacing. Implementations must be thread-safe."""

    def acquire(self, key: str, *, deadline: float | None = None) -> bool:
        """Wait for a slot; False (without waiting) when the slot would come after ``deadline``
        (a ``time.monotonic()`` value)."""
        ...


class TokenBucket:
    """In-process token bucket per key: ``rate`` tokens a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float = 4.0) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str, *, deadline: float | None = None) -> bool:
        if self.rate <= 0:  # 0 or less: no limit
            return True
        with self._lock:
            now = time.monotonic()
            tokens, at = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            if deadline is not None and now + wait > deadline:
                self._state[key] = (tokens, now)
                return False
            self._state[key] = (tokens - 1.0, now)  # reserve the slot, then sleep outside the lock
        if wait > 0:
            time.sleep(wait)
        return True


# --------------------------------------------------------------------------- session


class _CappedRetry(Retry):
    """urllib3 Retry that honours Retry-After only up to ``max_retry_after`` seconds."""

    max_retry_after: float = 5.0

    def parse_retry_after(self, retry_after: str) -> float:
        # Retry-After is whole seconds or an HTTP date; a malformed value (a fraction, garbage)
        # must not fail the request: read a plain number as seconds, otherwise use the backoff.
        try:
            return float(super().parse_retry_after(retry_after))
        except Exception:
            try:
                return max(0.0, float(retry_after.strip()))
            except ValueError:
                return 0.0

    def sleep_for_retry(self, response: Any) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            time.sleep(min(retry_after, self.max_retry_after))
            return True
        return False


def make_session(*, retries: int = 2, backoff: float = 0.3, max_retry_after: float = 5.0) -> requests.Session:
    """A ``requests.Session`` with sigmatch's User-Agent and retries on 429/5xx/connection errors only."""
    retry_cls = type("CappedRetry", (_CappedRetry,), {"max_retry_after": max_retry_after})
    retry = retry_cls(
        total=retries,
        connect=retries,
        read=0,  # a read timeout is not retried: the answer must come within the budget
        status=retries,
        other=0,
        redirect=0,
        backoff_factor=backoff,
        backoff_max=max_retry_after,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept-Encoding"] = "gzip, deflate"
    adapter = HTTPAdapter(max_retries=retry, pool_connections=8, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # no proxies or netrc credentials from the environment
    return session


# --------------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: bytes
    truncated: bool = False
    from_cache: bool = False

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.content_type.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip("\"' ")
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; :class:`UpstreamError` when it is not (truncated, HTML, garbage)."""
        try:
            return json.loads(self.body.decode("utf-8", "replace"))
        except ValueError as exc:
            why = "cut off at the size cap" if self.truncated else "not JSON"
            raise UpstreamError(f"unreadable answer ({why})", url=self.url, status=self.status) from exc

    def encode(self) -> bytes:
        head = json.dumps({"url": self.url, "status": self.status, "ct": self.content_type, "tr": self.truncated})
        return head.encode() + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Fetched:
        head, _, body = raw.partition(b"\n")
        h = json.loads(head)
        return cls(url=h["url"], status=int(h["status"]), content_type=h["ct"], body=body,
                   truncated=bool(h["tr"]), from_cache=True)


def build_url(base: str, path: str, params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None) -> str:
    """``base`` + ``path`` (each path segment already escaped by the caller) + escaped query."""
    url = base.rstrip("/") + "/" + path.lstrip("/")
    if params:
        url += "?" + urlencode(params, quote_via=quote, safe=":")
    return url


def is_bot_wall(body: bytes) -> bool:
    head = html.unescape(body[:_BOT_WALL_SCAN].decode("utf-8", "replace")).lower()
    return any(m in head for m in BOT_WALL_MARKERS)


class UpstreamClient:
    """GETs under the configured base URLs only, with cache, rate limit, size cap and bot-wall check."""

    def __init__(
        self,
        bases: Iterable[str],
        *,
        timeout: float = 10.0,
        cache: Cache | None = None,
        ttl: float = 21600.0,
        limiter: RateLimiter | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        session: requests.Session | None = None,
        max_redirects: int = 3,
    ) -> None:
        self.bases = tuple(b.rstrip("/") + "/" for b in bases if b)
        self.timeout = timeout
        self.cache = cache
        self.ttl = ttl
        self.limiter = limiter
        self.max_bytes = max_bytes
        self.session = session or make_session(max_retry_after=min(5.0, max(0.5, timeout)))
        self.max_redirects = max_redirects
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}
        self.requests_made: dict[str, int] = {}

    # -- policy

    def allowed(self, url: str) -> bool:
        """True when ``url`` lies under one of the configured base URLs (same scheme, host, port)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.username or parts.password:
            return False
        for base in self.bases:
            b = urlsplit(base)
            if (parts.scheme, parts.netloc.lower()) == (b.scheme, b.netloc.lower()) and (
                (parts.path or "/").startswith(b.path or "/")
            ):
                return True
        return False

    def requests_to(self, url_prefix: str) -> int:
        host = urlsplit(url_prefix).netloc.lower()
        with self._lock:
            return self.requests_made.get(host, 0)

    # -- the one call

    def get(
        self,
        url: str,
        *,
        ok: Sequence[int] = (200,),
        deadline: float | None = None,
        use_cache: bool = True,
        max_bytes: int | None = None,
        accept: str | None = None,
    ) -> Fetched:
        """Fetch ``url``; return it when its status is in ``ok``, else raise :class:`UpstreamError`.

        ``deadline`` (a ``time.monotonic()`` value) bounds the rate-limit wait and the whole
        transfer. Raises :class:`BotWallError` for lore's anti-bot page.
        """
        if not self.allowed(url):
            raise UpstreamError("refused: not under a configured upstream base URL", url=url)
        key = "sigmatch:upstream:" + hashlib.sha256(url.encode()).hexdigest()
        caching = use_cache and self.cache is not None and self.ttl > 0
        if not caching:
            return self._get_uncached(url, key, ok=ok, deadline=deadline, max_bytes=max_bytes, accept=accept,
                                      store=False)
        cached = self._cached(key)
        if cached is not None:
            return cached
        # One request per URL at a time: a second asker waits for the first one's answer (cached).
        with self._lock:
            event = self._inflight.get(key)
            leader = event is None
            if leader:
                event = self._inflight[key] = threading.Event()
        assert event is not None
        if not leader:
            wait = self.timeout * 2 if deadline is None else max(0.0, deadline - time.monotonic())
            event.wait(wait)
            cached = self._cached(key)
            if cached is not None:
                return cached
            return self._get_uncached(url, key, ok=ok, deadline=deadline, max_bytes=max_bytes, accept=accept,
                                      store=True)
        try:
            return self._get_uncached(url, key, ok=ok, deadline=deadline, max_bytes=max_bytes, accept=accept,
                                      store=True)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            event.set()

    def _cached(self, key: str) -> Fetched | None:
        raw = self.cache.get(key) if self.cache is not None else None
        if raw is None:
            return None
        try:
            return Fetched.decode(raw)
        except (ValueError, KeyError):
            return None

    def _get_uncached(self, url: str, key: str, *, ok: Sequence[int], deadline: float | None,
                      max_bytes: int | None, accept: str | None, store: bool) -> Fetched:
        cap = self.max_bytes if max_bytes is None else max_bytes
        current = url
        for _ in range(self.max_redirects + 1):
            fetched, location = self._fetch_once(current, deadline=deadline, max_bytes=cap, accept=accept)
            if location is None:
                break
            target = urljoin(current, location)
            if not self.allowed(target):
                raise UpstreamError(f"refused redirect to {target[:200]}", url=current, status=fetched.status)
            current = target
        else:
            raise UpstreamError("too many redirects", url=url)
        # lore serves its challenge with 200; other statuses are checked too, in case it changes.
        if is_bot_wall(fetched.body):
            raise BotWallError("answered with its anti-bot page (\"Making sure you're not a bot!\")",
                               url=current, status=fetched.status)
        if fetched.status not in ok:
            raise UpstreamError(_status_message(fetched), url=current, status=fetched.status)
        if store and self.cache is not None:
            self.cache.set(key, fetched.encode(), self.ttl)
        return fetched

    def _fetch_once(
        self, url: str, *, deadline: float | None, max_bytes: int, accept: str | None
    ) -> tuple[Fetched, str | None]:
        host = urlsplit(url).netloc.lower()
        if self.limiter is not None and not self.limiter.acquire(host, deadline=deadline):
            raise UpstreamError("not asked: the per-host rate limit would pass the time budget", url=url)
        now = time.monotonic()
        end = now + self.timeout if deadline is None else min(deadline, now + self.timeout)
        left = end - now
        if left <= 0.01:
            raise UpstreamError("not asked: no time left in the budget", url=url)
        with self._lock:
            self.requests_made[host] = self.requests_made.get(host, 0) + 1
        headers = {"Accept": accept} if accept else {}
        try:
            resp = self.session.get(url, timeout=(min(left, self.timeout), min(left, self.timeout)),
                                    stream=True, allow_redirects=False, headers=headers)
        except requests.exceptions.Timeout as exc:
            raise UpstreamError(f"timed out after {min(left, self.timeout):.1f} s", url=url) from exc
        except requests.exceptions.RetryError as exc:
            raise UpstreamError("gave up after retries", url=url) from exc
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():  # a read timeout after retries comes wrapped like this
                raise UpstreamError(f"timed out after {min(left, self.timeout):.1f} s", url=url) from exc
            raise UpstreamError(f"cannot connect ({_short_reason(exc)})", url=url) from exc
        except requests.exceptions.RequestException as exc:
            raise UpstreamError(f"request failed ({_short_reason(exc)})", url=url) from exc
        try:
            if resp.is_redirect and resp.headers.get("Location"):
                return Fetched(url, resp.status_code, resp.headers.get("Content-Type", ""), b""), str(
                    resp.headers["Location"])
            body, truncated = _read_capped(resp, max_bytes=max_bytes, end=end, url=url)
            retry_after = resp.headers.get("Retry-After", "")
            ctype = resp.headers.get("Content-Type", "")
            if resp.status_code == 429 and retry_after:
                ctype += f"; retry-after={retry_after[:40]}"
            return Fetched(url, resp.status_code, ctype, body, truncated=truncated), None
        finally:
            resp.close()


def _chunks(resp: requests.Response) -> Iterator[bytes]:
    """Body chunks as soon as they arrive (``read1``), so a slow drip is seen between reads."""
    raw = resp.raw
    if hasattr(raw, "read1"):  # urllib3 2.x
        while True:
            chunk = raw.read1(65536, decode_content=True)
            if not chunk:
                return
            yield chunk
    else:  # pragma: no cover - urllib3 1.26
        yield from resp.iter_content(chunk_size=8192)


def _read_capped(resp: requests.Response, *, max_bytes: int, end: float, url: str) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in _chunks(resp):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                return b"".join(chunks)[:max_bytes], True
            if time.monotonic() > end:
                raise UpstreamError(f"too slow: body not complete before the deadline ({size} bytes read)",
                                    url=url, status=resp.status_code)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if "timed out" in str(exc).lower() or isinstance(
                exc, requests.exceptions.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
            raise UpstreamError(f"timed out reading the body ({size} bytes read)", url=url,
                                status=resp.status_code) from exc
        if chunks:  # a connection cut mid-body: keep what came, say it was cut
            return b"".join(chunks), True
        raise UpstreamError(f"connection broken ({_short_reason(exc)})", url=url, status=resp.status_code) from exc
    return b"".join(chunks), False


def _status_message(f: Fetched) -> str:
    if f.status == 429:
        ra = ""
        for part in f.content_type.split(";"):
            k, _, v = part.strip().partition("=")
            if k == "retry-after":
                ra = f", asks to retry after {v}"
        return f"rate limited (HTTP 429{ra})"
    if f.status >= 500:
        return f"server error (HTTP {f.status})"
    return f"unexpected answer (HTTP {f.status})"


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Read timed out", "Connection reset",
                   "Max retries exceeded", "RemoteDisconnected"):
        if marker in text:
            return marker.lower()
    return exc.__class__.__name__


# --------------------------------------------------------------------------- defaults

_DEFAULT_CACHE = MemoryCache()
_LIMITERS: dict[float, TokenBucket] = {}
_LIMITERS_LOCK = threading.Lock()


def default_cache() -> MemoryCache:
    """The process-wide in-process cache (the worker engineer's Redis cache can replace it)."""
    return _DEFAULT_CACHE


def default_limiter(rate: float) -> TokenBucket:
    """The process-wide in-process token bucket for ``rate`` requests/second per host."""
    with _LIMITERS_LOCK:
        if rate not in _LIMITERS:
            _LIMITERS[rate] = TokenBucket(rate)
        return _LIMITERS[rate]


def client_from_settings(
    settings: Settings,
    *,
    cache: Cache | None = None,
    limiter: RateLimiter | None = None,
) -> UpstreamClient:
    """An :class:`UpstreamClient` allowed to reach exactly the four configured upstream base URLs.

    Without ``cache``/``limiter`` it uses this process's own; a deployment's shared ones (Redis)
    come from :meth:`sigmatch.runtime.Runtime.upstream_client`.
    """
    return UpstreamClient(
        list(settings.upstream_urls),
        timeout=settings.http_timeout,
        cache=cache if cache is not None else default_cache(),
        ttl=float(settings.cache_ttl),
        limiter=limiter if limiter is not None else default_limiter(settings.rate_limit),
        max_bytes=settings.upstream_max_bytes,
    )
