"""Fixtures for the browser tests (``tests.helpers.browser``): the server, Chromium, and pages
in fresh browser contexts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, LAPTOP, Server, extractor_ready, launch


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not extractor_ready():
        pytest.skip(
            "the web tests run the whole pipeline and need the extraction model: "
            "train it with `python scripts/train_extractor.py` (or set ASSISTANT_EXTRACTOR_DIR)"
        )
    with launch(tmp_path_factory.mktemp("web-server")) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (`make test` does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, server: Server) -> Iterator[Any]:
    """``new_page(viewport=LAPTOP)``: a page in a fresh browser context (its own cookies)."""
    contexts = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(viewport=viewport or LAPTOP, base_url=server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
