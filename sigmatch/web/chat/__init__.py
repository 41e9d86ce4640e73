"""Chat bots: Slack (slash command, @-mentions) and Mattermost (slash command, outgoing webhook).

::

    app.register_blueprint(sigmatch.web.chat.bp)     # done by create_app

    POST /slack/commands       Slack slash command (SIGMATCH_SLACK_COMMAND), form-encoded, signed
    POST /slack/events         Slack Events API: url_verification, app_mention (log pasted or attached)
    POST /mattermost/commands  Mattermost slash command or outgoing webhook, token-checked

Every request is checked first (Slack: v0 HMAC signature, 5-minute window, no replays; Mattermost:
token), acknowledged at once, and answered in the background by one reply in the thread
(:mod:`sigmatch.runtime.chat.delivery`), rendered by :mod:`sigmatch.runtime.chat.format`.

The per-app chat state (:class:`ChatState`: idempotency store and background runner) is built on
first use from the app's runtime. Tests and embedders replace its parts there:
``build_runtime(settings, idempotency=...)`` (an :class:`~sigmatch.runtime.chat.idempotency.IdempotencyStore`),
``jobs=...`` (the job queue decides where replies run: :meth:`~sigmatch.runtime.Runtime.chat_runner`).
"""

from __future__ import annotations

from flask import Blueprint

from sigmatch.web.chat import mattermost as mattermost
from sigmatch.web.chat import slack as slack
from sigmatch.web.chat.state import ChatState, chat_state

__all__ = ["ChatState", "bp", "chat_state"]

bp = Blueprint("chat", __name__)
bp.add_url_rule("/slack/commands", "slack_commands", slack.commands, methods=["POST"])
bp.add_url_rule("/slack/events", "slack_events", slack.events, methods=["POST"])
bp.add_url_rule("/mattermost/commands", "mattermost_commands", mattermost.commands, methods=["POST"])
