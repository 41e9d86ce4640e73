"""Per-app chat state: the idempotency store and the background runner (the runtime's), built on first use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from sigmatch.answer import Answer
from sigmatch.config import Settings
from sigmatch.match.evidence import UpstreamEvidence
from sigmatch.runtime.chat.delivery import Analyze, Delivery, Runner
from sigmatch.runtime.chat.idempotency import IdempotencyStore
from sigmatch.runtime.serving import analyze
from sigmatch.web.errors import ApiError

log = logging.getLogger("sigmatch.chat")


@dataclass
class ChatState:
    settings: Settings
    idempotency: IdempotencyStore
    runner: Runner
    delivery: Delivery
    analyze: Analyze  # with this app's catalog (outgoing webhooks answer in the request)


_state_lock = threading.Lock()
_EXT = "sigmatch_chat"


def chat_state() -> ChatState:
    """This app's chat state, built once from its settings."""
    app = current_app
    st: ChatState | None = app.extensions.get(_EXT)
    if st is not None:
        return st
    with _state_lock:
        st = app.extensions.get(_EXT)
        if st is None:
            st = _build(app.extensions["sigmatch"])
            app.extensions[_EXT] = st
    return st


def _build(app_state: Any) -> ChatState:
    """The chat parts are the runtime's (``build_runtime(settings, idempotency=..., jobs=...)``
    replaces them: the job queue decides where replies run)."""
    settings: Settings = app_state.settings
    runtime = app_state.runtime
    idem: IdempotencyStore = runtime.idempotency
    holder = app_state.holder
    top = settings.top_k

    def analyze_here(text: str, evidence: UpstreamEvidence | None = None) -> Answer:
        return analyze(text, holder.get(), top=top, evidence=evidence)

    runner: Runner = runtime.chat_runner(analyze_here)
    return ChatState(settings=settings, idempotency=idem, runner=runner, delivery=runtime.delivery,
                     analyze=analyze_here)


def submit(st: ChatState, job: Any, claimed: Iterable[str] = ()) -> None:
    """Start ``job``'s reply; when it cannot be started (the queue is down), forget the ``claimed``
    idempotency keys, so the platform's retry gets the reply, and answer 503."""
    try:
        st.runner.submit(job)
    except Exception as exc:
        log.warning("chat reply could not be queued: %s", exc)
        for key in claimed:
            try:
                st.idempotency.release(key)
            except Exception as release_exc:  # the store is down too: the claim expires by itself
                log.warning("idempotency key %s not released: %s", key, release_exc)
        raise ApiError(503, "unavailable", "the reply could not be queued; retry later") from exc
