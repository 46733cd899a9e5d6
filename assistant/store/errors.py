"""Errors of the store. Part of the tree in ``assistant.errors``: all are ``InputError``.

::

    InputError
    ├── NotFoundError      no such user, call or item, or not one the caller may see
    ├── ConflictError      clashes with what is stored (a name already taken...)
    └── ForbiddenError     the caller's role may not do this
"""

from __future__ import annotations

from assistant.errors import InputError


class NotFoundError(InputError):
    kind = "not_found"


class ConflictError(InputError):
    kind = "conflict"


class ForbiddenError(InputError):
    kind = "forbidden"
