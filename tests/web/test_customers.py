"""Customers and follow-ups in the browser (Chromium) against the real server: a manager merges
two spellings of one customer and follows a need from the customer page to its moment in the
call; a rep marks an overdue action item done and it leaves "Overdue"; a rep of another team
gets 404 for the customer page.

The calls are stored rows with written reports (tests.helpers.seed_acme): this is about the
pages, not the models. The server runs on its own data directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.store import Database
from tests.helpers import seed_acme
from tests.helpers.browser import LAPTOP, Server, launch, sign_in_with_token


@pytest.fixture(scope="module")
def acme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict]]:
    data_dir = tmp_path_factory.mktemp("customers-server")
    with launch(data_dir) as server:
        db = Database(f"sqlite:///{data_dir / 'assistant.db'}")
        try:
            calls = seed_acme(db)
        finally:
            db.dispose()
        yield server, calls


@pytest.fixture
def page_as(browser: Any, acme_server: tuple[Server, dict]) -> Iterator[Any]:
    server, _ = acme_server
    contexts = []

    def make(name: str) -> Any:
        context = browser.new_context(viewport=LAPTOP, base_url=server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        sign_in_with_token(page, server, name)
        return page

    yield make
    for context in contexts:
        context.close()


def test_manager_merges_spellings_and_follows_a_need_to_its_moment(
    page_as: Any, acme_server: tuple[Server, dict]
) -> None:
    _, calls = acme_server
    page = page_as("mia")
    page.get_by_role("link", name="Customers", exact=True).click()
    rows = page.get_by_test_id("customers-table").locator("tbody tr")
    assert sorted(rows.all_inner_texts()) == [
        "Acme\t1\t2026-11-20\t2026-11-20",
        "Acme GmbH\t2\t2026-10-01\t2026-11-02",
    ]
    page.get_by_role("link", name="Acme GmbH").click()
    page.wait_for_url(re.compile(r"/customers/\d+$"))
    page.locator("#manage summary").click()
    page.get_by_label("Merge into this customer").select_option(label="Acme")
    page.get_by_role("button", name="Merge").click()
    page.wait_for_load_state("load")
    page.get_by_test_id("timeline").locator("li").nth(2).wait_for()
    assert page.get_by_test_id("timeline").locator("li").count() == 3
    page.goto("/customers")
    assert page.get_by_test_id("customers-count").inner_text() == "1"

    page.get_by_role("link", name="Acme GmbH").click()
    needs = page.get_by_test_id("themes-customer_need")
    salesforce = needs.locator(".theme", has_text="Salesforce")
    assert "2 calls" in salesforce.locator(".theme-counts").inner_text()
    moment = salesforce.locator("a.moment").last
    moment.click()
    page.wait_for_url(re.compile(rf"/calls/{calls['second']}\?t=[\d.]+&item=\d+"))
    # the call page marks the item and the transcript line of that moment
    current = page.locator(".segments li.current")
    current.wait_for()
    assert "Salesforce" in current.inner_text()


def test_rep_marks_an_action_item_done_and_it_leaves_overdue(page_as: Any) -> None:
    page = page_as("alice")
    page.goto("/followups")
    overdue = page.get_by_test_id("bucket-overdue")
    item = overdue.locator(".followup", has_text="pricing sheet")
    assert item.count() == 1
    item.get_by_role("button", name="Mark done").click()
    page.wait_for_load_state("load")
    page.get_by_test_id("bucket-overdue").locator("h2").wait_for()
    expect_gone = page.get_by_test_id("bucket-overdue").locator(".followup", has_text="pricing")
    expect_gone.wait_for(state="detached")
    assert page.get_by_test_id("bucket-overdue").locator(".count").inner_text() == "0"


def test_rep_of_another_team_gets_404_for_the_customer_page(
    page_as: Any, acme_server: tuple[Server, dict]
) -> None:
    page = page_as("mia")
    page.goto(f"/calls/{acme_server[1]['first']}")
    customer_link = page.locator(".meta a[href^='/customers/']")
    href = customer_link.get_attribute("href")
    assert href
    carol = page_as("carol")
    response = carol.goto(href)
    assert response is not None and response.status == 404
    assert "Customer not found" in carol.content()


def test_rep_moves_a_call_to_another_customer(
    page_as: Any, acme_server: tuple[Server, dict]
) -> None:
    page = page_as("alice")
    page.goto(f"/calls/{acme_server[1]['third']}")
    page.locator("#customer-menu summary").click()
    page.get_by_label("Customer of this call").fill("Globex  AG")
    page.get_by_role("button", name="Move the call").click()
    link = page.locator(".meta a[href^='/customers/']", has_text="Globex AG")
    link.wait_for()
    link.click()
    page.wait_for_url(re.compile(r"/customers/\d+$"))
    assert page.get_by_test_id("customer-name").inner_text() == "Globex AG"
    assert page.get_by_test_id("timeline").locator("li").count() == 1
