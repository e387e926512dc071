"""The README's Python snippets run as written (a user copies them into a file and runs it).

Each ```python block runs in a fresh interpreter, in an empty folder, with its own
SPARKLE_HOME; it must exit 0 and print no traceback. The shell commands are covered by the
preview tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.S | re.M)


def test_the_readme_has_python_snippets() -> None:
    assert BLOCKS, "the README shows the Python API"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_a_readme_snippet_runs_as_written(index: int, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(BLOCKS[index])
    env = {**os.environ, "SPARKLE_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
