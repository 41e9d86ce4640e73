"""gunicorn's threaded worker with a bound on how long a client may stall mid-request.

gunicorn's ``gthread`` worker parks idle connections in its poller, but once a request has begun a
worker thread reads it in blocking mode with no timeout: a client that stops sending (a slow or
hostile client) holds that thread for as long as it likes. This worker turns "blocking" into
"blocking with a timeout" (``SIGMATCH_CLIENT_TIMEOUT`` seconds per read or write), so a stalled
client is cut off and its thread returns to serving others.
"""

from __future__ import annotations

import socket
from typing import Any

from gunicorn.workers import gthread

from sigmatch.config import Settings


class _StallBoundedSocket(socket.socket):
    """A socket whose blocking mode carries a timeout (same memory layout: ``__class__`` swaps in)."""

    __slots__ = ()
    stall_timeout: float = 10.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.stall_timeout)
        else:
            super().setblocking(False)


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    def init_process(self) -> None:
        _StallBoundedSocket.stall_timeout = Settings.from_env().client_timeout
        super().init_process()

    def handle(self, conn: Any) -> Any:
        if type(conn.sock) is socket.socket:
            conn.sock.__class__ = _StallBoundedSocket
        return super().handle(conn)
