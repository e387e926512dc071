"""Memory metrics and the model telemetry events.

Metrics come from torch (when already imported), NVML (optional ``pynvml``) and the host's
``/proc``; every reader is best effort. ``_emit`` writes one ``model_<phase>`` memory event
with the current run's ids and a memory snapshot; telemetry never breaks a render.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sparkle_motion.gpu._torch import _MB, _cuda_available, _torch

log = logging.getLogger(__name__)


def peak_vram_mb() -> float | None:
    """Peak memory torch allocated on any CUDA device (MB), or None without CUDA."""
    if not _cuda_available(import_=False):
        return None
    torch = _torch()
    try:
        peaks = [torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return None
    return round(max(peaks) / _MB, 1) if peaks else None


# ---------------------------------------------------------------------- memory metrics

_NVML: Any = None  # None: not tried yet; False: unavailable; else the pynvml module
_NVML_LOCK = threading.Lock()


def _nvml() -> Any:
    global _NVML
    with _NVML_LOCK:
        if _NVML is None:
            try:
                import pynvml  # optional: nvidia-ml-py

                pynvml.nvmlInit()
                _NVML = pynvml
            except Exception:
                _NVML = False
        return _NVML or None


def _nvml_metrics() -> dict[str, dict[str, int]] | None:
    """Per-GPU memory and utilisation from NVML, or None when NVML is not here."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        out: dict[str, dict[str, int]] = {}
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            out[f"cuda:{i}"] = {
                "used_mb": int(mem.used // _MB),
                "total_mb": int(mem.total // _MB),
                "gpu_utilization_pct": int(util.gpu),
            }
        return out or None
    except Exception:
        return None


def _cuda_memory() -> dict[str, dict[str, int]]:
    if not _cuda_available(import_=False):
        return {}
    torch = _torch()
    out: dict[str, dict[str, int]] = {}
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out[f"cuda:{i}"] = {
            "used_mb": int((total - free) // _MB),
            "total_mb": int(total // _MB),
            "allocated_mb": int(torch.cuda.memory_allocated(i) // _MB),
        }
    return out


def _host_memory() -> dict[str, int]:
    used_kb = total_kb = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                used_kb = int(line.split()[1])
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_kb = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        try:
            import resource

            # Peak rather than current, but the best a host without /proc offers.
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            used_kb = rss // 1024 if sys.platform == "darwin" else rss
        except Exception:
            pass
    return {"used_mb": int(used_kb // 1024), "total_mb": int(total_kb // 1024)}


def report_memory() -> dict[str, dict[str, int]]:
    """Best-effort memory snapshot ``{device: {"used_mb", "total_mb"}}``; never raises.

    CUDA through torch (when torch is already imported), else NVML, then the host process
    from ``/proc`` as ``"cpu"``.
    """
    snapshot: dict[str, dict[str, int]] = {}
    try:
        snapshot.update(_cuda_memory())
    except Exception:
        log.debug("CUDA memory query failed", exc_info=True)
    if not snapshot:
        try:
            for device, stats in (_nvml_metrics() or {}).items():
                snapshot[device] = {"used_mb": stats["used_mb"], "total_mb": stats["total_mb"]}
        except Exception:
            log.debug("NVML memory query failed", exc_info=True)
    try:
        snapshot["cpu"] = _host_memory()
    except Exception:
        snapshot["cpu"] = {"used_mb": 0, "total_mb": 0}
    return snapshot


# ------------------------------------------------------------------------- telemetry


def _emit(phase: str, payload: dict[str, Any]) -> None:
    """Write a ``model_<phase>`` memory event; telemetry never breaks a render."""
    try:
        from sparkle_motion.adk_helpers import write_memory_event
        from sparkle_motion.run_context import current_run_context

        rc = current_run_context()
        body: dict[str, Any] = {
            "phase": phase,
            "timestamp": time.time(),
            "plan_id": rc.plan_id,
            "run_id": rc.run_id,
            "step_id": rc.step_id,
        }
        body.update(payload)
        if "device_stats" not in body:
            body["device_stats"] = report_memory()
        cuda_metrics = _nvml_metrics()
        if cuda_metrics:
            body["cuda_metrics"] = cuda_metrics
        write_memory_event(f"model_{phase}", body)
    except Exception:
        log.debug("model telemetry %s failed", phase, exc_info=True)
