"""Starts the worker processes of ``assistant serve``, restarts any that die, and puts a dead
worker's job back in the queue at once (without waiting for its heartbeat to go stale)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading

from assistant.jobs import queue
from assistant.store.db import Database

log = logging.getLogger("assistant.supervisor")


def machine_prefix() -> str:
    return f"{socket.gethostname()}:"


class Supervisor:
    def __init__(self, db: Database, workers: int, check_every_s: float = 1.0) -> None:
        self.db = db
        self.count = workers
        self.check_every_s = check_every_s
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        # Workers of this machine from before a restart are gone: their jobs run again.
        n = queue.requeue_stale(self.db, 1e9, worker_prefix=machine_prefix())
        if n:
            log.info("requeued %d job(s) left running by the last run", n)
        for index in range(self.count):
            self._spawn(index)
        self._thread.start()

    def _spawn(self, index: int) -> None:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant.jobs.worker",
                "--index",
                str(index),
                "--parent",
                str(os.getpid()),
            ],
            env=os.environ.copy(),
        )
        self.procs[index] = proc
        log.info("worker %d started (pid %d)", index, proc.pid)

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every_s):
            for index, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None or self._stop.is_set():
                    continue
                name = f"{socket.gethostname()}:{proc.pid}:{index}"
                log.warning("worker %d (pid %d) exited with %s; restarting", index, proc.pid, code)
                try:
                    queue.requeue_worker(self.db, name)
                except Exception:
                    log.exception("could not requeue the jobs of %s", name)
                self._spawn(index)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
