"""The calls list through the real app and a real database: who sees what, filters, sorting,
pages and item counts. Calls are stored rows (no recordings, no models): this is about the list."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from api.routes.pages import PAGE_SIZE
from assistant.settings import Settings
from assistant.store import Database
from assistant.store import calls as store
from assistant.store.tables import Call, User
from assistant.store.users import create_user, issue_token

CUSTOMERS = ("Acme", "Globex", "Initech")
START = date(2026, 1, 5)


Pair = tuple[TestClient, dict[str, str]]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Pair]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    db = Database(settings.resolved_database_url)
    db.migrate()
    tokens = {}
    with db.session() as session:
        users = {}
        for name, role, team in (
            ("mia", "manager", "east"),
            ("alice", "rep", "east"),
            ("bob", "rep", "east"),
            ("carol", "rep", "west"),
        ):
            users[name] = create_user(session, name, role, team)
            tokens[name] = issue_token(session, users[name])
        # alice: 25 calls over 25 days; bob: 2; carol: 1.
        owners = ["alice"] * 25 + ["bob"] * 2 + ["carol"]
        for n, owner in enumerate(owners):
            new = store.NewCall(
                sha256=hashlib.sha256(f"call-{n}".encode()).hexdigest(),
                filename=f"call-{n:02d}.m4a",
                size_bytes=1000,
                media_format="mov,mp4,m4a,3gp,3g2,mj2",
                media_kind="audio",
                duration_s=60.0 + n,
                title=f"Call {n:02d}",
                customer=CUSTOMERS[n % 3],
                call_date=START + timedelta(days=n),
            )
            call, _, _ = store.create_call(session, users[owner], new)
            if n == 0:
                for kind, text in (
                    ("customer_need", "Needs SSO"),
                    ("customer_need", "Needs an API"),
                    ("objection", "Too expensive"),
                    ("action_item", "Send the offer"),
                ):
                    store.add_item(
                        session,
                        users[owner],
                        call,
                        {"kind": kind, "text": text, "start_s": 1.0, "end_s": 2.0},
                    )
    try:
        with TestClient(create_app(settings, db=db)) as test_client:
            yield test_client, tokens
    finally:
        db.dispose()


def titles(html: str) -> list[str]:
    return re.findall(r'<a href="/calls/\d+">(Call \d+)</a>', html)


def signed_in(pair: Pair, name: str) -> TestClient:
    test_client, tokens = pair
    form = test_client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    test_client.post("/login", data={"token": tokens[name], "csrf_token": csrf.group(1)})
    return test_client


def test_reps_see_their_own_calls_and_managers_their_team(client: Pair) -> None:
    carol = signed_in(client, "carol").get("/calls").text
    assert titles(carol) == ["Call 27"]
    assert 'name="rep"' not in carol  # no rep filter for a rep
    client[0].cookies.clear()
    mia = signed_in(client, "mia").get("/calls").text
    assert re.search(r'data-testid="calls-count">27<', mia)
    assert "Call 27" not in titles(mia)
    bob = client[0].get("/calls?rep=bob").text
    assert titles(bob) == ["Call 26", "Call 25"]


def test_sorting_and_pages(client: Pair) -> None:
    test_client = signed_in(client, "alice")
    first = test_client.get("/calls").text
    assert titles(first) == [f"Call {n:02d}" for n in range(24, 24 - PAGE_SIZE, -1)]
    assert "Page 1 of 2" in first
    second = test_client.get("/calls?page=2").text
    assert titles(second) == ["Call 04", "Call 03", "Call 02", "Call 01", "Call 00"]
    oldest = titles(test_client.get("/calls?sort=date&order=asc").text)
    assert oldest[:3] == ["Call 00", "Call 01", "Call 02"]
    by_customer = titles(test_client.get("/calls?sort=customer&order=asc").text)
    # alice's nine Acme calls (every third) come first, newest first among equals
    assert [int(t.split()[1]) % 3 for t in by_customer[:10]] == [0] * 9 + [1]
    assert by_customer[0] == "Call 24"
    longest = titles(test_client.get("/calls?sort=duration&order=desc").text)
    assert longest[0] == "Call 24"
    # the sort link of the current column flips its order
    assert 'href="/calls?sort=date&amp;order=asc&amp;page=1"' in first
    # past the last page shows the last page
    assert titles(test_client.get("/calls?page=99").text) == titles(second)


def test_filters_and_counts(client: Pair) -> None:
    test_client = signed_in(client, "alice")
    acme = titles(test_client.get("/calls?customer=acm").text)
    assert acme and all(int(t.split()[1]) % 3 == 0 for t in acme)
    window = titles(
        test_client.get("/calls?date_from=2026-01-06&date_to=2026-01-08&order=asc").text
    )
    assert window == ["Call 01", "Call 02", "Call 03"]
    empty = test_client.get("/calls?customer=nobody").text
    assert "No calls match these filters" in empty
    first = test_client.get("/calls?q=Call%2000").text
    row = re.search(r'<tr data-call-id="\d+"[^>]*>(.*?)</tr>', first, re.S)
    assert row and "data-job-id=" in row.group(0)  # queued: the list script follows its job
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', row.group(1)))
    assert counts == {"customer_need": "2", "objection": "1", "action_item": "1"}
    queued = titles(test_client.get("/calls?status=queued").text)
    assert len(queued) == PAGE_SIZE
    assert titles(test_client.get("/calls?status=done").text) == []


@pytest.mark.parametrize("page", ["²", "٣", "-1", "0", "1e3", "9" * 40, ""])
def test_a_page_number_that_is_not_plain_digits_shows_the_first_page(
    client: Pair, page: str
) -> None:
    test_client = signed_in(client, "alice")
    first = titles(test_client.get("/calls").text)
    listed = test_client.get("/calls", params={"page": page})
    assert listed.status_code == 200
    assert titles(listed.text) == first
    found = test_client.get("/search", params={"q": "SSO", "page": page})
    assert found.status_code == 200 and "<mark>SSO</mark>" in found.text


@pytest.mark.parametrize("ref", ["²", "٣", "1²", "9" * 40])
def test_a_call_reference_that_is_not_plain_digits_is_not_found(client: Pair, ref: str) -> None:
    page = signed_in(client, "alice").get(f"/calls/{ref}")
    assert page.status_code == 404


def test_themes_csv_neutralises_formulas(client: Pair) -> None:
    """Titles, customers and item text that a spreadsheet would run as formulas start with '."""
    test_client = signed_in(client, "alice")
    db = test_client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        call = session.scalar(select(Call).where(Call.title == "Call 00"))
        alice = session.scalar(select(User).where(User.name == "alice"))
        call.title, call.customer = "=1+2", "@Acme"
        for text in ("-1+1 SSO", "+SSO", "\tSSO", "\rSSO"):
            need = {"kind": "customer_need", "text": text, "quote": text, "start_s": 1.0}
            store.add_item(session, alice, call, {**need, "end_s": 2.0})
    r = test_client.get("/insights/export.csv", params={"kind": "needs"})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text, newline="")))
    assert {row["call_title"] for row in rows} == {"'=1+2"}
    assert {row["customer"] for row in rows} == {"'@Acme"}
    texts = {row["text"] for row in rows}
    assert {"'-1+1 SSO", "'+SSO", "'\tSSO", "'\rSSO", "Needs SSO"} <= texts
    cells = [cell for row in rows for cell in row.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
