"""Runs as the store keeps them: ids, rows, heartbeats, liveness, dead-run cleanup, status.

A run row records its plan, profile, providers, owner pid and host and a heartbeat, so
``resume`` can tell a dead run from a live one on any machine that shares the workspace,
and can clean up what a dead one left (temp files, child process groups) before finishing
it. Nothing here runs a step.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sparkle_motion.adk_helpers import write_memory_event
from sparkle_motion.config import Settings
from sparkle_motion.db.store import Store
from sparkle_motion.errors import RunStateError
from sparkle_motion.utils.run_command import kill_recorded_groups

# another live run may be publishing: its temp files younger than this are spared
_SPARE_RECENT_S = 600


def new_run_id() -> str:
    """A short id that sorts by start time: ``20261125-080102-3f9a``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def run_payload(
    plan: dict[str, Any],
    profile: str,
    providers: dict[str, str],
    base_dir: Path | None,
    output: Path | None,
) -> str:
    """What a run row keeps to resume the run: the plan and how it was asked to run."""
    return json.dumps(
        {
            "plan": plan,
            "profile": profile,
            "providers": providers,
            "base_dir": str(base_dir) if base_dir else None,
            "output": str(output) if output else None,
        }
    )


def open_run_row(
    store: Store, run_id: str, plan_id: str, payload: str, profile: str, *, resumed: bool
) -> None:
    """Create the run's row, or take a dead run's row over (this process owns it now)."""
    if resumed:
        store.update_run(
            run_id, status="running", owner_pid=os.getpid(),
            owner_host=socket.gethostname(), heartbeat_at=time.time(),
        )  # fmt: skip
    else:
        store.create_run(run_id, plan_id, payload, profile)


class Heartbeat:
    """Beats the run row every ``interval_s`` from a daemon thread until stopped."""

    def __init__(self, store: Store, run_id: str, interval_s: float) -> None:
        self._store, self._run_id, self._interval = store, run_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="sparkle-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._store.update_run(self._run_id, heartbeat_at=time.time())
            except Exception:  # a busy database must not kill the run; the next beat retries
                pass

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_is_live(row: dict[str, Any], settings: Settings) -> bool:
    """True while the run's owner is alive and still beating."""
    fresh = (time.time() - (row.get("heartbeat_at") or 0)) < settings.stale_heartbeat_s
    same_host = row.get("owner_host") == socket.gethostname()
    if same_host:
        return pid_alive(row.get("owner_pid")) and fresh
    return fresh


def resumable_row(store: Store, run_id: str, settings: Settings) -> dict[str, Any]:
    """The row of a run that may be resumed; RunStateError says why another may not."""
    row = store.get_run(run_id)
    if row is None:
        raise RunStateError(f"no run {run_id!r} in this workspace (see sparkle-motion status)")
    if row["status"] == "succeeded":
        raise RunStateError(f"run {run_id} already finished: {row['summary']}")
    if row["status"] == "running" and run_is_live(row, settings):
        raise RunStateError(
            f"run {run_id} is still running (pid {row['owner_pid']}); it cannot be resumed "
            "while its owner is alive"
        )
    return row


def clean_dead_run(run_id: str, plan_id: str, run_dir: Path, ws_tmp: Path) -> dict[str, int]:
    """Kill the process groups a dead run left and remove its temp files (and say so)."""
    killed = kill_recorded_groups(run_dir)
    removed = 0
    tmp = run_dir / "tmp"
    if tmp.exists():
        removed += sum(1 for p in tmp.rglob("*") if p.is_file())
        shutil.rmtree(tmp, ignore_errors=True)
    cutoff = time.time() - _SPARE_RECENT_S
    for part in ws_tmp.glob("publish-*.part"):
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)
            removed += 1
    for part in run_dir.glob(".*.part*"):
        part.unlink(missing_ok=True)
        removed += 1
    cleaned = {"killed_process_groups": killed, "removed_files": removed}
    write_memory_event("run_cleanup", cleaned, plan_id=plan_id, run_id=run_id)
    return cleaned


def run_status(
    store: Store, settings: Settings, run_id: str | None = None
) -> list[dict[str, Any]] | dict[str, Any]:
    """Recent runs (newest first), or one run's row with ``live`` and its step records."""
    if run_id is None:
        return store.list_runs()
    row = store.get_run(run_id)
    if row is None:
        raise RunStateError(f"no run {run_id!r} in this workspace")
    live = row["status"] == "running" and run_is_live(row, settings)
    return {**row, "live": live, "records": store.step_records(run_id=run_id)}


def copy_atomic(src: Path, dest: Path) -> None:
    """Copy a finished file where the user asked for it, never leaving half a file there.

    The temp file lives beside ``dest`` (same filesystem, so the rename is atomic) and is
    removed on any failure, Ctrl-C included.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
