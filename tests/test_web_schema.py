"""schemathesis drives the API from its own OpenAPI document: no 500s, responses conform to it.

A bounded number of examples per operation keeps this to seconds; run with
``SIGMATCH_FUZZ_EXAMPLES=500`` for a longer hunt.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from conftest import app_with
from hypothesis import HealthCheck, settings
from web_helpers import small_catalog

from sigmatch.runtime.jobs import ThreadJobs

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

EXAMPLES = int(os.environ.get("SIGMATCH_FUZZ_EXAMPLES", "30"))

app = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": tempfile.mkdtemp(prefix="sigmatch-fuzz-"),
                  "SIGMATCH_ADMIN_TOKEN": "fuzz-token", "JOBS": ThreadJobs()})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    # A schema-valid /match body is any string, but only a kernel log gets a 200: the 422 for the
    # rest is the contract, so "valid data must be accepted" does not apply. Every other check does.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_real_answers_conform_to_the_answer_schema() -> None:
    """The fuzzer rarely sends a kernel log, so check real 200 answers here: one report, several
    reports (the NETDEV WATCHDOG console), a kernel given as a parameter."""
    import jsonschema
    from web_helpers import FSNOTIFY_LOG, REPO

    from sigmatch.web.openapi import document

    doc = document()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "#/components/schemas/Answer",
              "components": doc["components"]}
    client = app.test_client()
    multi = REPO / "tests" / "fixtures" / "consoles" / "netdev-watchdog-then-fsnotify-4.14.32.log"
    for url, body in (("/api/v1/match", FSNOTIFY_LOG.read_bytes()), ("/api/v1/match", multi.read_bytes()),
                      ("/api/v1/match?kernel=5.4.0&top=2", FSNOTIFY_LOG.read_bytes())):
        r = client.post(url, data=body, content_type="text/plain")
        assert r.status_code == 200
        jsonschema.validate(r.get_json(), schema, cls=jsonschema.Draft202012Validator)
