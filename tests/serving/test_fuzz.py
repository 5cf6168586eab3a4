"""Fuzz the published OpenAPI schema against a real ``fedrec serve``: never a 5xx.

Schemathesis generates requests for every operation, both valid ones and ones
that break the schema (wrong types, out-of-range values, missing fields).
"""

import shutil

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.serving.server import serving  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(bundle_dir, tmp_path_factory):
    path = shutil.copytree(bundle_dir, tmp_path_factory.mktemp("fuzz") / "bundle")
    with serving(path) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_server_error(api_schema, mode):
    statuses: list[int] = []
    operations = list(api_schema.get_all_operations())
    assert len(operations) >= 10

    @given(case=api_schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case):
        response = case.call_and_validate(checks=[not_a_server_error], timeout=30)
        statuses.append(response.status_code)

    fuzz()
    assert statuses and max(statuses) < 500
    if mode is GenerationMode.NEGATIVE:
        assert any(400 <= s < 500 for s in statuses)  # the bad input was refused, not served
