"""What the Hugging Face hub can give a diffusers backend here: is it offline, is a
repository already in the local cache, can the hub be reached at all. One place for the SDXL
and Wan backends (and the provider check) to ask, without importing huggingface_hub where it
is not installed."""

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


_REACHABLE: dict[str, bool] = {}


def reachable(timeout_s: float = 3.0) -> bool:
    """True when the hub answers within ``timeout_s`` (asked once per process and endpoint).

    Checked up front by the provider check, so that a machine without network hears once that
    weights are missing instead of every step retrying the hub in turn. Offline mode answers
    False without asking.
    """
    if offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    if endpoint not in _REACHABLE:
        import urllib.error
        import urllib.request

        try:
            request = urllib.request.Request(f"{endpoint}/api/whoami-v2", method="HEAD")
            urllib.request.urlopen(request, timeout=timeout_s).close()
            _REACHABLE[endpoint] = True
        except urllib.error.HTTPError:
            _REACHABLE[endpoint] = True  # it answered (401 without a token)
        except (OSError, ValueError):
            _REACHABLE[endpoint] = False
    return _REACHABLE[endpoint]
