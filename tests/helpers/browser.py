"""The browser tests' server and pages: the real server process (``assistant serve``) with its
real worker and the bundled ``tiny.en`` model, users made with the real CLI, and Debian's
Chromium driven headless by Playwright.

People: reps ``alice`` and ``bob`` and manager ``mia`` are in team east; rep ``carol`` is in
team west. ``alice`` signs in with a one-time login link, the others with their tokens.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("ASSISTANT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 860}
TABLET = {"width": 820, "height": 1180}
PEOPLE = [
    ("mia", "manager", "east"),
    ("alice", "rep", "east"),
    ("bob", "rep", "east"),
    ("carol", "rep", "west"),
]
START_TIMEOUT_S = 90


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"assistant {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def extractor_ready() -> bool:
    configured = os.environ.get("ASSISTANT_EXTRACTOR_DIR")
    folder = Path(configured) if configured else ROOT / "models" / "extractor"
    return (folder / "config.json").is_file()


@dataclass
class Server:
    url: str
    env: dict[str, str]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def login_link(self, name: str) -> str:
        return cli(self.env, "users", "login-link", name, "--url", self.url)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def launch(data_dir: Path, **settings: str) -> Iterator[Server]:
    """``assistant serve`` on a free port with its own data directory and users."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(data_dir),
        "ASSISTANT_DATABASE_URL": "",
        "ASSISTANT_MODEL": "tiny.en",
        "ASSISTANT_LANGUAGE": "en",
        "ASSISTANT_CPU_THREADS": "2",
        "ASSISTANT_WORKERS": "1",
        "ASSISTANT_JOB_POLL_S": "0.2",
        "ASSISTANT_JOB_HEARTBEAT_S": "1",
        "ASSISTANT_PUBLIC_URL": url,
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        **{f"ASSISTANT_{k.upper()}": v for k, v in settings.items()},
    }
    server = Server(url, env, data_dir / "serve.log")
    for name, role, team in PEOPLE:
        server.tokens[name] = cli(env, "users", "create", name, "--role", role, "--team", team)
    with open(server.log, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"assistant serve exited:\n{server.log_tail()}"
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"no answer on {url}:\n{server.log_tail()}"
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sign_in_with_token(page: Any, server: Server, name: str) -> None:
    page.goto("/login")
    page.get_by_label("Access token or login link").fill(server.tokens[name])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/calls"))


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#toast").wait_for(state="hidden", timeout=10_000)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
