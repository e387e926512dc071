"""The studio page in a real browser: a `sparkle-motion serve` subprocess and headless Chromium.

The browser is Debian's `chromium` (`.ci/run` installs it with apt), driven by the `playwright`
package through `executable_path`: nothing is downloaded. Where playwright, a chromium binary or
the service's own dependencies are missing, the tests skip with the reason (test_studio.py
checks at import, the `page` fixture again).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sparkle_motion


def chromium_path() -> str | None:
    """Debian's chromium (or Ubuntu's chromium-browser), if installed."""
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


_SRC = str(Path(sparkle_motion.__file__).resolve().parents[1])
_START_TIMEOUT_S = 90.0


@dataclass
class Studio:
    """A running server: its base URL, workspace and a small JSON client for assertions."""

    url: str
    home: Path
    log: Path

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def wait_for_run(self, run_id: str, timeout_s: float = 240.0) -> dict[str, Any]:
        """The run once it is terminal (the page's view of it is checked separately)."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.get(f"/runs/{run_id}")
            if run["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['status']}; log: {self.log}")
            time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if json.loads(response.read()).get("ok"):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.25)
    raise AssertionError(
        f"serve did not answer /health in {_START_TIMEOUT_S} s:\n{log.read_text()}"
    )


@pytest.fixture
def studio(sparkle_home: Path, tmp_path: Path) -> Iterator[Studio]:
    """`sparkle-motion serve` on a free loopback port, one worker, its own workspace."""
    port = _free_port()
    log = tmp_path / "serve.log"
    env = dict(os.environ)
    env.update(
        SPARKLE_HOME=str(sparkle_home),
        SPARKLE_PROFILE="fixture",
        # four scenes instead of up to eight: the same page, half the encoding time
        SPARKLE_MAX_STEPS="12",
        PYTHONPATH=os.pathsep.join(p for p in (_SRC, env.get("PYTHONPATH")) if p),
    )
    env.pop("SPARKLE_API_TOKEN", None)
    command = [sys.executable, "-m", "sparkle_motion.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield Studio(url=url, home=sparkle_home, log=log)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server and every run child it started (they share its process group)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # run children may have outlived a quick server exit
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium page at 1280x800 whose console errors are collected."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        executable = chromium_path()
        if executable is None:
            pytest.skip("no chromium binary (apt-get install chromium)")
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()
