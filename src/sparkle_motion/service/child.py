"""One service run in a process of its own: ``python -m sparkle_motion.service.child RUN_ID``.

Why a process per run: espeak-ng and ffmpeg fork, a model may take the process's memory
with it, and cancelling must stop everything the run started. The server starts this in a
new session, so cancel is one kill of the process group, and what the run left is cleaned
up by the codebase's one dead-run cleanup (``runs.retire_dead_run``).

The run was queued by the server (``production_agent.queue_run``); this process claims it
the way ``resume`` claims a dead run, so a run is started exactly once however many
servers share the workspace. Progress goes to the store as numbered events
(:mod:`sparkle_motion.service.events`); the run's result (warnings, scorecard, manifest,
movie) goes to ``result.json`` in the run's folder.

The process dies with its server: a watchdog thread notices the server is gone (its parent
changed) and kills this process group, so a server killed with ``kill -9`` leaves a dead
run that the next start marks ``interrupted`` and ``resume`` finishes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

RESULT_FILE = "result.json"


def _die_with_parent(parent: int, interval_s: float = 0.5) -> None:
    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="sparkle-parent-watch", daemon=True).start()


def run(run_id: str) -> int:
    """Start (or resume) the run ``run_id``; the exit code says how it ended."""
    from sparkle_motion.config import get_settings
    from sparkle_motion.db.store import get_store
    from sparkle_motion.errors import SparkleError
    from sparkle_motion.production_agent import resume_run
    from sparkle_motion.service.events import EventRecorder, record_status
    from sparkle_motion.workspace import get_workspace

    settings = get_settings()
    store = get_store(settings)
    recorder = EventRecorder(store, run_id).start()
    record_status(store, run_id, "running")
    try:
        result = resume_run(run_id, on_progress=recorder, settings=settings)
    except SparkleError as exc:  # refused before any step ran (the plan changed, ...)
        recorder.stop()
        row = store.get_run(run_id) or {}
        if row.get("status") in ("queued", "running"):
            store.update_run(run_id, status="failed", summary=str(exc))
        record_status(store, run_id, "failed", str(exc))
        return 1
    recorder.stop()
    folder = get_workspace(settings).run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".{RESULT_FILE}.tmp"
    part.write_text(result.model_dump_json(), encoding="utf-8")
    os.replace(part, folder / RESULT_FILE)  # readers never see half a file
    record_status(store, run_id, result.status, result.summary)
    return 0 if result.status == "succeeded" else 1


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m sparkle_motion.service.child RUN_ID", file=sys.stderr)
        return 2
    _die_with_parent(os.getppid())
    return run(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
