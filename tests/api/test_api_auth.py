"""Accounts and roles: who may see, edit, export, search and delete which calls.

A rep sees only their own calls; a manager their team's; an admin all. Anything else answers 404,
exactly as for an id that does not exist, so ids cannot be probed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from assistant.store.tables import Token
from assistant.store.users import hash_token
from tests.helpers.service import Service


@pytest.fixture()
def alices(shared: Service) -> dict[str, int]:
    """alice's analysed call (team east) and one item on it."""
    call = shared.client.get("/api/calls", headers=shared.h("alice")).json()["data"][0]
    item = shared.client.post(
        f"/api/calls/{call['id']}/items",
        headers=shared.h("alice"),
        json={"kind": "customer_need", "text": "They need single sign-on"},
    ).json()
    return {"call": call["id"], "item": item["id"], "job": call["job"]["id"]}


def requests_on(ids: dict[str, int]) -> list[tuple[str, str, dict[str, object] | None]]:
    c, i, j = ids["call"], ids["item"], ids["job"]
    return [
        ("GET", f"/api/calls/{c}", None),
        ("GET", f"/api/calls/{c}/audio", None),
        ("GET", f"/api/calls/{c}/export?format=csv", None),
        ("GET", f"/api/jobs/{j}", None),
        ("GET", f"/api/items/{i}", None),
        ("PATCH", f"/api/items/{i}", {"review": "rejected"}),
        ("POST", f"/api/calls/{c}/items", {"kind": "objection", "text": "Too expensive"}),
        ("PATCH", f"/api/calls/{c}/speakers", {"speakers": [{"label": "S1", "role": "rep"}]}),
        ("DELETE", f"/api/calls/{c}", None),
    ]


def test_no_token_is_401(shared: Service) -> None:
    for path in ("/api/calls", "/api/search?q=country", "/api/insights/needs", "/api/users/me"):
        r = shared.client.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
    bad = shared.client.get("/api/calls", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


@pytest.mark.parametrize("outsider", ["bob", "carol", "wes"])
def test_others_cannot_touch_a_call_and_get_404(
    shared: Service, alices: dict[str, int], outsider: str
) -> None:
    for method, path, body in requests_on(alices):
        r = shared.client.request(method, path, headers=shared.h(outsider), json=body)
        assert r.status_code == 404, (outsider, method, path, r.text)
    # ...exactly what a call that does not exist answers
    assert shared.client.get("/api/calls/999999", headers=shared.h(outsider)).status_code == 404
    listed = shared.client.get("/api/calls", headers=shared.h(outsider)).json()
    assert alices["call"] not in [c["id"] for c in listed["data"]]
    found = shared.client.get("/api/search", params={"q": "country"}, headers=shared.h(outsider))
    assert found.json()["data"] == []
    needs = shared.client.get("/api/insights/needs", headers=shared.h(outsider)).json()
    assert needs["count"] == 0
    # and the call is untouched
    item = shared.client.get(f"/api/items/{alices['item']}", headers=shared.h("alice")).json()
    assert item["review"] == "accepted"


@pytest.mark.parametrize("viewer", ["alice", "mia", "ada"])
def test_owner_team_manager_and_admin_see_the_call(
    shared: Service, alices: dict[str, int], viewer: str
) -> None:
    for method, path, _ in requests_on(alices):
        if method != "GET":
            continue
        assert shared.client.get(path, headers=shared.h(viewer)).status_code == 200, path
    found = shared.client.get("/api/search", params={"q": "country"}, headers=shared.h(viewer))
    assert {h["call_id"] for h in found.json()["data"]} == {alices["call"]}


def test_manager_reviews_team_calls(shared: Service, alices: dict[str, int]) -> None:
    r = shared.client.patch(
        f"/api/items/{alices['item']}", headers=shared.h("mia"), json={"owner": "Mia"}
    )
    assert r.status_code == 200
    assert r.json()["reviewed_by"] == "mia"


def test_a_rep_uploads_only_for_themself(service: Service) -> None:
    from tests.helpers import DATA

    r = service.upload("alice", DATA / "i_tell_you.wav", rep="bob")
    assert r.status_code == 422
    assert service.files() == []
    r = service.upload("mia", DATA / "i_tell_you.wav", rep="carol")  # carol is in west
    assert r.status_code == 422
    r = service.upload("mia", DATA / "i_tell_you.wav", rep="bob")
    assert r.status_code == 202 and r.json()["call"]["rep"] == "bob"
    assert service.client.get("/api/calls", headers=service.h("bob")).json()["count"] == 1


def test_only_admins_manage_users_and_webhooks(shared: Service) -> None:
    def names(user: str) -> list[str]:
        return [
            u["name"]
            for u in shared.client.get("/api/users", headers=shared.h(user)).json()["data"]
        ]

    assert names("alice") == ["alice"]
    assert names("mia") == ["alice", "bob", "mia"]
    assert set(names("ada")) >= {"ada", "alice", "bob", "carol", "mia", "wes"}
    for user in ("alice", "mia"):
        r = shared.client.post(
            "/api/users", headers=shared.h(user), json={"name": "eve", "role": "admin"}
        )
        assert r.status_code == 403
        r = shared.client.post(
            "/api/webhooks", headers=shared.h(user), json={"url": "http://127.0.0.1:9/x"}
        )
        assert r.status_code == 403
    created = shared.client.post(
        "/api/users", headers=shared.h("ada"), json={"name": "dan", "role": "rep", "team": "east"}
    )
    assert created.status_code == 201
    token = created.json()["token"]
    me = shared.client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"id": created.json()["id"], "name": "dan", "role": "rep", "team": "east"}
    again = shared.client.post(
        "/api/users", headers=shared.h("ada"), json={"name": "dan", "role": "rep"}
    )
    assert again.status_code == 409
    bad_role = shared.client.post(
        "/api/users", headers=shared.h("ada"), json={"name": "x", "role": "root"}
    )
    assert bad_role.status_code == 422


