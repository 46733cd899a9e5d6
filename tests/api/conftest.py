"""Fixtures for the service tests (``tests.helpers.service``): a fresh service per test, or one
per module with a call analysed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DATA
from tests.helpers.service import BACKENDS, Service, start_service


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A fresh service per test."""
    yield from start_service(request.param, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One service per module, with jfk.flac uploaded by alice (customer Acme) and analysed."""
    tmp = tmp_path_factory.mktemp(f"service-{request.param}")
    for service in start_service(request.param, tmp):
        response = service.upload(
            "alice",
            DATA / "jfk.flac",
            customer="Acme GmbH",
            title="Discovery call",
            call_date="2026-03-02",
        )
        assert response.status_code == 202, response.text
        assert service.run_jobs() == 1
        yield service
