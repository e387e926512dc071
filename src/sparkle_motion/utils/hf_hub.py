"""What the Hugging Face hub can give a diffusers backend here: is it offline, is a
repository already in the local cache, can the hub be reached at all. One place for the SDXL
and Wan backends (and the provider check) to ask, without importing huggingface_hub where it
is not installed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


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


def missing_weights_line(tool: str, what: str, folder: str, ref: str, root: Path | None) -> str:
    """The one line saying where a backend's weights go: ``what`` names them ("Wan"),
    ``folder`` describes a complete local copy ("diffusers folder (model_index.json, ...)")."""
    where = (
        f"under the models root {root} (SPARKLE_MODELS_DIR)" if root else "under SPARKLE_MODELS_DIR"
    )
    return (
        f"{tool} (full): no {what} weights {ref!r}: run `hf download {ref}` (or unset "
        f"HF_HUB_OFFLINE to fetch it by hub id), or put its {folder} {where} and name it in "
        f"opts.model_id"
    )


def resolve_weights(
    value: str,
    models_root: str | os.PathLike[str] | None,
    marker: str,
    missing_line: Callable[[str, Path | None], str],
) -> str:
    """``opts["model_id"]`` as the weights string model_context keys on: an absolute folder
    under the models root (complete when it holds ``marker``), or a hub id (checked against
    the local cache when offline). ``missing_line(ref, root)`` says what to get, in one line.

    Raises:
        MissingDependencyError: the weights are neither here nor to be had.
    """
    from sparkle_motion.errors import MissingDependencyError
    from sparkle_motion.validation import resolve_model_path

    root = Path(models_root) if models_root else None
    ref: str | Path = value
    if root is not None:
        ref = resolve_model_path(value, root)
    elif os.path.isabs(value):
        ref = Path(value)
    if isinstance(ref, Path):
        if not (ref / marker).is_file():
            raise MissingDependencyError(missing_line(str(ref), root), field="opts.model_id")
        return str(ref)
    if offline() and not cached(ref, marker):
        raise MissingDependencyError(missing_line(ref, root), field="opts.model_id")
    return ref