def test_tokens_are_stored_hashed(shared: Service) -> None:
    with shared.db.session() as session:
        stored = set(session.scalars(select(Token.token_hash)))
    token = shared.tokens["alice"]
    assert token not in stored
    assert hash_token(token) in stored


def test_one_time_login_link(shared: Service) -> None:
    link = shared.client.post("/api/auth/login-links/1", headers=shared.h("ada"))
    assert link.status_code == 201
    token = link.json()["url"].split("token=")[1]
    shared.client.cookies.clear()
    first = shared.client.get("/api/auth/login", params={"token": token}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.cookies.get("assistant_session")
    assert cookie
    shared.client.cookies.set("assistant_session", cookie)
    me = shared.client.get("/api/users/me")
    assert me.status_code == 200 and me.json()["name"] == "ada"
    shared.client.cookies.clear()
    second = shared.client.get("/api/auth/login", params={"token": token}, follow_redirects=False)
    assert second.status_code == 401
    # a login token is not a bearer token
    assert (
        shared.client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_admin_issues_and_revokes_tokens(service: Service) -> None:
    bob = service.client.get("/api/users/me", headers=service.h("bob")).json()["id"]
    assert (
        service.client.post(f"/api/users/{bob}/tokens", headers=service.h("mia")).status_code == 403
    )
    fresh = service.client.post(f"/api/users/{bob}/tokens", headers=service.h("ada"))
    assert fresh.status_code == 201
    second = {"Authorization": f"Bearer {fresh.json()['token']}"}
    assert service.client.get("/api/users/me", headers=second).json()["name"] == "bob"
    assert service.client.get("/api/users/me", headers=service.h("bob")).status_code == 200
    revoked = service.client.delete(f"/api/users/{bob}/tokens", headers=service.h("ada"))
    assert revoked.status_code == 204
    assert service.client.get("/api/users/me", headers=second).status_code == 401
    assert service.client.get("/api/users/me", headers=service.h("bob")).status_code == 401
    assert service.client.get("/api/users/me", headers=service.h("alice")).status_code == 200
    missing = service.client.delete("/api/users/999999/tokens", headers=service.h("ada"))
    assert missing.status_code == 404
