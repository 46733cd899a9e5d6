"""A call whose analysis fails: the call page says why in plain words and offers a retry.

The server here really cannot finish a call: its extraction model folder is empty (as on a
machine where the model was never installed), so every job stops at the extraction stage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import DATA
from tests.helpers.browser import LAPTOP, Server, launch, screenshot, sign_in_with_token

pytestmark = pytest.mark.slow

ANALYSIS_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("web-broken")
    empty = root / "no-model"
    empty.mkdir()
    with launch(root / "data", extractor_dir=str(empty), job_max_attempts="1") as server:
        yield server


def test_failed_call_explains_and_retries(browser: Any, broken_server: Server) -> None:
    context = browser.new_context(viewport=LAPTOP, base_url=broken_server.url)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in_with_token(page, broken_server, "bob")
        page.goto("/upload")
        page.set_input_files("#files", str(Path(DATA / "i_tell_you.wav")))
        page.get_by_role("button", name="Upload and analyse").click()
        page.wait_for_url(re.compile(r"/calls/\d+$"), timeout=ANALYSIS_TIMEOUT_MS)
        call_id = int(page.url.rsplit("/", 1)[1])

        failure = page.get_by_test_id("failure")
        assert "models are not available" in failure.inner_text()
        failure.locator("summary").click()
        assert "extraction model" in failure.locator("pre").inner_text()
        screenshot(page, "call-failed")
        headers = {"Authorization": f"Bearer {broken_server.tokens['bob']}"}
        before = httpx.get(f"{broken_server.url}/api/calls/{call_id}", headers=headers).json()
        assert before["status"] == "failed"

        with page.expect_navigation():
            page.get_by_role("button", name="Try again").click()
        retried = httpx.get(f"{broken_server.url}/api/calls/{call_id}", headers=headers).json()
        assert retried["job"]["id"] != before["job"]["id"]
        # The page follows the new job live and shows the (same) failure once it ends.
        page.get_by_test_id("failure").wait_for(timeout=ANALYSIS_TIMEOUT_MS)
        after = httpx.get(f"{broken_server.url}/api/calls/{call_id}", headers=headers).json()
        assert after["status"] == "failed" and after["job"]["status"] == "failed"
        assert page.locator("#progress").count() == 0
    finally:
        context.close()
