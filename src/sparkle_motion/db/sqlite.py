"""SQLite connection helpers and the store's schema (the spec's ``get_conn``/``ensure_schema``).

Connections use WAL (readers never block the writer, so two runs can share one workspace),
foreign keys, and a busy timeout so that concurrent writers wait instead of failing.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS schema_info (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  plan_id TEXT NOT NULL,
  plan_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued',
  profile TEXT,
  owner_pid INTEGER,
  owner_host TEXT,
  heartbeat_at REAL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  summary TEXT,
  output_uri TEXT
);
CREATE INDEX IF NOT EXISTS runs_plan ON runs(plan_id);
CREATE TABLE IF NOT EXISTS step_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT REFERENCES runs(run_id) ON DELETE CASCADE,
  plan_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  step_type TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  cache_key TEXT,
  artifact_uri TEXT,
  error_type TEXT,
  updated_at REAL NOT NULL,
  record_json TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS step_records_run_step ON step_records(run_id, step_id);
CREATE INDEX IF NOT EXISTS step_records_cache ON step_records(cache_key);
CREATE TABLE IF NOT EXISTS artifacts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sha256 TEXT NOT NULL,
  uri TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  metadata_json TEXT NOT NULL DEFAULT '{}',
  plan_id TEXT,
  run_id TEXT,
  step_id TEXT,
  cache_key TEXT,
  created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_sha ON artifacts(sha256);
CREATE INDEX IF NOT EXISTS artifacts_uri ON artifacts(uri);
CREATE INDEX IF NOT EXISTS artifacts_cache ON artifacts(cache_key);
CREATE TABLE IF NOT EXISTS memory_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL,
  event_type TEXT NOT NULL,
  plan_id TEXT,
  run_id TEXT,
  step_id TEXT,
  payload_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS memory_events_run ON memory_events(run_id, ts);
CREATE INDEX IF NOT EXISTS memory_events_plan ON memory_events(plan_id, ts);
CREATE TABLE IF NOT EXISTS review_requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  artifact_uri TEXT,
  reason TEXT NOT NULL,
  report_json TEXT NOT NULL DEFAULT '{}',
  plan_id TEXT,
  run_id TEXT,
  step_id TEXT,
  resolved_at REAL,
  resolution TEXT
);
CREATE INDEX IF NOT EXISTS review_requests_status ON review_requests(status, created_at);
CREATE TABLE IF NOT EXISTS step_cache (
  cache_key TEXT PRIMARY KEY,
  step_type TEXT NOT NULL,
  provider TEXT NOT NULL,
  artifacts_json TEXT NOT NULL,
  meta_json TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS recent_phash (
  phash TEXT PRIMARY KEY,
  uri TEXT NOT NULL,
  created_at REAL NOT NULL,
  last_seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS recent_phash_seen ON recent_phash(last_seen_at);
CREATE TABLE IF NOT EXISTS file_seals (
  path TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  sealed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS timings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  profile TEXT NOT NULL,
  kind TEXT NOT NULL,
  units REAL NOT NULL,
  seconds REAL NOT NULL,
  created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS timings_kind ON timings(profile, kind, id);
CREATE TABLE IF NOT EXISTS run_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  ts REAL NOT NULL,
  kind TEXT NOT NULL,
  data_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_events_run ON run_events(run_id, seq);
"""


def get_conn(path: str | Path) -> sqlite3.Connection:
    """Open (creating folders) a connection in WAL mode with foreign keys on."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), timeout=30.0, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _schema_is_current(conn: sqlite3.Connection, ddl: str) -> bool:
    """Every table and index of ``ddl`` is there, with the run-owner columns: reads only."""
    wanted = set(re.findall(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)", ddl))
    have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if not wanted <= have:
        return False
    if "runs" in wanted:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        if not set(_RUN_OWNER_COLUMNS) <= columns:
            return False
    if "review_requests" in wanted:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(review_requests)")}
        if not set(_REVIEW_COLUMNS) <= columns:
            return False
    if "schema_info" in wanted:
        return (
            conn.execute("SELECT 1 FROM schema_info WHERE key = 'version'").fetchone() is not None
        )
    return True


def ensure_schema(conn: sqlite3.Connection, ddl: str = SCHEMA_DDL) -> None:
    """Create the tables if missing (idempotent) and record the schema version.

    A current schema is only read: opening the workspace takes no write lock, so a run that
    holds one (even one suspended mid-write, Ctrl-Z) does not stop ``status`` or ``resume``
    from opening it and telling what they can."""
    if _schema_is_current(conn, ddl):
        return
    conn.executescript(ddl)
    _migrate_run_ownership(conn)
    conn.execute(
        "INSERT OR IGNORE INTO schema_info(key, value) VALUES ('version', ?)",
        (str(SCHEMA_VERSION),),
    )
    conn.commit()


# ------------------------------------------------------------------ run ownership
# A run's owner is its pid and host plus the process's start token (pid reuse cannot pass
# for the owner). Databases made before the column existed get it added here, so an old
# workspace keeps working; two processes adding it at once is fine (one of them wins).
_RUN_OWNER_COLUMNS = {"owner_started": "TEXT"}
# a reviewer's note on a decision (the service's POST /reviews/{id}), added the same way
_REVIEW_COLUMNS = {"note": "TEXT"}


def _migrate_run_ownership(conn: sqlite3.Connection) -> None:
    have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if not have:
        return  # a schema without runs (another ddl)
    _add_columns(conn, "runs", have, _RUN_OWNER_COLUMNS)
    reviews = {row[1] for row in conn.execute("PRAGMA table_info(review_requests)")}
    if reviews:
        _add_columns(conn, "review_requests", reviews, _REVIEW_COLUMNS)


def _add_columns(
    conn: sqlite3.Connection, table: str, have: set[str], wanted: dict[str, str]
) -> None:
    for name, kind in wanted.items():
        if name not in have:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise


# -------------------------------------------------------------- end run ownership
