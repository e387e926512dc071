"""Seals: a file's content hash, trusted for as long as the file's stat says it is untouched.

Why: a cache must never serve a damaged file, and the size alone does not tell (an overwrite
inside a movie keeps its size). Hashing every cached file on every run would cost a full
read of each; a seal makes that a single ``stat``. A file is hashed once and sealed with its
``(size, mtime_ns, ctime_ns, inode)``; while those four are unchanged the seal stands, and
when any of them changed (written, touched, replaced, copied back) the file is hashed again
and either re-sealed (the same bytes) or reported damaged. ``ctime`` cannot be set from user
space, so even a writer that restores the mtime breaks the seal.

Where seals are kept is the caller's choice (a :class:`SealStore`): the workspace database
for published artifacts (``db.store.Store``), a small sidecar file beside each file for
caches that live outside it, such as the assembler's segment files (:class:`SidecarSeals`),
or memory, for hashes one process may need again (:class:`MemorySeals`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as stat_mod
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

Problem = Literal["missing", "damaged", "unsealed"]


@dataclass(frozen=True)
class Seal:
    """A file's sha256 and the stat fields it was seen with when hashed."""

    sha256: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, sha256: str, st: os.stat_result) -> Seal:
        return cls(sha256, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)

    def matches(self, st: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode) == (
            st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
        )  # fmt: skip


class SealStore(Protocol):
    """Where seals are kept, by the file's absolute path."""

    def get_seal(self, path: str) -> Seal | None: ...

    def put_seal(self, path: str, seal: Seal) -> None: ...

    def drop_seal(self, path: str) -> None: ...


def sha256_file(path: Path | str) -> str:
    """The file's sha256 (every hash of a cached file goes through here)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat_mod.S_ISREG(st.st_mode) else None


def seal_file(path: Path | str, seals: SealStore, sha256: str | None = None) -> Seal | None:
    """Hash ``path`` (unless ``sha256`` is given: bytes just written and hashed) and seal it.

    Returns the seal, or None when the file changed while it was being hashed (nothing is
    sealed then: the next check hashes it again).
    """
    p = Path(path)
    before = _stat(p)
    if before is None:
        return None
    digest = sha256 or sha256_file(p)
    after = _stat(p)
    if after is None or not Seal.of(digest, before).matches(after):
        return None
    seal = Seal.of(digest, after)
    seals.put_seal(str(p), seal)
    return seal


def sealed_sha256(path: Path | str, seals: SealStore) -> str:
    """The file's sha256: its seal's while the file's stat still matches it (one ``stat``),
    else hashed now (and sealed, unless the file changed while it was read)."""
    p = Path(path)
    st = _stat(p)
    seal = seals.get_seal(str(p)) if st is not None else None
    if seal is not None and st is not None and seal.matches(st):
        return seal.sha256
    made = seal_file(p, seals)
    return made.sha256 if made is not None else sha256_file(p)


def check(
    path: Path | str, seals: SealStore, sha256: str | None = None, *, size: int | None = None
) -> Problem | None:
    """None when ``path`` holds the expected bytes, else what is wrong with it.

    The expected bytes are ``sha256`` or, when it is None, the ones the file was sealed
    with (a file never sealed is then ``"unsealed"``). A matching seal costs one ``stat``;
    otherwise the file is hashed, and re-sealed when its bytes are right. A damaged file
    loses its seal.
    """
    p = Path(path)
    st = _stat(p)
    if st is None:
        return "missing"
    key = str(p)
    seal = seals.get_seal(key)
    expected = sha256 or (seal.sha256 if seal else None)
    if expected is None:
        return "unsealed"
    if size is not None and st.st_size != size:
        seals.drop_seal(key)
        return "damaged"
    if seal is not None and seal.sha256 == expected and seal.matches(st):
        return None
    if sha256_file(p) != expected:
        seals.drop_seal(key)
        return "damaged"
    after = _stat(p)
    if after is not None and Seal.of(expected, st).matches(after):
        seals.put_seal(key, Seal.of(expected, after))
    return None


def touch(path: Path | str, seals: SealStore) -> Problem | None:
    """Check a sealed file (see :func:`check`) and, when it is intact, mark it recently
    used (its mtime) and seal its new stat without hashing it again."""
    p = Path(path)
    problem = check(p, seals)
    if problem is not None:
        return problem
    seal = seals.get_seal(str(p))
    os.utime(p)
    st = _stat(p)
    if seal is not None and st is not None:
        seals.put_seal(str(p), Seal.of(seal.sha256, st))
    return None


class SidecarSeals:
    """Seals kept beside each file, as ``<name>.seal`` (JSON), written atomically.

    For file caches outside the workspace database (the assembler's segments): the seal
    travels and disappears with its file. A missing or unreadable sidecar is no seal.
    """

    SUFFIX = ".seal"

    def _sidecar(self, path: str) -> Path:
        p = Path(path)
        return p.with_name(p.name + self.SUFFIX)

    def get_seal(self, path: str) -> Seal | None:
        try:
            data = json.loads(self._sidecar(path).read_text(encoding="utf-8"))
            return Seal(**{k: data[k] for k in Seal.__dataclass_fields__})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def put_seal(self, path: str, seal: Seal) -> None:
        side = self._sidecar(path)
        tmp = side.with_name(f".{side.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            tmp.write_text(json.dumps(asdict(seal), sort_keys=True), encoding="utf-8")
            os.replace(tmp, side)
        finally:
            tmp.unlink(missing_ok=True)

    def drop_seal(self, path: str) -> None:
        self._sidecar(path).unlink(missing_ok=True)


class MemorySeals:
    """Seals kept in this process only (thread-safe): a file hashed once is not read again
    while it is untouched, for as long as the holder lives."""

    def __init__(self) -> None:
        self._seals: dict[str, Seal] = {}
        self._lock = threading.Lock()

    def get_seal(self, path: str) -> Seal | None:
        with self._lock:
            return self._seals.get(path)

    def put_seal(self, path: str, seal: Seal) -> None:
        with self._lock:
            self._seals[path] = seal

    def drop_seal(self, path: str) -> None:
        with self._lock:
            self._seals.pop(path, None)
