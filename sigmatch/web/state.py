"""The per-app state the views share: settings, the catalog holder, the jobs queue, the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from sigmatch.catalog.catalog import Catalog
from sigmatch.runtime.jobs import Jobs
from sigmatch.runtime.serving import CatalogHolder
from sigmatch.web.metrics import Metrics
from sigmatch.web.present import search_blob


@dataclass
class AppState:
    settings: dict[str, Any]
    holder: CatalogHolder
    jobs: Jobs
    metrics: Metrics
    _blobs: tuple[Catalog, tuple[str, ...]] | None = field(default=None, repr=False)

    def blobs(self, catalog: Catalog) -> tuple[str, ...]:
        """Search text of every bug of ``catalog`` (computed once per catalog)."""
        cached = self._blobs
        if cached is not None and cached[0] is catalog:
            return cached[1]
        blobs = tuple(search_blob(b) for b in catalog.bugs)
        self._blobs = (catalog, blobs)
        return blobs


def state() -> AppState:
    st: AppState = current_app.extensions["sigmatch"]
    return st
