"""torch, reached lazily: the few helpers every gpu module shares.

torch is imported inside functions only (``_torch()``), never at module level, so importing the
gpu package stays cheap for the preview and fixture profiles. Helpers called with
``import_=False`` look only at a torch that something else already imported.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger(__name__)

_MB = 1024 * 1024


def _torch(import_: bool = True) -> Any:
    """torch, or None; with ``import_=False`` only if something already imported it."""
    mod = sys.modules.get("torch")
    if mod is not None or not import_:
        return mod
    try:
        import torch
    except ImportError:
        return None
    return torch


def _cuda_available(import_: bool = True) -> bool:
    torch = _torch(import_)
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_available())
    except Exception:
        return False


def _cuda_sync() -> bool:
    if not _cuda_available(import_=False):
        return False
    try:
        _torch().cuda.synchronize()
        return True
    except Exception:
        log.debug("torch.cuda.synchronize failed", exc_info=True)
        return False


def _empty_cache() -> bool:
    # A no-op without CUDA, but called anyway so that the checklist is the same everywhere.
    torch = _torch(import_=False)
    if torch is None:
        return False
    try:
        torch.cuda.empty_cache()
        return True
    except Exception:
        log.debug("torch.cuda.empty_cache failed", exc_info=True)
        return False


def _reset_peak() -> None:
    if not _cuda_available(import_=False):
        return
    torch = _torch()
    try:
        for i in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(i)
    except Exception:
        log.debug("reset_peak_memory_stats failed", exc_info=True)
