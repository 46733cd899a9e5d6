"""The English sample sales call (samples/) in the browser, as a newcomer first sees the product:
its call page with the model's own items, and the README's screenshot of it.

A server of its own runs the default model (``base``, language detected), as ``make serve`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import (
    LAPTOP,
    ROOT,
    Server,
    _extractor_ready,
    launch,
    screenshot,
    sign_in_with_token,
)

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "samples" / "sales_call_en.ogg"
ANALYSIS_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not _extractor_ready():
        pytest.skip("the sample call needs the extraction model")
    with launch(tmp_path_factory.mktemp("sample-server"), model="base", language="auto") as s:
        yield s


def test_sample_call_page_shows_the_models_own_items(browser: Any, sample_server: Server) -> None:
    headers = {"Authorization": f"Bearer {sample_server.tokens['alice']}"}
    with open(SAMPLE, "rb") as fh:
        accepted = httpx.post(
            f"{sample_server.url}/api/calls",
            headers=headers,
            files={"file": (SAMPLE.name, fh)},
            data={
                "customer": "Brightline Supplies",
                "title": "Discovery call",
                "call_date": "2026-03-02",
            },
            timeout=60,
        )
    assert accepted.status_code == 202, accepted.text
    call_id = accepted.json()["call"]["id"]
    deadline = time.monotonic() + ANALYSIS_TIMEOUT_S
    while True:
        call = httpx.get(f"{sample_server.url}/api/calls/{call_id}", headers=headers, timeout=30)
        status = call.json()["status"]
        if status in ("done", "failed"):
            break
        assert time.monotonic() < deadline, sample_server.log_tail()
        time.sleep(1)
    assert status == "done", call.json().get("error")

    context = browser.new_context(viewport=LAPTOP, base_url=sample_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in_with_token(page, sample_server, "alice")
        page.goto(f"/calls/{call_id}")
        objection = page.locator('.kind[data-kind="objection"] .item', has_text="too high")
        assert objection.count() >= 1
        action = page.locator('.kind[data-kind="action_item"] .item', has_text="pricing sheet")
        assert action.count() == 1
        assert page.get_by_test_id("roles-uncertain").count() == 0
        screenshot(page, "call")
    finally:
        context.close()
