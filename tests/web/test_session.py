"""Sessions and CSRF through the real app and database (no browser, no models): how a browser
signs in and out, and that a session cookie alone cannot change anything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.pages import clock, failure_text, highlight
from api.web_session import csrf_token
from assistant.settings import Settings
from assistant.store import Database
from assistant.store.users import create_login_link_token, create_user, issue_token

AppClient = tuple[TestClient, dict[str, str], Database]


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[AppClient]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    db = Database(settings.resolved_database_url)
    db.migrate()
    tokens = {}
    with db.session() as session:
        for name, role in (("alice", "rep"), ("carol", "rep")):
            tokens[name] = issue_token(session, create_user(session, name, role, "east"))
        tokens["link"] = create_login_link_token(
            session, create_user(session, "mia", "manager", "east")
        )
    try:
        with TestClient(create_app(settings, db=db)) as client:
            yield client, tokens, db
    finally:
        db.dispose()


def login_form_token(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def sign_in(client: TestClient, token: str) -> str:
    form = login_form_token(client)
    response = client.post(
        "/login",
        data={"token": token, "csrf_token": form, "next": "/calls"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/calls"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    session_token = client.cookies.get("assistant_session")
    assert session_token and session_token != token  # a session of its own, not the API token
    return session_token


def test_pages_send_strangers_to_the_login_page(app_client: AppClient) -> None:
    client, _, _ = app_client
    for path in ("/calls", "/calls/1", "/upload", "/insights", "/search?q=x"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=%2F")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_login_form_needs_its_csrf_token_and_a_valid_token(app_client: AppClient) -> None:
    client, tokens, _ = app_client
    login_form_token(client)
    forged = client.post("/login", data={"token": tokens["alice"], "csrf_token": "x" * 32})
    assert forged.status_code == 403 and "expired" in forged.text
    assert client.cookies.get("assistant_session") is None
    wrong = client.post("/login", data={"token": "nope", "csrf_token": login_form_token(client)})
    assert wrong.status_code == 401 and "unknown or expired" in wrong.text
    # an unsafe "next" never leaves the site
    response = client.post(
        "/login",
        data={
            "token": tokens["alice"],
            "csrf_token": login_form_token(client),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/calls"


def test_a_pasted_login_link_is_spent_once(app_client: AppClient) -> None:
    client, tokens, _ = app_client
    link = f"http://127.0.0.1:8000/api/auth/login?token={tokens['link']}"
    response = client.post("/login", data={"token": link, "csrf_token": login_form_token(client)})
    assert response.status_code == 200 and "mia" in response.text
    client.cookies.clear()
    again = client.get(f"/api/auth/login?token={tokens['link']}")
    assert again.status_code == 401


def test_cookie_requests_that_change_something_need_the_csrf_header(app_client: AppClient) -> None:
    client, tokens, _ = app_client
    session_token = sign_in(client, tokens["alice"])
    assert client.get("/api/users/me").json()["name"] == "alice"  # reading needs no token
    body = {"speakers": [{"label": "S1", "role": "rep"}]}
    refused = client.patch("/api/calls/1/speakers", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = client.patch("/api/calls/1/speakers", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    good = client.patch(
        "/api/calls/1/speakers", json=body, headers={"X-CSRF-Token": csrf_token(session_token)}
    )
    assert good.status_code == 404  # past the CSRF check: there is no call 1
    # another user's CSRF token does not fit this session
    other = csrf_token(tokens["carol"])
    assert client.delete("/api/calls/1", headers={"X-CSRF-Token": other}).status_code == 403
    # bearer clients are not browsers: no CSRF token needed
    client.cookies.clear()
    bearer = client.patch(
        "/api/calls/1/speakers", json=body, headers={"Authorization": f"Bearer {tokens['alice']}"}
    )
    assert bearer.status_code == 404


def test_pages_carry_the_csrf_token_of_their_session(app_client: AppClient) -> None:
    client, tokens, _ = app_client
    session_token = sign_in(client, tokens["alice"])
    page = client.get("/calls")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'name="csrf-token" content="{csrf_token(session_token)}"' in page.text
    assert f'name="csrf_token" value="{csrf_token(session_token)}"' in page.text  # sign-out form


def test_both_ways_of_signing_in_set_the_same_cookie_secure_over_https(
    app_client: AppClient,
) -> None:
    client, tokens, db = app_client
    for scheme in ("http", "https"):
        with db.session() as session:
            link = create_login_link_token(session, create_user(session, f"u-{scheme}", "rep"))
        browser = TestClient(client.app, base_url=f"{scheme}://testserver")
        spent = browser.get("/api/auth/login", params={"token": link}, follow_redirects=False)
        assert spent.status_code == 303
        browser.cookies.clear()
        form = login_form_token(browser)
        pasted = browser.post(
            "/login",
            data={"token": tokens["alice"], "csrf_token": form},
            follow_redirects=False,
        )
        assert pasted.status_code == 303
        cookies = [
            next(c for c in r.headers.get_list("set-cookie") if c.startswith("assistant_session="))
            for r in (spent, pasted)
        ]
        attributes = [
            sorted(part.strip() for part in c.split(";")[1:] if "expires" not in part.lower())
            for c in cookies
        ]
        assert attributes[0] == attributes[1], cookies
        assert ("Secure" in attributes[0]) == (scheme == "https"), cookies
        assert "HttpOnly" in attributes[0] and "SameSite=lax" in attributes[0]


def test_sign_out_ends_the_session(app_client: AppClient) -> None:
    client, tokens, _ = app_client
    session_token = sign_in(client, tokens["alice"])
    forged = client.post("/logout", data={"csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 303
    client.cookies.set("assistant_session", session_token)
    assert client.get("/api/users/me").status_code == 200  # a forged sign-out does nothing
    out = client.post(
        "/logout", data={"csrf_token": csrf_token(session_token)}, follow_redirects=False
    )
    assert out.headers["location"] == "/login"
    client.cookies.set("assistant_session", session_token)
    assert client.get("/api/users/me").status_code == 401  # the stolen cookie is worthless now


def test_bad_filters_and_unknown_calls_get_readable_pages(app_client: AppClient) -> None:
    client, tokens, _ = app_client
    sign_in(client, tokens["alice"])
    page = client.get("/calls?date_from=yesterday&status=lost&page=x&sort=nope")
    assert page.status_code == 200
    assert "From must be a date like 2026-03-31" in page.text
    assert "Status must be one of" in page.text
    for path in ("/calls/12345", "/calls/abc", "/calls/99999999999999999999"):
        missing = client.get(path)
        assert missing.status_code == 404 and "Call not found" in missing.text
    assert "frame-ancestors 'none'" in missing.headers["content-security-policy"]
    assert client.get("/search?q=%3Cscript%3E").status_code == 200
    assert "<script>" not in client.get("/search?q=%3Cscript%3E").text.split("</header>")[1]


def test_snippets_keep_marks_and_escape_the_rest() -> None:
    shown = str(highlight("a <b>bold</b> <mark>price</mark> & more"))
    assert shown == "a &lt;b&gt;bold&lt;/b&gt; <mark>price</mark> &amp; more"
    assert str(highlight("<mark><img src=x></mark>")) == "<mark>&lt;img src=x&gt;</mark>"


def test_time_stamps_and_failure_words() -> None:
    assert [clock(s) for s in (0, 7.9, 83.4, 3725)] == ["0:00", "0:07", "1:23", "1:02:05"]
    text, detail = failure_text("unexpected", "unexpected RuntimeError: boom")
    assert "not with your recording" in text and detail.endswith("boom")
    text, _ = failure_text("truncated_media", "call.mp4: the file is truncated: it declares 60.0 s")
    assert "incomplete" in text
    # Words come from the kind, not the message: an option error that names a model is no
    # missing model; a failure stored before kinds were shows its message.
    message = "model 'tiny.en' is English-only; use a multilingual model such as 'base'"
    assert failure_text("option", message) == (message, "")
    assert failure_text(None, "the worker stopped") == ("the worker stopped", "")
