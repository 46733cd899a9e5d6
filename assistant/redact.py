"""Secrets kept out of messages, logs and status output.

URLs from settings (``ASSISTANT_BROKER_URL``, ``ASSISTANT_DATABASE_URL``) may hold a password
(``redis://:s3cret@redis:6379/0``). Every message or status line that shows such a URL, or the
text of an exception that may quote one, goes through ``redact_url`` first.
"""

from __future__ import annotations

import re

REDACTED = "***"

# scheme://[user]:password@ — the password ends at the first "@", "/" or whitespace.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/@\s]*):[^@/\s]*@")
# token=... in a query string (a one-time login token in a request line).
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&#\s]*")


def redact_url(text: str) -> str:
    """``text`` (one URL, or a message that holds URLs) with the password of every URL replaced
    by ``***``: ``redis://:s3cret@host:6379/0`` becomes ``redis://:***@host:6379/0``."""
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


def redact_token_query(text: str) -> str:
    """``text`` (a path with its query string) with the value of ``token=`` replaced by
    ``***``: ``/api/auth/login?token=abc`` becomes ``/api/auth/login?token=***``."""
    return _QUERY_TOKEN.sub(rf"\1{REDACTED}", text)
