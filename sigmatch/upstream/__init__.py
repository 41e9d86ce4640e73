"""Upstream clients: lore.kernel.org, bugzilla.kernel.org, syzbot, stable ChangeLogs (adapters: HTTP).

::

    lookup(report_or_signature, settings=None, budget=None) -> UpstreamResult   within the budget
    start_lookup(...) -> LookupJob                                              poll for the rest
"""

from __future__ import annotations

from sigmatch.upstream.lookup import LookupJob, Query, lookup, query_for, start_lookup
from sigmatch.upstream.model import UpstreamResult

__all__ = ["LookupJob", "Query", "UpstreamResult", "lookup", "query_for", "start_lookup"]
