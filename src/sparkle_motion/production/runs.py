"""Runs as the store keeps them: ids, rows, heartbeats, liveness, dead-run cleanup, status.

A run row records its plan, profile, providers, owner (pid, host and the process's start
token) and a heartbeat, so ``resume`` can tell a dead run from a live one on any machine that
shares the workspace, and can clean up what a dead one left (temp files, child process
groups) before finishing it. Nothing here runs a step.

Two rules keep a run to one owner at a time:

- Liveness is identity, not activity (:func:`run_is_live`, the one test that ``status``,
  ``resume`` and any service use). On the owner's host a run is dead only when the recorded
  process is gone or the pid now belongs to another process; a silent owner (stopped with
  SIGSTOP or Ctrl-Z, swapped out, a long GC pause) keeps its run, since taking it over would
  let two processes write the same outputs. Only an owner on another host, whose process
  cannot be looked at, is judged by its heartbeat lease (``stale_heartbeat_s``).
- Taking a run over is one compare-and-set in the store (:func:`claim_run`): the row changes
  hands only if it still holds the dead owner that was checked, so of two ``resume`` calls
  exactly one wins and the other fails with RunStateError.
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
from sparkle_motion.utils.procs import is_same_process, pid_exists, proc_available, start_token
from sparkle_motion.utils.run_command import kill_recorded_groups
from sparkle_motion.workspace import Workspace

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
    overrides: dict[str, str] | None = None,
) -> str:
    """What a run row keeps to resume the run: the plan and how it was asked to run
    (``providers`` as chosen, ``overrides`` as asked, to run an edited plan the same way)."""
    return json.dumps(
        {
            "plan": plan,
            "profile": profile,
            "providers": providers,
            "overrides": overrides or {},
            "base_dir": str(base_dir) if base_dir else None,
            "output": str(output) if output else None,
        }
    )


def owner_identity() -> dict[str, Any]:
    """This process as a run owner: pid, host and start token."""
    return {
        "owner_pid": os.getpid(),
        "owner_host": socket.gethostname(),
        "owner_started": start_token(os.getpid()),
    }


def owned_here(row: dict[str, Any]) -> bool:
    """True when this very process is the run's recorded owner."""
    me = owner_identity()
    return all(row.get(k) == v for k, v in me.items())


def open_run_row(
    store: Store, run_id: str, plan_id: str, payload: str, profile: str, *, resumed: bool
) -> None:
    """Create the run's row (this process owns it), or check that this process holds the
    resumed run it claimed (:func:`claim_run`) and beat its heartbeat."""
    if resumed:
        row = store.get_run(run_id)
        if row is None or not owned_here(row):
            owner = row["owner_pid"] if row else None
            raise RunStateError(f"run {run_id} is owned by pid {owner}; claim it first")
        store.update_run(run_id, heartbeat_at=time.time())
    else:
        store.create_run(
            run_id, plan_id, payload, profile, owner_started=owner_identity()["owner_started"]
        )


def claim_run(store: Store, row: dict[str, Any]) -> None:
    """Make this process the owner of the dead run ``row`` (as read by :func:`resumable_row`),
    atomically: RunStateError when another process took it over since."""
    if not store.claim_run(row["run_id"], row, **owner_identity(), heartbeat_at=time.time()):
        now = store.get_run(row["run_id"]) or {}
        raise RunStateError(
            f"run {row['run_id']} was just taken over by another process "
            f"(pid {now.get('owner_pid')}); it cannot be resumed twice"
        )


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


def run_is_live(row: dict[str, Any], settings: Settings) -> bool:
    """True while the run's recorded owner is alive (see the module docstring).

    On the owner's host: the recorded process still exists and is the same process (pid plus
    start token); a row written before start tokens were recorded falls back to the old rule,
    pid alive and heartbeat fresh. On another host: the heartbeat lease has not expired."""
    fresh = (time.time() - (row.get("heartbeat_at") or 0)) < settings.stale_heartbeat_s
    if row.get("owner_host") != socket.gethostname():
        return fresh
    token = row.get("owner_started")
    if token is None and proc_available():
        return pid_exists(row.get("owner_pid")) and fresh
    return is_same_process(row.get("owner_pid"), token)


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


def _newest_mtime(path: Path) -> float:
    """The latest modification time in a file or folder tree; now when part of it changed
    under us (something is at work there: leave it)."""
    try:
        newest = path.lstat().st_mtime
        if path.is_dir() and not path.is_symlink():
            for child in path.rglob("*"):
                newest = max(newest, child.lstat().st_mtime)
    except OSError:
        return time.time()
    return newest


