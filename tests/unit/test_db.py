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


def test_an_old_database_gains_the_owner_column(tmp_path: Path) -> None:
    """A workspace made before runs recorded their owner's start time keeps working."""
    import sqlite3

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, plan_json TEXT"
        " NOT NULL, status TEXT NOT NULL DEFAULT 'queued', profile TEXT, owner_pid INTEGER,"
        " owner_host TEXT, heartbeat_at REAL, created_at REAL NOT NULL, updated_at REAL NOT"
        " NULL, summary TEXT, output_uri TEXT);"
        "INSERT INTO runs VALUES ('r1', 'p', '{}', 'failed', 'fixture', 1, 'h', 0, 0, 0,"
        " 'boom', NULL);"
    )
    conn.commit()
    conn.close()
    store = Store(db)
    assert store.get_run("r1")["owner_started"] is None
    store.create_run("r2", "p", "{}", "fixture", owner_started="t")
    assert store.get_run("r2")["owner_started"] == "t"
    Store(db)  # again: nothing to add


def test_claiming_a_run_is_compare_and_set(tmp_path: Path) -> None:
    """Of several processes that saw the same dead owner, exactly one takes the run."""
    store = Store(tmp_path / "s.db")
    store.create_run("r1", "p", "{}", "fixture", owner_started="old")
    seen = store.get_run("r1")
    wins: list[int] = []

    def claim(n: int) -> None:
        other = Store(tmp_path / "s.db")
        if other.claim_run("r1", seen, owner_pid=1000 + n, owner_host="h", owner_started="x"):
            wins.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    row = store.get_run("r1")
    assert row["owner_pid"] == 1000 + wins[0] and row["status"] == "running"


def test_opening_a_workspace_takes_no_write_lock(tmp_path) -> None:
    # a run suspended mid-write (Ctrl-Z) holds the write lock: status and resume must still
    # open the workspace and read it
    import sqlite3
    import threading

    from sparkle_motion.db.store import Store

    db = tmp_path / "sparkle.db"
    Store(db).create_run("r1", "p1", "{}", "fixture")
    holder = sqlite3.connect(db)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE runs SET summary = 'busy' WHERE run_id = 'r1'")
    seen: list = []
    opener = threading.Thread(target=lambda: seen.append(Store(db).get_run("r1")), daemon=True)
    opener.start()
    opener.join(timeout=10)
    holder.rollback()
    holder.close()
    assert seen and seen[0]["run_id"] == "r1", "opening waited for the write lock"
