"""Per-app chat state: the idempotency store and the background runner, built on first use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from sigmatch.answer import Answer
from sigmatch.runtime.chat.delivery import Analyze, Delivery, QueueRunner, Runner, ThreadRunner
from sigmatch.runtime.chat.idempotency import IdempotencyStore, idempotency_for
from sigmatch.web.errors import ApiError

log = logging.getLogger("sigmatch.chat")


@dataclass
class ChatState:
    settings: dict[str, Any]
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
            st = _build(app.extensions["sigmatch"], app.config)
            app.extensions[_EXT] = st
    return st


def _build(app_state: Any, config: Any) -> ChatState:
    from sigmatch.runtime.serving import analyze

    settings: dict[str, Any] = dict(app_state.settings)
    delivery = Delivery.from_settings(settings)
    idem: IdempotencyStore = config.get("CHAT_IDEMPOTENCY") or idempotency_for(settings)
    holder = app_state.holder
    top = int(settings.get("SIGMATCH_TOP_K") or 5)

    def analyze_here(text: str) -> Answer:
        return analyze(text, holder.get(), top=top)

    runner: Runner | None = config.get("CHAT_RUNNER")
    if runner is None:
        jobs = app_state.jobs
        if getattr(jobs, "backend", "thread") != "thread":
            runner = QueueRunner(jobs)  # RQ: a worker process answers
        else:
            runner = ThreadRunner(analyze_here, delivery)
    return ChatState(settings=settings, idempotency=idem, runner=runner, delivery=delivery, analyze=analyze_here)


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
