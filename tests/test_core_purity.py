"""The core (parse, signature, catalog model, versions, match, answer) imports no adapter library."""

from __future__ import annotations

import subprocess
import sys

ADAPTERS = ("flask", "redis", "rq", "requests", "bs4", "gunicorn", "slack_sdk", "prometheus_client", "urllib3")
CORE = (
    "sigmatch",
    "sigmatch.trace.parse",
    "sigmatch.trace.signature",
    "sigmatch.catalog.model",
    "sigmatch.catalog.catalog",
    "sigmatch.answer",
)


def test_core_imports_no_adapters() -> None:
    code = (
        "import importlib, importlib.util, sys\n"
        f"for m in {CORE!r} + tuple(n for n in ('sigmatch.catalog.versions', 'sigmatch.catalog.curated', "
        "'sigmatch.match.matcher', 'sigmatch.match.index', 'sigmatch.match.score') if importlib.util.find_spec(n)):\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(set(sys.modules) & set({ADAPTERS!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"core pulled in adapter libraries: {out}"
