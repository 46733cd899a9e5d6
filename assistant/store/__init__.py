"""Storage: SQLAlchemy models, the engine and migrations, and the repositories over them.

``Database(url)`` opens SQLite or PostgreSQL; ``Database.migrate()`` applies the migrations shipped
in ``migrations/``. ``users`` holds accounts and tokens, ``calls`` calls and their results,
``search`` the full-text index.
"""

from __future__ import annotations

from assistant.store.db import Database
from assistant.store.errors import ConflictError, ForbiddenError, NotFoundError

__all__ = ["ConflictError", "Database", "ForbiddenError", "NotFoundError"]
