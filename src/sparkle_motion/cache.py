"""Step cache keys: what a step's output depends on, and nothing else.

A key hashes the step's canonical effective spec (its type and inputs text, its options
after defaults and inheritance, the seed), the provider's id and version constant, and the
content hashes of its input artifacts. Never the plan's id, title or created_at, the step's
id or title, or its scene label: renaming or regrouping a step keeps its cache.

A hit is served only when every cached file is verified (:func:`lookup`): its bytes hash
to the recorded sha256. A file is hashed once and sealed with its stat (utils/seal.py, the
seals kept in the workspace database), so an unchanged re-run pays one ``stat`` per file;
a file whose stat changed is hashed again. A damaged file (same size, other bytes) drops
its entry, so the step renders again, and the caller is told why (``on_damaged``) to warn
the user. Steps, the movie and its QA report all go through the same table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparkle_motion.types import ArtifactRef, uri_to_path
from sparkle_motion.utils import seal

if TYPE_CHECKING:
    from sparkle_motion.db.store import Store

# fields that name or group a step without changing what it renders
_NOT_CONTENT = {"id", "title"}
_NOT_CONTENT_OPTS = {"scene", "priority", "queue_allowed", "per_batch_timeout_s"}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_spec(step_data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a step's effective spec that decide its output."""
    spec = {k: v for k, v in step_data.items() if k not in _NOT_CONTENT}
    if isinstance(spec.get("opts"), dict):
        spec["opts"] = {k: v for k, v in spec["opts"].items() if k not in _NOT_CONTENT_OPTS}
    return spec


def derived_seed(step_data: dict[str, Any]) -> int:
    """A seed from the step's content, for steps that give none."""
    spec = content_spec(step_data)
    spec.get("opts", {}).pop("seed", None)
    return int(hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:8], 16)


def cache_key(step_data: dict[str, Any], provider: str, inputs: dict[str, list[str]]) -> str:
    """sha256 over the effective spec, ``provider`` (``id@version``) and input hashes.

    Args:
        step_data: the step with effective options (after defaults and inheritance).
        inputs: field -> sha256 of each input artifact, in order.
    """
    payload = {"spec": content_spec(step_data), "provider": provider, "inputs": inputs}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def verify(store: Store, ref: ArtifactRef) -> seal.Problem | None:
    """None when ``ref``'s file holds its recorded bytes, else ``"missing"``/``"damaged"``.

    Checked against the recorded sha256 (one ``stat`` while the file's seal holds).
    """
    try:
        path = uri_to_path(ref.artifact_uri)
    except ValueError:
        return "missing"
    if not ref.sha256:  # nothing to check the bytes against: never served
        return "missing"
    return seal.check(path, store, ref.sha256, size=ref.size_bytes)


def _here(store: Store, ref: ArtifactRef) -> ArtifactRef:
    """``ref`` in this workspace: a workspace copied or moved elsewhere keeps its database,
    whose URIs name the old place; a blob is found by its address under this one's blobs/."""
    try:
        path = uri_to_path(ref.artifact_uri)
    except ValueError:
        return ref
    blobs = store.db_path.parent / "blobs"
    if path.parent.parent.name != "blobs" or path.parent.parent == blobs:
        return ref
    local = blobs / path.parent.name / path.name
    return ref.model_copy(update={"artifact_uri": local.as_uri()})


def _what(ref: ArtifactRef) -> str:
    kind = ref.media_type.split("/")[0]
    return kind if kind in ("image", "audio", "video") else "file"


# ------------------------------------------------------------------ the cache table


def lookup(
    store: Store, key: str, on_damaged: Callable[[str], None] | None = None
) -> list[ArtifactRef] | None:
    """The artifacts cached under ``key``, if every one of them is verified intact.

    An entry with a damaged file is dropped (the caller renders it again) and
    ``on_damaged`` is called with why, e.g. ``"cached audio was damaged"``; an entry whose
    file is gone is a plain miss.
    """
    hit = store.get_cache(key)
    if not hit:
        return None
    refs = [_here(store, ArtifactRef.model_validate(a)) for a in hit["artifacts"]]
    if not refs:
        return None
    for ref in refs:
        problem = verify(store, ref)
        if problem is None:
            continue
        store.drop_cache(key)
        if problem == "damaged" and on_damaged is not None:
            on_damaged(f"cached {_what(ref)} was damaged")
        return None
    return refs


def remember(
    store: Store, key: str, refs: list[ArtifactRef], *, step_type: str, provider: str
) -> None:
    """Record published artifacts under ``key`` (after publishing: never a half file)."""
    artifacts = [r.model_dump(mode="json") for r in refs]
    store.put_cache(key, step_type=step_type, provider=provider, artifacts=artifacts)


def cached(
    store: Store,
    key: str,
    compute: Callable[[], list[ArtifactRef]],
    *,
    step_type: str,
    provider: str,
    on_damaged: Callable[[str], None] | None = None,
) -> tuple[list[ArtifactRef], bool]:
    """``(artifacts, hit)``: from the cache when verified intact, else computed and
    remembered (an empty result is not remembered). ``on_damaged``: see :func:`lookup`."""
    hit = lookup(store, key, on_damaged)
    if hit is not None:
        return hit, True
    refs = compute()
    if refs:
        remember(store, key, refs, step_type=step_type, provider=provider)
    return refs, False
