"""The service as a person runs it: ``sparkle-motion serve`` in its own process, killed with
kill -9 mid-run, started again, and the run resumed to a movie with no finished step redone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.integration.test_runs import plan_data

from sparkle_motion.db.store import Store
from sparkle_motion.utils.procs import pid_exists

SCRIPT = Path(sys.executable).parent / "sparkle-motion"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, **env: str) -> subprocess.Popen:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sparkle_motion.cli"]
    return subprocess.Popen(
        [*command, "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env={**os.environ, **env}, start_new_session=True,
    )  # fmt: skip


def call(port: int, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def wait_for(predicate, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            found = predicate()
        except OSError:  # the server is not listening yet
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_a_server_killed_mid_run_loses_nothing(sparkle_home: Path) -> None:
    env = {"SPARKLE_FIXTURE_DELAY_S": "0.3", "SPARKLE_CPU_SLOTS": "1"}
    port = free_port()
    server = serve(port, **env)
    store = Store(sparkle_home / "sparkle.db")
    try:
        wait_for(lambda: call(port, "GET", "/health")["ok"])
        run_id = call(port, "POST", "/runs", {"plan": plan_data(3), "profile": "fixture"})["id"]

        def finished() -> set[str]:
            records = store.step_records(run_id=run_id)
            return {r.step_id for r in records if r.status == "succeeded"}

        wait_for(lambda: len(finished()) >= 3)
        worker = store.get_run(run_id)["owner_pid"]
        os.killpg(server.pid, signal.SIGKILL)  # the server's group: not the run's process
        server.wait()
        done_before = finished()
        assert 3 <= len(done_before) < 9
        # the run's own process noticed its server was gone and went with it
        wait_for(lambda: not pid_exists(worker), timeout=10)
        assert store.get_run(run_id)["status"] == "running"  # nobody said otherwise yet

        server = serve(port, **env)
        wait_for(lambda: call(port, "GET", "/health")["ok"])
        shown = call(port, "GET", f"/runs/{run_id}")
        assert shown["status"] == "interrupted" and "resume" in shown["summary"]
        assert call(port, "POST", f"/runs/{run_id}/resume")["status"] == "queued"
        done = wait_for(
            lambda: (
                (r := call(port, "GET", f"/runs/{run_id}"))["status"] in ("succeeded", "failed")
                and r
            )
        )
        assert done["status"] == "succeeded", done["summary"]
        hits = {s["step_id"]: s["cache_hit"] for s in done["steps"]}
        assert all(hits[s] for s in done_before), "a finished step was redone"
        assert not all(hits.values())  # the rest was rendered after the restart
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{done['movie']['url']}") as movie:
            assert movie.read(12)[4:8] == b"ftyp"
        assert not list((sparkle_home / "runs" / run_id / "pgids").glob("pg.*"))
    finally:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
