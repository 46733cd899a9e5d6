"""Passwords in URLs and login tokens in request lines are replaced before anything shows them."""

from __future__ import annotations

import pytest

from assistant.errors import OptionError
from assistant.redact import redact_token_query, redact_url
from assistant.store.db import make_engine


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:p%40ss@host/0", "rediss://user:***@host/0"),
        ("postgresql+psycopg://u:pw@db/x", "postgresql+psycopg://u:***@db/x"),
        (
            "at redis://:a@h:1/0 (and amqp://g:b@r//)",
            "at redis://:***@h:1/0 (and amqp://g:***@r//)",
        ),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("sqlite:////data/assistant.db", "sqlite:////data/assistant.db"),
    ],
)
def test_redact_url(text: str, shown: str) -> None:
    assert redact_url(text) == shown


def test_redact_token_query() -> None:
    assert redact_token_query("/api/auth/login?token=abc-_1") == "/api/auth/login?token=***"
    assert redact_token_query("/x?a=1&token=abc&b=2") == "/x?a=1&token=***&b=2"
    assert redact_token_query("/calls?q=token") == "/calls?q=token"


def test_a_bad_database_url_is_shown_without_its_password() -> None:
    with pytest.raises(OptionError, match="not a database URL") as raised:
        make_engine("postgres ql://assistant:hunter22@db/assistant")
    assert "hunter22" not in str(raised.value)
