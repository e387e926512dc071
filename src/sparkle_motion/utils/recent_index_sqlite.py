"""Recent-artifact perceptual-hash index in SQLite, for duplicate detection across runs.

A hash is a hex string (as ``str(imagehash.phash(img))`` gives). Two hashes are duplicates
when their Hamming distance is at most ``threshold`` (6 by default, as the spec says).
The window is bounded by :meth:`RecentIndex.prune` (age and count).

The module-level ``get_canonical``/``add_or_get``/``prune`` work on the current workspace;
:class:`SharedRecentIndex` keeps one open index per process and database for callers that
look up every image (opening it, schema check included, costs more than the lookup).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from sparkle_motion.db.sqlite import ensure_schema, get_conn

DEFAULT_THRESHOLD = 6


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _check_hash(phash: str) -> str:
    try:
        int(phash, 16)
    except (TypeError, ValueError):
        raise ValueError(f"not a hex perceptual hash: {phash!r}") from None
    return phash.lower()


class RecentIndex:
    """pHash -> canonical artifact URI, with near-duplicate lookup."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path = Path(db_path)
        self.threshold = threshold
        self._clock = clock
        self._conn: sqlite3.Connection = get_conn(self.db_path)
        ensure_schema(self._conn)

    def _nearest(self, phash: str) -> tuple[str, str] | None:
        best: tuple[int, str, str] | None = None
        for row in self._conn.execute("SELECT phash, uri FROM recent_phash"):
            d = hamming(phash, row["phash"])
            if d <= self.threshold and (best is None or d < best[0]):
                best = (d, row["phash"], row["uri"])
        return (best[1], best[2]) if best else None

    def get_canonical(self, phash: str) -> str | None:
        """URI of the closest stored hash within the threshold, or None."""
        hit = self._nearest(_check_hash(phash))
        return hit[1] if hit else None

    def add_or_get(self, phash: str, uri: str) -> str:
        """The canonical URI for ``phash``: an existing near-duplicate's, else ``uri`` (added)."""
        phash = _check_hash(phash)
        now = self._clock()
        with self._conn:
            hit = self._nearest(phash)
            if hit:
                self._conn.execute(
                    "UPDATE recent_phash SET last_seen_at=? WHERE phash=?", (now, hit[0])
                )
                return hit[1]
            self._conn.execute(
                "INSERT INTO recent_phash(phash, uri, created_at, last_seen_at) VALUES (?,?,?,?)",
                (phash, uri, now, now),
            )
        return uri

    def prune(self, max_age_s: int, max_entries: int) -> None:
        """Drop entries not seen for ``max_age_s`` seconds, then all but the newest N."""
        cutoff = self._clock() - max_age_s
        with self._conn:
            self._conn.execute("DELETE FROM recent_phash WHERE last_seen_at < ?", (cutoff,))
            self._conn.execute(
                "DELETE FROM recent_phash WHERE phash NOT IN (SELECT phash FROM recent_phash"
                " ORDER BY last_seen_at DESC, created_at DESC LIMIT ?)",
                (max(0, max_entries),),
            )

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM recent_phash").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class SharedRecentIndex:
    """A workspace's recent index, one connection per process and database, serialised."""

    _lock = threading.Lock()
    _open: ClassVar[dict[tuple[int, str], SharedRecentIndex]] = {}
    _KEEP_OPEN = 8  # databases at once (tests switch workspaces); the oldest is closed

    def __init__(self, path: str) -> None:
        self.index = RecentIndex(path)
        self.lock = threading.Lock()
        self.pruned_at = -math.inf

    @classmethod
    def get(cls, db_path: Path | str) -> SharedRecentIndex:
        key = (os.getpid(), str(db_path))
        with cls._lock:
            shared = cls._open.get(key)
            if shared is None:
                if len(cls._open) >= cls._KEEP_OPEN:
                    old = cls._open.pop(next(iter(cls._open)))
                    with old.lock:
                        old.index.close()
                shared = cls._open[key] = cls(key[1])
            return shared

    def register(
        self, phash: str, uri: str, max_age_s: int, max_entries: int, prune_every_s: float
    ) -> str:
        """The canonical URI for ``phash`` (``uri`` when new); prunes every so often."""
        with self.lock:
            canonical = self.index.add_or_get(phash, uri)
            if time.monotonic() - self.pruned_at > prune_every_s:
                self.index.prune(max_age_s, max_entries)
                self.pruned_at = time.monotonic()
            return canonical


def _default() -> RecentIndex:
    from sparkle_motion.workspace import get_workspace

    return RecentIndex(get_workspace().db_path)


def get_canonical(phash: str) -> str | None:
    """The workspace index's canonical URI for ``phash`` (see :class:`RecentIndex`)."""
    index = _default()
    try:
        return index.get_canonical(phash)
    finally:
        index.close()


def add_or_get(phash: str, uri: str) -> str:
    index = _default()
    try:
        return index.add_or_get(phash, uri)
    finally:
        index.close()


def prune(max_age_s: int, max_entries: int) -> None:
    index = _default()
    try:
        index.prune(max_age_s, max_entries)
    finally:
        index.close()
