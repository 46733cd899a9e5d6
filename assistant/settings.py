"""Application settings. Read at the edges (CLI, API, workers) and turned into stage options.

Every setting can be given as an environment variable with the ``ASSISTANT_`` prefix, for example
``ASSISTANT_DATA_DIR=/srv/assistant``. Stages never read settings themselves.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/sales-call-assistant``, i.e. ``~/.local/share/sales-call-assistant``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "sales-call-assistant"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    engine: str = "faster-whisper"
    model: str = "base"
    compute_type: str = "int8"
    language: str = "auto"
    # 0: greedy for English, beam 5 for other languages (see TranscribeOptions.beam_for).
    beam_size: int = Field(default=0, ge=0, le=10)
    cpu_threads: int = Field(default=0, ge=0)  # cores one transcription may use; 0: all
    vad: bool = True
    max_duration_s: float = Field(default=4 * 3600, gt=0)
    vocabulary: str = ""
    # Add an English translation to segments of non-English calls (Whisper's translate task).
    translate: bool = False
    # Speakers: the channel the rep is on in two-party stereo recordings (empty: decide by voice
    # profile or heuristic), and a fixed number of speakers (empty: estimate it).
    rep_channel: Literal["left", "right"] | None = None
    speakers: int | None = Field(default=None, ge=1, le=8)
    # Extraction: the model folder (empty: the bundled model), a confidence below which items are
    # dropped on top of the model's own thresholds (0: the thresholds alone), and a JSON file of
    # keyword trackers (empty: the defaults).
    extractor_dir: Path | None = None
    extract_min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    trackers_file: Path | None = None
    # The service (``assistant serve``).
    database_url: str = ""  # empty: SQLite in the data directory
    max_upload_bytes: int = Field(default=4 * 1024**3, gt=0)
    retention_days: int = Field(default=0, ge=0)  # delete recordings after N days; 0 keeps them
    workers: int = Field(default=1, ge=0, le=32)
    job_max_attempts: int = Field(default=3, ge=1, le=20)
    job_heartbeat_s: float = Field(default=5.0, gt=0)
    job_stale_after_s: float = Field(default=60.0, gt=0)
    job_poll_s: float = Field(default=0.5, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    public_url: str = ""  # how users reach the server, for login links; empty: http://HOST:PORT
    # Warnings on a customer's page (assistant.warnings): pricing never discussed after this many
    # calls, the customer talking less than this share, an objection answered within this many
    # turns, one person on the customer side after this many calls.
    warn_pricing_after_calls: int = Field(default=2, ge=1, le=100)
    warn_min_customer_talk: float = Field(default=0.30, ge=0.0, le=1.0)
    warn_answer_turns: int = Field(default=2, ge=1, le=20)
    warn_single_contact_after_calls: int = Field(default=2, ge=1, le=100)
    # Scale-out (docs/deployment.md): ``celery`` sends jobs to ``assistant worker`` processes
    # through a Redis broker; every worker mounts the same data directory.
    queue: str = "embedded"  # embedded | celery
    broker_url: str = "redis://127.0.0.1:6379/0"
    broker_queue: str = "assistant"
    # A job's soft time limit is base + per audio second x the call's duration; the hard limit
    # (the process is killed) comes 20 % + 60 s later.
    job_time_base_s: float = Field(default=300.0, gt=0)
    job_time_per_audio_s: float = Field(default=3.0, gt=0)
    # Each worker machine sweeps: stale jobs back to the queue, lost messages sent again.
    sweep_every_s: float = Field(default=15.0, gt=0)
    resend_after_s: float = Field(default=120.0, gt=0)

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def profiles_dir(self) -> Path:
        return self.data_dir / "profiles"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'assistant.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
