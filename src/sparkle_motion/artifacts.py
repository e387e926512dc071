"""The content-addressed blob store: every artifact's bytes, under the workspace's ``blobs/``.

Why content-addressed: an artifact's path is its sha256 (``blobs/ab/<sha256>.png``), so the
same bytes always get the same ``file://`` URI, in any run and any workspace layout alike.
Fixture runs are reproducible to the URI, a re-run that makes the same bytes stores nothing
new, and a cache entry can check an artifact by its size and hash alone.

Why atomic renames: bytes are written to a temp file in ``tmp/`` (the same filesystem),
fsynced, and only then renamed onto their address; the store records an artifact only after
that. A crash at any point leaves at most a stray temp file that nothing trusts, never a
partial blob under a real address.

Why seals: the bytes are hashed while they are written, and the blob is sealed with its
stat right after the rename (utils/seal.py), so the step cache can later trust it with one
``stat`` and notices any change to it. An existing blob at the address is kept only when
its seal proves it intact: a re-render replaces a damaged blob instead of keeping it.

This module needs no ADK: ``adk_helpers.publish_artifact`` adds the ADK artifact service on
top, and re-exports :func:`publish_local`.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from pathlib import Path
from typing import Any

from sparkle_motion.db.store import Store, get_store
from sparkle_motion.errors import ArtifactError
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef
from sparkle_motion.utils import seal
from sparkle_motion.workspace import get_workspace

_SUFFIXES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "video/mp4": ".mp4",
    "application/json": ".json",
    "application/yaml": ".yaml",
    "text/plain": ".txt",
    "text/vtt": ".vtt",
    "application/x-subrip": ".srt",
}
_CHUNK = 1 << 20


def suffix_for(media_type: str) -> str:
    return _SUFFIXES.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"


def _write_blob(source: bytes | Path, suffix: str) -> tuple[str, Path, int]:
    """Copy ``source`` to its content address; returns (sha256, path, size).

    The bytes are hashed as they are written; after the rename the address must hold the
    very file that was written and hashed (same inode and size), and it is sealed as such.
    A blob already at the address is kept only while its seal proves it intact; otherwise
    (damaged, or never verified) it is replaced atomically by the fresh copy.
    """
    ws = get_workspace()
    store = get_store()
    digest = hashlib.sha256()
    # Inside a step the part goes into the step's own work folder (in its run's tmp/): a
    # run killed mid-publish then leaves nothing that its resume does not remove at once.
    work = current_run_context().work_dir
    part_dir = Path(work) if work and Path(work).is_dir() else ws.tmp
    fd, tmp_name = tempfile.mkstemp(dir=part_dir, prefix="publish-", suffix=".part")
    tmp = Path(tmp_name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, bytes):
                digest.update(source)
                out.write(source)
                size = len(source)
            else:
                with open(source, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
            written = os.fstat(out.fileno())
        sha = digest.hexdigest()
        final = ws.blob_path(sha, suffix)
        if final.exists() and _intact(final, sha, size, store):
            tmp.unlink()
            return sha, final, size
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        placed = os.stat(final)
        if placed.st_size != size:
            raise ArtifactError(f"cannot publish {final.name}: {placed.st_size} of {size} bytes")
        if placed.st_ino == written.st_ino:
            seal.seal_file(final, store, sha)  # the bytes just hashed: no second read
        elif seal.check(final, store, sha) is not None:  # another writer's copy: read it
            raise ArtifactError(f"cannot publish {final.name}: its bytes changed on disk")
        return sha, final, size
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _intact(path: Path, sha: str, size: int, store: Store) -> bool:
    """The blob at ``path`` is sealed as holding ``sha`` (one stat; never a read)."""
    sealed = store.get_seal(str(path))
    if sealed is None or sealed.sha256 != sha or sealed.size != size:
        return False
    try:
        return sealed.matches(os.stat(path))
    except OSError:
        return False


def publish_local(
    source: bytes | Path | str,
    media_type: str,
    metadata: dict[str, Any] | None = None,
    *,
    suffix: str | None = None,
    cache_key: str | None = None,
) -> ArtifactRef:
    """Publish bytes or a file into the workspace without ADK; returns its ArtifactRef.

    The URI depends only on the content and media type (``file://<home>/blobs/ab/<sha>.png``),
    so the same bytes always get the same URI: fixture runs are reproducible.
    """
    if isinstance(source, str):
        source = Path(source)
    if isinstance(source, Path) and not source.is_file():
        raise ArtifactError(f"cannot publish {source}: no such file")
    sha, path, size = _write_blob(source, suffix or suffix_for(media_type))
    ctx = current_run_context()
    uri = path.as_uri()
    meta = dict(metadata or {})
    get_store().add_artifact(
        sha256=sha,
        uri=uri,
        media_type=media_type,
        size_bytes=size,
        metadata=meta,
        plan_id=ctx.plan_id,
        run_id=ctx.run_id,
        step_id=ctx.step_id,
        cache_key=cache_key,
    )
    return ArtifactRef(
        artifact_uri=uri,
        media_type=media_type,
        sha256=sha,
        size_bytes=size,
        metadata=meta,
        plan_id=ctx.plan_id,
        run_id=ctx.run_id,
        step_id=ctx.step_id,
    )
