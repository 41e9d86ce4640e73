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
