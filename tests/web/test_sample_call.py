"""The English sample sales calls (samples/) in the browser, as a newcomer first sees the
product: a call page with the model's own items, a customer's page and the follow-up list, and
the README's screenshots of them.

A server of its own runs the default model (``base``, language detected), as ``make serve`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.browser import (
    LAPTOP,
    ROOT,
    Server,
    extractor_ready,
    launch,
    screenshot,
    sign_in_with_token,
)

pytestmark = pytest.mark.slow

SAMPLE = ROOT / "samples" / "sales_call_en.ogg"
FOLLOW_UP = ROOT / "samples" / "sales_call_followup_en.ogg"
ANALYSIS_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not extractor_ready():
        pytest.skip("the sample call needs the extraction model")
    with launch(tmp_path_factory.mktemp("sample-server"), model="base", language="auto") as s:
        yield s


def analysed(server: Server, user: str, path: Path, **fields: str) -> int:
    """Upload a sample as ``user`` and wait until its analysis is done; returns the call id."""
    headers = {"Authorization": f"Bearer {server.tokens[user]}"}
    with open(path, "rb") as fh:
        accepted = httpx.post(
            f"{server.url}/api/calls",
            headers=headers,
            files={"file": (path.name, fh)},
            data=fields,
            timeout=60,
        )
    assert accepted.status_code in (200, 202), accepted.text
    call_id = int(accepted.json()["call"]["id"])
    deadline = time.monotonic() + ANALYSIS_TIMEOUT_S
    while True:
        call = httpx.get(f"{server.url}/api/calls/{call_id}", headers=headers, timeout=30)
        status = call.json()["status"]
        if status in ("done", "failed"):
            break
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(1)
    assert status == "done", call.json().get("error")
    return call_id


def test_sample_call_page_shows_the_models_own_items(browser: Any, sample_server: Server) -> None:
    call_id = analysed(
        sample_server,
        "alice",
        SAMPLE,
        customer="Brightline Supplies",
        title="Discovery call",
        call_date="2026-03-02",
    )

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


def test_sample_account_customer_page_and_follow_ups(browser: Any, sample_server: Server) -> None:
    """The README's customer page and follow-up list: bob's discovery call and his follow-up
    call two weeks later with the same customer, spelled two ways: the customer's page as bob
    sees it, the team's follow-ups as their manager sees them."""
    today = date.today()
    first = analysed(
        sample_server,
        "bob",
        SAMPLE,
        customer="Brightline Supplies",
        title="Discovery call",
        call_date=(today - timedelta(days=17)).isoformat(),
    )
    second = analysed(
        sample_server,
        "bob",
        FOLLOW_UP,
        customer="brightline  supplies",
        title="Follow-up call",
        call_date=(today - timedelta(days=3)).isoformat(),
    )
    context = browser.new_context(viewport=LAPTOP, base_url=sample_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        sign_in_with_token(page, sample_server, "bob")
        page.goto("/customers")
        page.get_by_role("link", name="Brightline Supplies").click()
        timeline = page.get_by_test_id("timeline").locator("a")
        assert [timeline.nth(i).get_attribute("href") for i in range(timeline.count())] == [
            f"/calls/{first}",
            f"/calls/{second}",
        ]
        assert page.get_by_test_id("open-items").locator(".followup").count() >= 2
        screenshot(page, "customer")
        page.context.clear_cookies()
        sign_in_with_token(page, sample_server, "mia")
        page.goto("/followups")
        assert page.get_by_test_id("per-rep").locator("tbody tr", has_text="bob").count() == 1
        screenshot(page, "followups")
    finally:
        context.close()
