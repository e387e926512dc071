"""Step cache keys: what a step's output depends on, and nothing else.

A key hashes the step's canonical effective spec (its type and inputs text, its options
after defaults and inheritance, the seed), the provider's id and version constant, and the
content hashes of its input artifacts. Never the plan's id, title or created_at, the step's
id or title, or its scene label: renaming or regrouping a step keeps its cache.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sparkle_motion.types import ArtifactRef, uri_to_path

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
