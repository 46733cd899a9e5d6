"""Property-based run over the OpenAPI schema (schemathesis, bounded examples): whatever the
generated request, signed in as an admin, the service never answers 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.helpers import DATA
from tests.helpers.service import BACKENDS, Service, start_service

MAX_EXAMPLES = 25


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp(f"schema-{request.param}")
    for service in start_service(request.param, tmp):
        assert service.upload("alice", DATA / "i_tell_you.wav").status_code == 202
        service.run_jobs()
        service.client.post(
            "/api/calls/1/items",
            headers=service.h("alice"),
            json={"kind": "customer_need", "text": "They need a CRM integration"},
        )
        yield service


@pytest.fixture(scope="module")
def api_schema(fuzzed: Service):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed.client.app)


def test_no_server_errors(api_schema, fuzzed: Service) -> None:  # type: ignore[no-untyped-def]
    failures: list[str] = []
    tried = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE" and operation.path.startswith("/api/calls"):
            continue  # deleting the call would leave later examples nothing to read

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal tried
            tried += 1
            response = case.call(headers=fuzzed.h("ada"))
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        run()
    assert tried > 100
    assert not failures, "\n".join(failures[:20])


def test_the_schema_was_fuzzed(api_schema) -> None:  # type: ignore[no-untyped-def]
    operations = list(api_schema.get_all_operations())
    assert len(operations) >= 15
    assert Path(DATA / "jfk.flac").is_file()
