"""The per-app state the views share: settings, the runtime, the catalog holder, the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from sigmatch.catalog.catalog import Catalog
from sigmatch.config import Settings
from sigmatch.runtime import Runtime
from sigmatch.runtime.jobs import Jobs
from sigmatch.runtime.serving import CatalogHolder
from sigmatch.web.metrics import Metrics
from sigmatch.web.present import search_blob


@dataclass
class AppState:
    settings: Settings
    runtime: Runtime
    holder: CatalogHolder
    metrics: Metrics
    _blobs: tuple[Catalog, tuple[str, ...]] | None = field(default=None, repr=False)

    @property
    def jobs(self) -> Jobs:
        return self.runtime.jobs

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
