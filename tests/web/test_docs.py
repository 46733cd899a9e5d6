"""The API docs (`/docs` Swagger UI, `/redoc`) render from the app's own files: with every request
that leaves 127.0.0.1 blocked, the operations still show and nothing else is asked for."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from api.main import create_app
from assistant.settings import Settings
from tests.helpers import free_port


@pytest.fixture(scope="module")
def docs_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn in a thread (no job workers: the docs need none)."""
    data = tmp_path_factory.mktemp("docs")
    settings = Settings(data_dir=data, database_url=f"sqlite:///{Path(data) / 'a.db'}")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def offline_page(browser: Any, base_url: str) -> tuple[Any, list[str]]:
    """A page whose requests to anywhere but 127.0.0.1 are aborted (and listed)."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(15_000)
    blocked: list[str] = []

    def route(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    return context.new_page(), blocked


def test_swagger_ui_renders_offline(browser: Any, docs_url: str) -> None:
    page, blocked = offline_page(browser, docs_url)
    page.goto("/docs")
    operations = page.locator(".opblock-summary-path")
    operations.first.wait_for()
    paths = set(operations.all_inner_texts())
    assert {"/api/calls", "/api/users/{user_id}/voice"} <= {p.replace("\u200b", "") for p in paths}
    page.locator(".opblock-summary").first.click()  # an operation opens (the UI is live)
    page.locator(".opblock-body").first.wait_for()
    assert blocked == []
    page.context.close()


def test_redoc_renders_offline(browser: Any, docs_url: str) -> None:
    page, blocked = offline_page(browser, docs_url)
    page.goto("/redoc")
    page.get_by_role("heading", name="Sales-call assistant").first.wait_for()
    page.locator("[data-section-id^='tag/calls']").first.wait_for(state="attached")
    assert blocked == []
    page.context.close()
