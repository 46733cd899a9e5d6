"""``assistant serve``: migrations, the first admin, worker processes, then uvicorn."""

from __future__ import annotations

import copy
import logging
import signal
import sys
from typing import Any

from assistant.jobs.supervisor import Supervisor
from assistant.redact import redact_token_query
from assistant.settings import Settings
from assistant.store import Database
from assistant.store.users import login_link

log = logging.getLogger("assistant.serve")


class RedactLoginTokens(logging.Filter):
    """Keeps one-time login tokens out of the access log.

    uvicorn logs every request line with its query string, and a login link
    (``/api/auth/login?token=...``) signs in whoever reads it until it is spent: the value of
    ``token=`` is logged as ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_token_query(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with ``RedactLoginTokens`` on its access logger."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["login_tokens"] = {"()": RedactLoginTokens}
    config["loggers"]["uvicorn.access"]["filters"] = ["login_tokens"]
    return config


def base_url(settings: Settings, host: str, port: int) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from api.main import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    db = Database(settings.resolved_database_url)
    db.migrate()
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    url = base_url(settings, host, port)
    link = login_link(db, url)
    if link:
        print(
            "\nAn admin user was created. Open this link once to sign in (it works one time, "
            f"for 24 hours):\n\n    {link}\n",
            file=sys.stderr,
            flush=True,
        )
    print(f"Serving on {url} (API docs: {url}/docs), {workers} worker(s)", file=sys.stderr)
    supervisor = Supervisor(db, workers)
    supervisor.start()
    # uvicorn re-raises SIGTERM after its own shutdown; make that an exit that runs `finally`.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        uvicorn.run(
            create_app(settings, db=db),
            host=host,
            port=port,
            log_level="info",
            log_config=log_config(),
        )
    finally:
        supervisor.stop()
        db.dispose()