def _file_count(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file()) if path.is_dir() else 1


def sweep_old_temp(ws_tmp: Path, segments_dir: Path | None = None) -> int:
    """Remove workspace-wide temp files (publish parts, ``assemble-*`` work folders,
    half-written segments) untouched for ``_SPARE_RECENT_S``: they carry no run id, and a
    live run may still be writing the younger ones. Returns how many files went."""
    removed = 0
    cutoff = time.time() - _SPARE_RECENT_S
    shared = [*ws_tmp.glob("publish-*.part"), *ws_tmp.glob("assemble-*")]
    if segments_dir is not None:
        shared += segments_dir.glob(".*.part")
    for leftover in shared:
        if _newest_mtime(leftover) >= cutoff:
            continue
        count = _file_count(leftover)
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed += count
    return removed


def clean_dead_run(
    run_id: str, plan_id: str, run_dir: Path, ws_tmp: Path, segments_dir: Path | None = None
) -> dict[str, int]:
    """Kill the process groups a dead run left and remove its temp files (and say so).

    What is the run's own (its folder's ``tmp``, its half-copied outputs) goes at once.
    Workspace-wide temp files (publish parts, ``assemble-*`` work folders, half-written
    segments in ``segments_dir``) carry no run id, and another live run may be writing
    them, so only those untouched for ``_SPARE_RECENT_S`` go."""
    killed = kill_recorded_groups(run_dir)
    removed = 0
    tmp = run_dir / "tmp"
    if tmp.exists():
        removed += _file_count(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    removed += sweep_old_temp(ws_tmp, segments_dir)
    for part in run_dir.glob(".*.part*"):
        part.unlink(missing_ok=True)
        removed += 1
    cleaned = {"killed_process_groups": killed, "removed_files": removed}
    write_memory_event("run_cleanup", cleaned, plan_id=plan_id, run_id=run_id)
    return cleaned


def retire_dead_run(
    store: Store, ws: Workspace, row: dict[str, Any], status: str, summary: str
) -> bool:
    """Claim the dead run ``row`` (so a resume starting at the same moment keeps it), clean
    up what it left and record ``status`` (interrupted, cancelled: still resumable). False
    when another process took the run over first."""
    try:
        claim_run(store, row)
    except RunStateError:
        return False
    segments = ws.root / "cache" / "segments"
    clean_dead_run(row["run_id"], row["plan_id"], ws.run_dir(row["run_id"]), ws.tmp, segments)
    store.update_run(row["run_id"], status=status, summary=summary)
    return True


def sweep_dead_runs(
    store: Store, settings: Settings, ws: Workspace, *, keep: str | None = None
) -> list[str]:
    """What runs that died left in this workspace (child processes, temp files) goes when
    the next run starts here. Each such run is claimed first (so a resume starting at the
    same moment keeps it), cleaned, and recorded ``interrupted``: still resumable."""
    swept = []
    for row in store.runs_with_status("running"):
        if row["run_id"] == keep or run_is_live(row, settings):
            continue
        summary = f"its process died; finish it with: sparkle-motion resume {row['run_id']}"
        if retire_dead_run(store, ws, row, "interrupted", summary):
            swept.append(row["run_id"])
    if not swept:  # clean_dead_run swept the workspace's old temp files already
        sweep_old_temp(ws.tmp, ws.root / "cache" / "segments")
    return swept


def shown_run(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A run row as ``status`` shows it: ``live`` added, and a run whose owner died without
    saying so (kill -9, a crash, a power cut) shown as ``dead`` rather than ``running``."""
    live = row["status"] == "running" and run_is_live(row, settings)
    if row["status"] != "running" or live:
        return {**row, "live": live}
    summary = row.get("summary") or f"its process is gone; sparkle-motion resume {row['run_id']}"
    return {**row, "status": "dead", "summary": summary, "live": False}


def run_status(
    store: Store, settings: Settings, run_id: str | None = None
) -> list[dict[str, Any]] | dict[str, Any]:
    """Recent runs (newest first), or one run's row with ``live`` and its step records;
    a run that nobody owns any more is ``dead`` (see :func:`shown_run`)."""
    if run_id is None:
        return [shown_run(row, settings) for row in store.list_runs()]
    row = store.get_run(run_id)
    if row is None:
        raise RunStateError(f"no run {run_id!r} in this workspace")
    return {**shown_run(row, settings), "records": store.step_records(run_id=run_id)}


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
