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

from assistant.jobs.queue import EmbeddedQueue, JobQueue, get_queue

__all__ = ["EmbeddedQueue", "JobQueue", "get_queue"]
