"""Jobs: the queue interface, the embedded queue in the database, and the worker processes.

``lifecycle`` decides a call's jobs: a recording registered as a call with its job (upload and
batch), and a call run again (API and web page). ``queue`` holds the interface (``JobQueue``) and
the database queue's operations (claim, heartbeat, requeue); ``worker`` runs jobs; ``supervisor``
starts and restarts worker processes for ``assistant serve``; ``webhooks`` sends signed
notifications when jobs end. For scale-out, ``celery_queue`` sends job ids to Celery workers on
Redis (``assistant worker``), ``intake`` registers a folder's recordings as calls and jobs
(``assistant batch``), and ``status`` reports queue depth, workers and jobs by state (``assistant
status``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.errors import OptionError
from assistant.jobs.queue import QUEUES, EmbeddedQueue, JobQueue

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["EmbeddedQueue", "JobQueue", "get_queue"]


def get_queue(name: str = "embedded", settings: Settings | None = None) -> JobQueue:
    """The queue named ``name``: ``embedded`` (the database) or ``celery`` (a Redis broker,
    ``settings.broker_url``; Celery is imported only then)."""
    if name == "embedded":
        return EmbeddedQueue()
    if name == "celery":
        from assistant.jobs.celery_queue import CeleryQueue
        from assistant.settings import get_settings

        return CeleryQueue(settings or get_settings())
    raise OptionError(f"Unknown queue {name!r}; expected one of: {', '.join(QUEUES)}")
