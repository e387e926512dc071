"""Model lifecycle internals; the public import path is ``sparkle_motion.gpu_utils``.

- ``context``: ``model_context``, ``ModelContext`` (and ``ctx.inference()``), ``release``.
- ``loading``: ``LoadRequest``, the loader registry, ``DEFAULT_WEIGHTS``, the guarded load.
- ``pool``: ``ModelPool``, ``get_pool``, ``reset_pool``, the memory budget.
- ``cleanup``: the cleanup checklist and pipeline inspection (modules, size, devices).
- ``oom``: ``is_oom_error`` and the ``ModelOOMError`` built from an OOM.
- ``telemetry``: ``report_memory``, ``peak_vram_mb``, NVML, and the ``model_*`` events.
- ``presets``: ``DEVICE_MAP_PRESETS``, ``preset_for_host``, ``preset_kwargs``,
  ``suggest_shrink_for_oom``.
- ``_torch``: lazy torch access shared by the others.

Each module imports only modules listed after it here, so there are no import cycles, and none
imports torch at import time. This package re-exports nothing: import from ``gpu_utils``.
"""
