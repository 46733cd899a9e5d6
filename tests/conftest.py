"""Shared fixtures: real clips in tests/data, and one data directory per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def assistant_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test (and CLI subprocess) writes under one temporary data directory; model caches
    made there (the joined ``base`` weights) are shared by the whole session."""
    path = tmp_path_factory.mktemp("assistant-data")
    os.environ["ASSISTANT_DATA_DIR"] = str(path)
    from assistant.settings import get_settings

    get_settings.cache_clear()
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA
