"""``adk api_server`` and ``adk web`` on the installed package: they list the Sparkle Motion
agent and plan a movie offline.

Each server is ADK's own CLI in a real subprocess on a free loopback port, pointed at the
package's folder (what the README tells users to do), with no API key in its environment and
a ``sitecustomize`` that refuses every connection beyond loopback, so "offline" is checked
rather than assumed. The planning request runs in ``mode: "dry"`` (the plan and its dry-run
report, in about a second); a real run is the production tests' business.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import sparkle_motion

pytest.importorskip("google.adk.cli")

PACKAGE_DIR = Path(sparkle_motion.__file__).parent
APP = "sparkle_motion"
START_TIMEOUT_S = 90
REQUEST_TIMEOUT_S = 60

OFFLINE = """
import socket

_LOCAL = {"127.0.0.1", "::1", "localhost"}
_connect, _connect_ex, _getaddrinfo = (
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)

def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOCAL:
        raise OSError(f"offline test: connection to {address[0]} refused")

def connect(self, address):
    _check(self, address)
    return _connect(self, address)

def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL and host is not None:
        raise socket.gaierror(f"offline test: no lookup of {host}")
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
    connect, connect_ex, getaddrinfo)
"""

KEYS = ("API_KEY", "GOOGLE_", "GEMINI", "OPENAI", "ANTHROPIC", "VERTEX", "LITELLM", "SPARKLE_")


def offline_env(tmp_path: Path) -> dict[str, str]:
    """The project's environment without keys or settings, its homes in tmp_path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(OFFLINE)
    env = {k: v for k, v in os.environ.items() if not any(key in k for key in KEYS)}
    # ADK puts the package's parent folder first on sys.path itself (a clone needs no install)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env |= {"HOME": str(tmp_path / "home"), "SPARKLE_HOME": str(tmp_path / "sparkle")}
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port: int, path: str, body: dict | None = None) -> object:
    """GET (or POST ``body`` as JSON) on the server; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
        return json.loads(answer.read())


def serve(command: str, tmp_path: Path) -> Iterator[int]:
    """``adk COMMAND`` on the package folder; yields its port, kills its process group."""
    port = free_port()
    log = tmp_path / f"adk-{command}.log"
    argv = [sys.executable, "-m", "google.adk.cli", command, "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--no_use_local_storage", str(PACKAGE_DIR)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=offline_env(tmp_path), cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"adk {command} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                call(port, "/list-apps")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"adk {command} did not answer:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[int]:
    yield from serve("api_server", tmp_path)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[int]:
    yield from serve("web", tmp_path)


def test_api_server_lists_the_agent_and_plans_offline(api_server: int) -> None:
    assert call(api_server, "/list-apps") == [APP]
    [info] = call(api_server, "/list-apps?detailed=true")["apps"]
    assert info["rootAgentName"] == "sparkle_motion"
    assert "movie" in info["description"]

    session = call(api_server, f"/apps/{APP}/users/u/sessions/s1", {"mode": "dry"})
    assert session["state"] == {"mode": "dry"}
    idea = {"role": "user", "parts": [{"text": "a lighthouse keeper befriends a whale"}]}
    events = call(
        api_server,
        "/run",
        {"app_name": APP, "user_id": "u", "session_id": "s1", "new_message": idea},
    )

    deltas = [e["actions"]["stateDelta"] for e in events]
    [plan] = [d["plan"] for d in deltas if "plan" in d]
    assert "whale" in plan["title"].lower()
    assert {step["type"] for step in plan["steps"]} >= {"image", "tts"}
    [report] = [d["dry_report"] for d in deltas if "dry_report" in d]
    assert [s["step_id"] for s in report["steps"]] == [s["id"] for s in plan["steps"]]
    said = [e["content"]["parts"][0]["text"] for e in events if e["author"] == "production_agent"]
    assert len(said) == 1 and said[0].startswith(f"Dry run: {len(plan['steps'])} steps, ")

    kept = call(api_server, f"/apps/{APP}/users/u/sessions/s1")["state"]
    assert kept["plan"] == plan and kept["mode"] == "dry"
    assert "run_id" not in kept, "a dry request must not start a run"


def test_web_serves_the_agent_and_its_page(web: int) -> None:
    assert call(web, "/list-apps") == [APP]
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/dev-ui/", timeout=30) as page:
        assert "<html" in page.read().decode().lower()
