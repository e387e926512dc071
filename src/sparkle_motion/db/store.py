"""The store: typed operations on the workspace database.

One ``Store`` per database file per process (:func:`get_store`); each thread gets its own
SQLite connection, and WAL plus a busy timeout let several processes share the file.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from sparkle_motion.db.sqlite import ensure_schema, get_conn
from sparkle_motion.errors import WorkspaceError
from sparkle_motion.types import StepExecutionRecord
from sparkle_motion.utils.seal import Seal


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


class Store:
    """Runs, step records, artifacts, memory events and review requests."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self._local = threading.local()
        with self.connect() as conn:
            ensure_schema(conn)

    # ---------------------------------------------------------------- plumbing

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = get_conn(self.db_path)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection inside a transaction: committed on success, rolled back on error."""
        conn = self._conn()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --------------------------------------------------------------- artifacts

    def add_artifact(
        self,
        *,
        sha256: str,
        uri: str,
        media_type: str,
        size_bytes: int,
        metadata: dict[str, Any] | None = None,
        plan_id: str | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
        cache_key: str | None = None,
    ) -> int:
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT INTO artifacts(sha256, uri, media_type, size_bytes, metadata_json,"
                " plan_id, run_id, step_id, cache_key, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    sha256,
                    uri,
                    media_type,
                    size_bytes,
                    _dumps(metadata or {}),
                    plan_id,
                    run_id,
                    step_id,
                    cache_key,
                    time.time(),
                ),
            )
            return int(cur.lastrowid or 0)

    def artifacts(self, **where: Any) -> list[dict[str, Any]]:
        """Artifact rows matching column=value filters (e.g. ``uri=...``, ``run_id=...``)."""
        rows = self._select("artifacts", where, order="id")
        for row in rows:
            row["metadata"] = json.loads(row.pop("metadata_json"))
        return rows

    # ----------------------------------------------------------- memory events

    def add_memory_event(
        self,
        event_type: str,
        payload: dict[str, Any] | None = None,
        *,
        plan_id: str | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
    ) -> int:
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT INTO memory_events(ts, event_type, plan_id, run_id, step_id, payload_json)"
                " VALUES (?,?,?,?,?,?)",
                (time.time(), event_type, plan_id, run_id, step_id, _dumps(payload or {})),
            )
            return int(cur.lastrowid or 0)

    def memory_events(self, **where: Any) -> list[dict[str, Any]]:
        rows = self._select("memory_events", where, order="id")
        for row in rows:
            row["payload"] = json.loads(row.pop("payload_json"))
        return rows

    # --------------------------------------------------------- review requests

    def add_review_request(
        self,
        *,
        reason: str,
        artifact_uri: str | None = None,
        report: dict[str, Any] | None = None,
        plan_id: str | None = None,
        run_id: str | None = None,
        step_id: str | None = None,
    ) -> int:
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT INTO review_requests(created_at, status, artifact_uri, reason,"
                " report_json, plan_id, run_id, step_id) VALUES (?, 'pending', ?,?,?,?,?,?)",
                (time.time(), artifact_uri, reason, _dumps(report or {}), plan_id, run_id, step_id),
            )
            return int(cur.lastrowid or 0)

    def review_requests(self, **where: Any) -> list[dict[str, Any]]:
        rows = self._select("review_requests", where, order="id")
        for row in rows:
            row["report"] = json.loads(row.pop("report_json"))
        return rows

    def resolve_review_request(
        self, request_id: int, resolution: str, note: str | None = None
    ) -> None:
        """Mark a review request approved or rejected (with the reviewer's note)."""
        if resolution not in ("approved", "rejected"):
            raise ValueError("resolution must be 'approved' or 'rejected'")
        with self.connect() as conn:
            conn.execute(
                "UPDATE review_requests SET status=?, resolution=?, resolved_at=?, note=?"
                " WHERE id=?",
                (resolution, resolution, time.time(), note, request_id),
            )

    # -------------------------------------------------------------------- runs

    def create_run(
        self, run_id: str, plan_id: str, plan_json: str, profile: str,
        owner_started: str | None = None, status: str = "running",
    ) -> None:  # fmt: skip
        """A new run row owned by this process: ``running``, or ``queued`` for a service
        that starts it later in another process (which claims it, as ``resume`` does)."""
        now = time.time()
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO runs(run_id, plan_id, plan_json, status, profile, owner_pid,"
                " owner_host, heartbeat_at, created_at, updated_at, owner_started)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    plan_id,
                    plan_json,
                    status,
                    profile,
                    os.getpid(),
                    socket.gethostname(),
                    now,
                    now,
                    now,
                    owner_started,
                ),
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._select("runs", {"run_id": run_id})
        return rows[0] if rows else None

    def update_run(self, run_id: str, **fields: Any) -> None:
        allowed = {"status", "summary", "output_uri", "owner_pid", "owner_host", "heartbeat_at",
                   "owner_started"}  # fmt: skip
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}")
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.connect() as conn:
            conn.execute(f"UPDATE runs SET {cols} WHERE run_id=?", (*fields.values(), run_id))

    def runs_with_status(self, status: str) -> list[dict[str, Any]]:
        """Every run whose recorded status is ``status`` (e.g. the ``running`` ones)."""
        return self._select("runs", {"status": status}, order="created_at")

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(r) for r in rows]

    # -------------------------------------------------------------- run events

    def add_run_events(self, run_id: str, events: list[tuple[str, dict[str, Any]]]) -> int:
        """Append ``(kind, data)`` events to a run's numbered stream in one transaction;
        returns the last sequence number (what a reader resumes after)."""
        now = time.time()
        last = 0
        with self.connect() as conn:
            for kind, data in events:
                cur = conn.execute(
                    "INSERT INTO run_events(run_id, ts, kind, data_json) VALUES (?,?,?,?)",
                    (run_id, now, kind, _dumps(data)),
                )
                last = int(cur.lastrowid or 0)
        return last

    def last_event_seq(self) -> int:
        """The newest event's number across all runs (0 when there is none)."""
        with self.connect() as conn:
            row = conn.execute("SELECT MAX(seq) FROM run_events").fetchone()
        return int(row[0] or 0)

    def run_events(
        self, run_id: str, after: int = 0, limit: int = 500, *, newest: bool = False
    ) -> list[dict[str, Any]]:
        """A run's events numbered after ``after``, oldest first (``newest``: the last
        ``limit`` of them)."""
        order = "DESC" if newest else "ASC"
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT seq, ts, kind, data_json FROM run_events WHERE run_id=? AND seq>?"
                f" ORDER BY seq {order} LIMIT ?",
                (run_id, after, limit),
            ).fetchall()
        if newest:
            rows = rows[::-1]
        return [
            {"seq": r["seq"], "ts": r["ts"], "kind": r["kind"], **json.loads(r["data_json"])}
            for r in rows
        ]

    # ---------------------------------------------------- run ownership (claim)

    _OWNER_FIELDS = ("status", "owner_pid", "owner_host", "owner_started", "heartbeat_at")

    def claim_run(self, run_id: str, seen: dict[str, Any], **owner: Any) -> bool:
        """Make ``owner`` the run's owner (status running) only if its row still holds what
        the caller ``seen`` (status, owner, heartbeat) when it judged the old owner dead: one
        UPDATE, so of two processes claiming the same run exactly one gets it. False when
        another process changed the row first."""
        if set(owner) - {"owner_pid", "owner_host", "owner_started", "heartbeat_at"}:
            raise ValueError(f"cannot claim with fields {sorted(owner)}")
        sets = {**owner, "status": "running", "updated_at": time.time()}
        where = " AND ".join(f"{k} IS ?" for k in self._OWNER_FIELDS)
        with self.connect() as conn:
            cur = conn.execute(
                f"UPDATE runs SET {', '.join(f'{k}=?' for k in sets)} WHERE run_id=? AND {where}",
                (*sets.values(), run_id, *(seen.get(k) for k in self._OWNER_FIELDS)),
            )
        return cur.rowcount == 1

    # ------------------------------------------------ end run ownership (claim)

    # ------------------------------------------------------------ step records

    def upsert_step_record(self, record: StepExecutionRecord) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO step_records(run_id, plan_id, step_id, step_type, status, attempts,"
                " cache_key, artifact_uri, error_type, updated_at, record_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(run_id, step_id) DO UPDATE SET status=excluded.status,"
                " attempts=excluded.attempts, cache_key=excluded.cache_key,"
                " artifact_uri=excluded.artifact_uri, error_type=excluded.error_type,"
                " updated_at=excluded.updated_at, record_json=excluded.record_json",
                (
                    record.run_id,
                    record.plan_id,
                    record.step_id,
                    record.step_type,
                    record.status,
                    record.attempts,
                    record.cache_key,
                    record.artifact_uri,
                    record.error_type,
                    time.time(),
                    record.model_dump_json(),
                ),
            )

    def step_records(self, **where: Any) -> list[StepExecutionRecord]:
        rows = self._select("step_records", where, order="id")
        return [StepExecutionRecord.model_validate_json(r["record_json"]) for r in rows]

    # --------------------------------------------------------------- step cache

    def put_cache(
        self,
        cache_key: str,
        *,
        step_type: str,
        provider: str,
        artifacts: list[dict[str, Any]],
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Record a finished step's artifacts under its cache key (after they are published)."""
        with self.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO step_cache(cache_key, step_type, provider,"
                " artifacts_json, meta_json, created_at) VALUES (?,?,?,?,?,?)",
                (cache_key, step_type, provider, _dumps(artifacts), _dumps(meta or {}),
                 time.time()),
            )  # fmt: skip

    def get_cache(self, cache_key: str) -> dict[str, Any] | None:
        rows = self._select("step_cache", {"cache_key": cache_key})
        if not rows:
            return None
        row = rows[0]
        row["artifacts"] = json.loads(row.pop("artifacts_json"))
        row["meta"] = json.loads(row.pop("meta_json"))
        return row

    # ------------------------------------------------------------------ timings
    # What rendered work took on this machine (estimates.py turns them into estimates).

    def add_timing(self, profile: str, kind: str, units: float, seconds: float) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO timings(profile, kind, units, seconds, created_at) VALUES (?,?,?,?,?)",
                (profile, kind, float(units), float(seconds), time.time()),
            )

    def timings(self, *, profile: str, kind: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ``limit`` timings of ``kind`` under ``profile``, newest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT units, seconds, created_at FROM timings WHERE profile = ? AND kind = ?"
                " ORDER BY id DESC LIMIT ?",
                (profile, kind, int(limit)),
            )
            return [dict(r) for r in rows]

    # ----------------------------------------------------------------- helpers

    _COLUMNS: ClassVar[dict[str, set[str]]] = {}

    def _select(
        self, table: str, where: dict[str, Any], order: str | None = None
    ) -> list[dict[str, Any]]:
        with self.connect() as conn:
            cols = self._COLUMNS.get(table)
            if cols is None:
                cols = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                self._COLUMNS[table] = cols
            bad = set(where) - cols
            if bad:
                raise ValueError(f"{table} has no column(s) {sorted(bad)}")
            clause = " AND ".join(f"{k} IS ?" for k in where)
            sql = f"SELECT * FROM {table}" + (f" WHERE {clause}" if clause else "")
            if order:
                sql += f" ORDER BY {order}"
            return [dict(r) for r in conn.execute(sql, tuple(where.values()))]

    # ------------------------------------------------- file seals (cache integrity)
    # A cached file's verified sha256 with the stat it had then (utils/seal.py): while the
    # stat is unchanged the cache trusts the file without reading it.

    def get_seal(self, path: str) -> Seal | None:
        rows = self._select("file_seals", {"path": path})
        if not rows:
            return None
        r = rows[0]
        return Seal(r["sha256"], r["size_bytes"], r["mtime_ns"], r["ctime_ns"], r["inode"])

    def put_seal(self, path: str, seal: Seal) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO file_seals(path, sha256, size_bytes, mtime_ns,"
                " ctime_ns, inode, sealed_at) VALUES (?,?,?,?,?,?,?)",
                (path, seal.sha256, seal.size, seal.mtime_ns, seal.ctime_ns, seal.inode,
                 time.time()),
            )  # fmt: skip

    def drop_seal(self, path: str) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM file_seals WHERE path = ?", (path,))

    def drop_cache(self, cache_key: str) -> None:
        """Forget a cache entry (one of its files was found damaged)."""
        with self.connect() as conn:
            conn.execute("DELETE FROM step_cache WHERE cache_key = ?", (cache_key,))

    # ------------------------------------------- end of file seals (cache integrity)


_STORES: dict[Path, Store] = {}
_STORES_LOCK = threading.Lock()


def get_store(settings: Any = None) -> Store:
    """The process-wide Store of the current workspace."""
    from sparkle_motion.workspace import get_workspace

    path = get_workspace(settings).db_path
    with _STORES_LOCK:
        store = _STORES.get(path)
        if store is None:
            try:
                store = Store(path)
            except (sqlite3.Error, OSError) as exc:
                raise database_error(path, exc) from exc
            _STORES[path] = store
        return store


def database_error(path: Path, exc: BaseException) -> WorkspaceError:
    """One line naming the database file, what is wrong with it and the way out."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if "locked" in reason or "busy" in reason:  # nothing is wrong with the file
        return WorkspaceError(
            f"the workspace database {path} is held by another sparkle-motion process "
            "(a suspended one holds it until it goes on): let it finish or continue it "
            "(fg, or kill -CONT), then try again"
        )
    return WorkspaceError(
        f"cannot open the workspace database {path} ({reason}): move it aside, "
        "or set SPARKLE_HOME to another folder"
    )
