"""One lock for the first use of the heavy libraries' lazy modules.

diffusers and transformers resolve their classes lazily, and that first resolution is not
thread-safe: two steps of one run asking at once (an SDXL image and a Qwen2-VL check, or two
image steps) can make one of them see no such class and report the package as missing. Every
full backend resolves the names it needs under this one process-wide lock, once; after that
the names are plain attributes and the lock costs nothing that matters.
"""

from __future__ import annotations

import threading

HEAVY_IMPORT_LOCK = threading.RLock()
