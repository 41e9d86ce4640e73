"""Prometheus metrics: requests by endpoint and status, latency, matches by confidence, catalog size.

Each app gets its own :class:`CollectorRegistry` (several apps in one test process do not clash).
Under gunicorn with several workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``sigmatch serve``)
makes ``/metrics`` add up every worker's figures.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request

# prometheus_client is imported when the first Metrics is built, not with this module: it picks
# its value storage (in memory, or files for several workers) from PROMETHEUS_MULTIPROC_DIR at
# import time, and gunicorn_conf sets that variable after this package is imported.

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, *, multiprocess: bool = False) -> None:
        """``multiprocess``: PROMETHEUS_MULTIPROC_DIR is set (prometheus_client reads it itself)."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        # In multiprocess mode the values live in files and the registry is only for collection.
        target = None if self.multiprocess else self.registry
        self.requests = Counter("sigmatch_http_requests_total", "HTTP requests by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=target)
        self.latency = Histogram("sigmatch_http_request_duration_seconds", "HTTP request latency by endpoint.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=target)
        self.matches = Counter("sigmatch_matches_total",
                               "Match requests by the confidence of their top match (confident, tentative, none).",
                               ["confidence"], registry=target)
        self.catalog_bugs = Gauge("sigmatch_catalog_bugs", "Known bugs in the catalog this process serves.",
                                  registry=target, multiprocess_mode="max")
        self.refresh_success = Gauge("sigmatch_refresh_last_success_timestamp_seconds",
                                     "When a catalog refresh last completed (Unix time; 0: never). "
                                     "Alert when it is older than a day or two.",
                                     registry=target, multiprocess_mode="max")
        self.refresh_failing = Gauge("sigmatch_refresh_failing",
                                     "1 when the last refresh attempt failed (until one succeeds), else 0.",
                                     registry=target, multiprocess_mode="max")
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            mp.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]

    def observe_match(self, answer: dict[str, Any]) -> None:
        matches = answer.get("matches") or []
        if not matches:
            self.matches.labels("none").inc()
        elif matches[0].get("confident"):
            self.matches.labels("confident").inc()
        else:
            self.matches.labels("tentative").inc()

    def render(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)


def install(app: Flask, metrics: Metrics) -> None:
    """Time every request and count it by endpoint (the URL rule, not the raw path) and status."""

    @app.before_request
    def _start() -> None:
        g.sigmatch_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("sigmatch_started", None)
        endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        if started is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response
