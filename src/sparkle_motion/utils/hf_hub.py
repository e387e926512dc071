"""What the Hugging Face hub can give a diffusers backend here: is it offline, and is a
repository already in the local cache. One place for the SDXL and Wan backends (and the
provider check) to ask, without importing huggingface_hub where it is not installed."""

from __future__ import annotations

import os


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` says so (in the environment or huggingface_hub's view)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


def cached(repo_id: str, filename: str = "model_index.json") -> bool:
    """True when the local hub cache holds ``filename`` of ``repo_id``."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(repo_id, filename), str)
