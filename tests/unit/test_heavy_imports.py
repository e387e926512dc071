"""The full backends' first use of diffusers/transformers from several threads at once.

Their lazy modules are not thread-safe on first use; a run's image, video and QA steps ask at
once in a fresh process. Each backend resolves its names under one process-wide lock."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("diffusers")

CODE = """
import threading
from sparkle_motion.function_tools.images_sdxl import sdxl
from sparkle_motion.function_tools.videos_wan import wan_loading
from sparkle_motion.function_tools.qa_qwen2vl import qwen_loading
errors = []
def ask(fn):
    try:
        fn()
    except Exception as exc:
        errors.append(repr(exc))
jobs = [sdxl._require, wan_loading.require, qwen_loading.require] * 3
threads = [threading.Thread(target=ask, args=(fn,)) for fn in jobs]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""


def test_sdxl_wan_and_qwen_resolve_their_classes_from_many_threads() -> None:
    from sparkle_motion.function_tools.images_sdxl import sdxl
    from sparkle_motion.function_tools.qa_qwen2vl import qwen_loading
    from sparkle_motion.function_tools.videos_wan import wan_loading
    from sparkle_motion.utils.heavy_imports import HEAVY_IMPORT_LOCK

    assert qwen_loading._IMPORT_LOCK is HEAVY_IMPORT_LOCK, "one lock for every backend"
    assert sdxl.HEAVY_IMPORT_LOCK is wan_loading.HEAVY_IMPORT_LOCK is HEAVY_IMPORT_LOCK
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("0 "), done.stdout
