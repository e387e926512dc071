"""Step cache keys: what a step's output depends on, and nothing else.

A key hashes the step's canonical effective spec (its type and inputs text, its options
after defaults and inheritance, the seed), the provider's id and version constant, and the
content hashes of its input artifacts. Never the plan's id, title or created_at, the step's
id or title, or its scene label: renaming or regrouping a step keeps its cache.

A hit is trusted only when every cached file is still there with its recorded size
(:func:`lookup`); steps, the movie and its QA report all go through the same table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparkle_motion.types import ArtifactRef, uri_to_path

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


def artifacts_intact(artifacts: list[ArtifactRef]) -> bool:
    """Every artifact file is present with its recorded size (a cache hit may trust it)."""
    for ref in artifacts:
        try:
            path = uri_to_path(ref.artifact_uri)
        except ValueError:
            return False
        if not path.is_file() or (
            ref.size_bytes is not None and path.stat().st_size != ref.size_bytes
        ):
            return False
    return True


# ------------------------------------------------------------------ the cache table


def lookup(store: Store, key: str) -> list[ArtifactRef] | None:
    """The artifacts cached under ``key``, if every one of them is still intact."""
    hit = store.get_cache(key)
    if not hit:
        return None
    refs = [ArtifactRef.model_validate(a) for a in hit["artifacts"]]
    return refs if refs and artifacts_intact(refs) else None


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
) -> tuple[list[ArtifactRef], bool]:
    """``(artifacts, hit)``: from the cache when intact, else computed and remembered
    (an empty result is not remembered)."""
    hit = lookup(store, key)
    if hit is not None:
        return hit, True
    refs = compute()
    if refs:
        remember(store, key, refs, step_type=step_type, provider=provider)
    return refs, False
