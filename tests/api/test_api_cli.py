"""The service's commands: `assistant users create` prints a working token; bad input is one line
and exit code 2; `assistant serve` binds 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from assistant.store import Database
from assistant.store.users import authenticate

ROOT = Path(__file__).resolve().parents[2]


def cli_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp), "PYTHONPATH": str(ROOT)}
    env.pop("ASSISTANT_DATABASE_URL", None)
    return env


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        cwd=ROOT,
        env=cli_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_create_prints_a_token_that_works(tmp_path: Path) -> None:
    done = cli(tmp_path, "users", "create", "mia", "--role", "manager", "--team", "east")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert len(token) >= 40
    db = Database(f"sqlite:///{tmp_path / 'assistant.db'}")
    with db.sessions() as session:
        user = authenticate(session, token)
        assert user is not None and (user.name, user.role, user.team) == ("mia", "manager", "east")
    db.dispose()


def test_users_create_errors_are_one_line(tmp_path: Path) -> None:
    assert cli(tmp_path, "users", "create", "mia", "--role", "rep").returncode == 0
    again = cli(tmp_path, "users", "create", "mia", "--role", "rep")
    assert again.returncode == 2
    assert again.stderr.strip() == "error: A user named 'mia' already exists; pick another name"
    bad = cli(tmp_path, "users", "create", "x", "--role", "boss")
    assert (
        bad.returncode == 2 and bad.stderr.count("\n") == 1 and "rep, manager, admin" in bad.stderr
    )
    name = cli(tmp_path, "users", "create", "../x", "--role", "rep")
    assert name.returncode == 2 and "not allowed" in name.stderr


def test_login_link_for_a_user(tmp_path: Path) -> None:
    cli(tmp_path, "users", "create", "ada", "--role", "admin")
    done = cli(tmp_path, "users", "login-link", "ada", "--url", "http://127.0.0.1:9999")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("http://127.0.0.1:9999/api/auth/login?token=")
    missing = cli(tmp_path, "users", "login-link", "nobody")
    assert missing.returncode == 2 and "No user named 'nobody'" in missing.stderr


def test_serve_binds_localhost_by_default(tmp_path: Path) -> None:
    done = cli(tmp_path, "serve", "--help")
    assert done.returncode == 0
    assert "127.0.0.1" in done.stdout


def test_serve_keeps_login_tokens_out_of_its_log(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert cli(tmp_path, "users", "create", "ada", "--role", "admin").returncode == 0
    link = cli(tmp_path, "users", "login-link", "ada", "--url", url).stdout.strip()
    token = link.split("token=")[1]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port), "--workers", "0"],
            cwd=ROOT,
            env={**cli_env(tmp_path), "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        signed_in = httpx.get(link, timeout=10)
        assert signed_in.status_code == 303 and signed_in.cookies.get("assistant_session")
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert '"GET /api/auth/login?token=*** HTTP/1.1" 303' in text, text
    assert token not in text
