"""The web app in a real browser against the real server, worker and models.

One story, in order: alice (rep) signs in with her one-time link and uploads a real two-speaker
recording, watches it being analysed and lands on the call page; she plays moments, adds what the
model missed, reviews and edits items and names the speakers; mia (her manager) finds the call in
the list and the need among the themes; carol (a rep of another team) cannot see any of it.
The tests share one server and run in file order; each one that needs the call asks for the
``alice_call`` fixture, which runs the upload once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import DATA
from tests.helpers.browser import LAPTOP, TABLET, Server, screenshot, sign_in_with_token

pytestmark = pytest.mark.slow

RECORDING = DATA / "stereo_diarization.wav"
CUSTOMER = "Acme Logistics GmbH"
TITLE = "Discovery call with Acme"
NEED = "Needs a Salesforce integration for the sales team"
ACTION = "Send the pricing sheet"
ANALYSIS_TIMEOUT_MS = 240_000


@dataclass
class Uploaded:
    call_id: int
    page: Any
    stages_seen: set[str]
    upload_progress: float


def player_time(page: Any) -> float:
    return float(page.evaluate("document.getElementById('player').currentTime"))


def api(server: Server, name: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.tokens[name]}"}
    return httpx.request(method, server.url + path, headers=headers, timeout=30, **kwargs)


def test_signing_in_needs_a_valid_token(new_page: Any, server: Server) -> None:
    page = new_page()
    response = page.goto("/calls")
    assert page.url.endswith("/login?next=%2Fcalls")
    assert response.status == 200
    page.get_by_label("Access token or login link").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    assert "unknown or expired" in page.get_by_test_id("login-error").inner_text()
    screenshot(page, "login")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "assistant_session" not in cookies


@pytest.fixture(scope="module")
def alice_call(browser: Any, server: Server) -> Iterator[Uploaded]:
    """alice opens her one-time login link, drops a recording on the upload page and follows it
    until the call page opens."""
    context = browser.new_context(viewport=LAPTOP, base_url=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(server.login_link("alice"))
    page.wait_for_url(re.compile(r"/calls$"))
    cookie = next(c for c in context.cookies() if c["name"] == "assistant_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.get_by_test_id("empty").is_visible()
    screenshot(page, "calls-empty")

    page.get_by_role("link", name="Upload", exact=True).click()
    page.wait_for_url(re.compile(r"/upload$"))
    page.set_input_files("#files", str(RECORDING))
    page.get_by_label("Customer").fill(CUSTOMER)
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Call date").fill("2026-03-02")
    page.get_by_role("button", name="Upload and analyse").click()

    # Watch the row: the upload bar fills, then stages light up until the call page opens.
    stages_seen: set[str] = set()
    row = page.locator("#uploads .upload").first
    row.wait_for()
    upload_progress = 0.0
    for _ in range(ANALYSIS_TIMEOUT_MS // 250):
        if "/calls/" in page.url:
            break
        try:
            upload_progress = max(
                upload_progress, float(row.locator(".sent").get_attribute("value") or 0)
            )
            for li in row.locator(".stages li.active, .stages li.done").all():
                stages_seen.add(li.get_attribute("data-stage") or "")
        except Exception:  # the page navigated away between two reads
            pass
        page.wait_for_timeout(250)
    page.wait_for_url(re.compile(r"/calls/\d+$"), timeout=ANALYSIS_TIMEOUT_MS)
    call_id = int(page.url.rsplit("/", 1)[1])
    yield Uploaded(call_id, page, stages_seen, upload_progress)
    context.close()


def test_rep_uploads_a_recording_and_watches_it_finish(
    alice_call: Uploaded, server: Server
) -> None:
    page = alice_call.page
    assert alice_call.upload_progress == 1.0
    assert alice_call.stages_seen & {"transcribe", "diarize", "extract", "summarize"}
    call = api(server, "alice", "GET", f"/api/calls/{alice_call.call_id}").json()
    assert call["status"] == "done", call["error"]
    assert page.locator("h1 .badge").inner_text() == "Done"
    assert CUSTOMER in page.locator(".meta").inner_text()
    transcript = page.locator("#segments").inner_text().lower()
    assert "wizard" in transcript and "horizon" in transcript
    # Both channels are speakers, and the transcript names them.
    assert page.locator("#speakers-form fieldset").count() == 2
    assert call["title"] == TITLE
    assert call["call_date"] == "2026-03-02"


def test_rep_adds_items_and_clicking_one_seeks_the_player(alice_call: Uploaded) -> None:
    page = alice_call.page
    add = page.locator("#add-item")
    for kind, text, at, quote in (
        ("customer_need", NEED, "0:03", "The horizon seems extremely distant."),
        ("action_item", ACTION, "0:01", ""),
    ):
        if not add.evaluate("el => el.open"):
            add.locator("summary").click()
        form = page.locator("#add-item-form")
        form.get_by_label("Kind").select_option(kind)
        form.get_by_label("At (m:ss)").fill(at)
        form.get_by_label("Text", exact=True).fill(text)
        form.get_by_label("Quote (what was said)").fill(quote)
        with page.expect_navigation():
            form.get_by_role("button", name="Add item").click()
    need = page.locator('.kind[data-kind="customer_need"] .item', has_text=NEED)
    assert need.count() == 1
    assert need.locator('[data-field="review"]').inner_text() == "accepted"

    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert player_time(page) < 0.5
    need.locator("button.seek").click()
    page.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 3) < 1.0", timeout=5_000
    )
    # The keyboard does the same: focus a transcript time stamp and press Enter.
    page.evaluate("document.getElementById('player').pause()")
    stamp = page.locator("#segments li button.seek").last
    target = float(stamp.get_attribute("data-t") or 0)
    stamp.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"Math.abs(document.getElementById('player').currentTime - {target}) < 1.0",
        timeout=5_000,
    )
    page.evaluate("document.getElementById('player').pause()")


def test_rep_accepts_one_item_and_edits_another(alice_call: Uploaded, server: Server) -> None:
    page = alice_call.page
    page.reload()
    action = page.locator('.kind[data-kind="action_item"] .item', has_text=ACTION)
    item_id = int(action.get_attribute("data-item-id") or 0)
    # A mistaken reject, then accept: the state changes in place, without a reload.
    action.get_by_role("button", name="Reject").click()
    page.locator(f'[data-item-id="{item_id}"][data-review="rejected"]').wait_for()
    action.get_by_role("button", name="Accept").click()
    page.locator(f'[data-item-id="{item_id}"][data-review="accepted"]').wait_for()
    assert action.get_by_role("button", name="Accept").get_attribute("aria-pressed") == "true"

    need = page.locator('.kind[data-kind="customer_need"] .item', has_text=NEED)
    need_id = int(need.get_attribute("data-item-id") or 0)
    need.get_by_role("button", name="Edit").click()
    form = need.locator("form.item-edit")
    form.get_by_label("Text").fill(NEED + " and HubSpot")
    form.get_by_label("Owner").fill("alice")
    form.get_by_label("Due").fill("2026-03-09")
    form.get_by_role("button", name="Save").click()
    need.locator('[data-field="text"]', has_text="and HubSpot").wait_for()
    assert form.is_hidden()
    screenshot(page, "call-review")

    stored_action = api(server, "alice", "GET", f"/api/items/{item_id}").json()
    assert stored_action["review"] == "accepted"
    assert [e["action"] for e in stored_action["edits"]] == ["add", "rejected", "accepted"]
    stored_need = api(server, "alice", "GET", f"/api/items/{need_id}").json()
    assert stored_need["text"] == NEED + " and HubSpot"
    assert stored_need["owner"] == "alice" and stored_need["due"] == "2026-03-09"
    assert stored_need["edited"] is True and stored_need["reviewed_by"] == "alice"


def test_rep_names_a_speaker_and_changes_roles(alice_call: Uploaded, server: Server) -> None:
    page = alice_call.page
    first = page.locator("#speakers-form fieldset").first
    label = first.get_attribute("data-label")
    first.get_by_label("Name").fill("Alice Example")
    first.get_by_label("Role").select_option("rep")
    second = page.locator("#speakers-form fieldset").nth(1)
    second.get_by_label("Role").select_option("customer")
    with page.expect_navigation():
        page.get_by_role("button", name="Save speakers").click()
    assert "Alice Example" in page.locator("#segments").inner_text()
    speakers = {
        s["label"]: s
        for s in api(server, "alice", "GET", f"/api/calls/{alice_call.call_id}").json()["speakers"]
    }
    assert speakers[label]["name"] == "Alice Example" and speakers[label]["role"] == "rep"
    assert sorted(s["role"] for s in speakers.values()) == ["customer", "rep"]


def test_export_downloads_the_reviewed_report(alice_call: Uploaded) -> None:
    page = alice_call.page
    page.get_by_text("Export", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Markdown").click()
    markdown = download.value.path().read_text()
    assert download.value.suggested_filename == "stereo_diarization.md"
    assert "Alice Example" in markdown and "and HubSpot" in markdown


def test_search_hit_opens_the_call_at_the_moment(alice_call: Uploaded) -> None:
    page = alice_call.page
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Words").fill("horizon")
    page.get_by_role("button", name="Search").click()
    hits = page.get_by_test_id("hits").locator("li")
    assert hits.count() >= 1
    assert hits.first.locator("mark").inner_text().lower() == "horizon"
    screenshot(page, "search")
    hits.first.locator("a").click()
    page.wait_for_url(re.compile(rf"/calls/{alice_call.call_id}\?t=[\d.]+&seg=\d+$"))
    t = float(page.url.split("t=")[1].split("&")[0])
    page.wait_for_function(
        f"Math.abs(document.getElementById('player').currentTime - {t}) < 1.0", timeout=5_000
    )
    assert "horizon" in page.locator("#segments li.current").inner_text().lower()


def test_cookie_requests_without_csrf_are_refused(alice_call: Uploaded, server: Server) -> None:
    page = alice_call.page
    page.goto(f"/calls/{alice_call.call_id}")
    status = page.evaluate(
        """async (id) => (await fetch(`/api/calls/${id}`, {method: "DELETE"})).status""",
        alice_call.call_id,
    )
    assert status == 403
    assert api(server, "alice", "GET", f"/api/calls/{alice_call.call_id}").status_code == 200


def test_manager_sees_the_call_and_the_need_in_themes(
    alice_call: Uploaded, new_page: Any, server: Server
) -> None:
    page = new_page()
    sign_in_with_token(page, server, "mia")
    row = page.locator(f'tr[data-call-id="{alice_call.call_id}"]')
    assert row.is_visible()
    assert "alice" in row.inner_text() and CUSTOMER in row.inner_text()
    items = api(server, "mia", "GET", f"/api/calls/{alice_call.call_id}").json()["items"]
    for kind in ("customer_need", "objection", "action_item"):
        expected = sum(1 for i in items if i["kind"] == kind and i["review"] != "rejected")
        assert row.locator(f'[data-count="{kind}"]').inner_text() == str(expected)
    assert int(row.locator('[data-count="customer_need"]').inner_text()) >= 1
    # Filters: by rep and customer it stays; another customer hides it.
    page.get_by_label("Rep").select_option("alice")
    page.get_by_label("Customer").fill("acme")
    with page.expect_navigation():  # the filter form loads the page anew
        page.get_by_role("button", name="Filter").click()
    assert page.locator(f'tr[data-call-id="{alice_call.call_id}"]').is_visible()
    screenshot(page, "calls")
    page.get_by_label("Customer").fill("Globex")
    with page.expect_navigation():  # the filter form loads the page anew
        page.get_by_role("button", name="Filter").click()
    assert page.get_by_test_id("empty").is_visible()

    # The first themes page loads the sentence encoder into the web process: allow for it.
    with page.expect_navigation(timeout=120_000):
        page.get_by_role("link", name="Needs & objections").click(timeout=120_000)
    theme = page.get_by_test_id("themes").locator("li.theme", has_text="Salesforce integration")
    assert theme.count() == 1
    assert "1 call" in theme.locator(".theme-counts").inner_text()
    theme.locator("summary").click()
    link = theme.locator(".theme-items a").first
    assert TITLE in link.inner_text()
    screenshot(page, "insights")
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    csv_text = download.value.path().read_text()
    assert "Salesforce integration" in csv_text and CUSTOMER in csv_text
    page.get_by_label("Rep").select_option("bob")
    with page.expect_navigation():  # the filter form loads the page anew
        page.get_by_role("button", name="Filter").click()
    assert page.get_by_test_id("empty").is_visible()
    page.goto("/insights?date_to=2026-03-01")
    assert page.get_by_test_id("empty").is_visible()
    page.goto("/insights?rep=alice&date_from=2026-03-02&date_to=2026-03-08")
    theme = page.get_by_test_id("themes").locator("li.theme", has_text="Salesforce integration")
    theme.locator("summary").click()
    link = theme.locator(".theme-items a").first
    link.click()
    page.wait_for_url(re.compile(rf"/calls/{alice_call.call_id}\?t=3\.0&item=\d+"))
    assert page.locator(".item.current", has_text="Salesforce").is_visible()
    page.wait_for_function(
        "Math.abs(document.getElementById('player').currentTime - 3) < 1.0", timeout=5_000
    )


def test_second_rep_cannot_see_it_and_uploads_several_of_her_own(
    alice_call: Uploaded, new_page: Any, server: Server
) -> None:
    page = new_page()
    sign_in_with_token(page, server, "carol")
    assert page.locator(f'tr[data-call-id="{alice_call.call_id}"]').count() == 0
    response = page.goto(f"/calls/{alice_call.call_id}")
    assert response.status == 404
    assert "Call not found" in page.locator("h1").inner_text()
    page.goto("/insights")
    assert page.get_by_test_id("empty").is_visible()
    page.goto("/search?q=horizon")
    assert page.get_by_test_id("empty").is_visible()
    audio = page.evaluate(
        "async (id) => (await fetch(`/api/calls/${id}/audio`)).status", alice_call.call_id
    )
    assert audio == 404

    # Two recordings at once: both are uploaded and analysed; the page stays with both rows.
    page.goto("/upload")
    page.set_input_files("#files", [str(DATA / "jfk.flac"), str(DATA / "i_tell_you.wav")])
    assert page.locator("#chosen li").count() == 2
    page.get_by_label("Customer").fill("Globex")
    page.get_by_role("button", name="Upload and analyse").click()
    # Meanwhile, in a second tab, the calls list follows the analysis without a reload by hand.
    page.locator("#uploads .upload:nth-child(2)[data-call-id]").wait_for()
    listing = page.context.new_page()
    listing.goto("/calls")
    assert listing.locator("tbody tr").count() == 2
    expect(listing.locator('tbody .badge[data-status="done"]')).to_have_count(
        2, timeout=ANALYSIS_TIMEOUT_MS
    )
    listing.close()
    rows = page.locator("#uploads .upload")
    for i in range(2):
        page.locator(f"#uploads .upload:nth-child({i + 1})[data-status='done']").wait_for(
            timeout=ANALYSIS_TIMEOUT_MS
        )
    assert rows.count() == 2
    screenshot(page, "upload")
    page.goto("/calls")
    assert page.locator("tbody tr").count() == 2
    assert all("Globex" in t for t in page.locator("tbody tr").all_inner_texts())

    # Delete asks first; dismissing keeps the call, accepting removes it.
    page.get_by_role("link", name="i_tell_you.wav").click()
    call_id = int(page.url.rsplit("/", 1)[1])
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete").click()
    assert api(server, "carol", "GET", f"/api/calls/{call_id}").status_code == 200
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Delete").click()
    assert page.url.endswith("/calls")
    assert page.locator("tbody tr").count() == 1
    assert api(server, "carol", "GET", f"/api/calls/{call_id}").status_code == 404


def test_upload_of_a_file_that_is_not_a_recording_says_why(
    new_page: Any, server: Server, tmp_path: Any
) -> None:
    page = new_page()
    sign_in_with_token(page, server, "bob")
    notes = tmp_path / "notes.mp3"
    notes.write_text("these are meeting notes, not audio\n" * 50)
    page.goto("/upload")
    page.get_by_role("button", name="Upload and analyse").click()
    assert "Choose or drop" in page.locator("#upload-error").inner_text()
    # Dropped on the drop zone, as from a file manager.
    dropped = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "audio/mpeg"}));
            return transfer;
        }""",
        [notes.name, notes.read_text()],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    assert page.locator("#chosen li").inner_text().startswith("notes.mp3")
    page.get_by_role("button", name="Upload and analyse").click()
    row = page.locator("#uploads .upload[data-status='rejected']")
    row.wait_for()
    assert "notes.mp3" in row.locator(".result").inner_text()
    assert page.url.endswith("/upload")


def test_tablet_width_has_no_sideways_scrolling(
    alice_call: Uploaded, new_page: Any, server: Server
) -> None:
    page = new_page(TABLET)
    sign_in_with_token(page, server, "alice")
    for path in ("/calls", f"/calls/{alice_call.call_id}", "/insights", "/upload"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at tablet width"
    page.goto(f"/calls/{alice_call.call_id}")
    screenshot(page, "call-tablet")
