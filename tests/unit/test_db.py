"""The SQLite store: WAL, foreign keys, idempotent schema, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

from sparkle_motion.db.sqlite import ensure_schema, get_conn
from sparkle_motion.db.store import Store
from sparkle_motion.types import StepExecutionRecord


def test_connection_settings(tmp_path: Path) -> None:
    conn = get_conn(tmp_path / "nested" / "x.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    ensure_schema(conn)
    ensure_schema(conn)  # idempotent
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "step_records", "artifacts", "memory_events", "review_requests",
            "recent_phash"} <= tables  # fmt: skip


def test_runs_and_step_records(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.create_run("20261125-abc", "plan-1", "{}", "fixture")
    run = store.get_run("20261125-abc")
    assert run["status"] == "running" and run["owner_pid"] > 0
    record = StepExecutionRecord(
        plan_id="plan-1", run_id="20261125-abc", step_id="s1", step_type="image", status="running"
    )
    store.upsert_step_record(record)
    store.upsert_step_record(record.model_copy(update={"status": "succeeded", "attempts": 2}))
    (saved,) = store.step_records(run_id="20261125-abc")
    assert saved.status == "succeeded" and saved.attempts == 2
    store.update_run("20261125-abc", status="succeeded", summary="ok")
    assert store.get_run("20261125-abc")["summary"] == "ok"


def test_concurrent_writers(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    other = Store(tmp_path / "s.db")  # like a second process on the same workspace

    def write(s: Store, n: int) -> None:
        for i in range(50):
            s.add_memory_event("tick", {"i": i}, run_id=f"r{n}")

    threads = [
        threading.Thread(target=write, args=(s, n)) for n, s in enumerate([store, other] * 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.memory_events(event_type="tick")) == 200
