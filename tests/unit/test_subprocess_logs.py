"""What the assembly's ffmpeg commands printed: published as the assemble record's
``logs_uri`` on success, and kept with the work folder of a failed assembly under --debug."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkle_motion.errors import SubprocessError
from sparkle_motion.function_tools.assemble_ffmpeg import commands
from sparkle_motion.production_agent import run_plan
from sparkle_motion.types import uri_to_path

PLAN = {
    "title": "Logs",
    "steps": [
        {"id": "pic", "type": "image", "prompt": "a lighthouse at dusk"},
        {"id": "say", "type": "tts", "text": "The light turns."},
    ],
    "assemble_opts": {"width": 160, "height": 96, "fps": 8, "preset": "veryfast"},
}


def test_the_assembly_publishes_its_ffmpeg_log(tmp_path: Path) -> None:
    result = run_plan(PLAN, profile="fixture", output=tmp_path / "m.mp4")
    assert result.status == "succeeded", result.summary
    record = next(r for r in result.records if r.step_id == "assemble")
    log = uri_to_path(record.logs_uri).read_text()
    # every command, with its exit: the segment encodes, the soundtrack and the mux
    assert log.count("$ ") >= 3 and "# attempt 1, exit 0" in log
    assert "-f concat" in log and "--- stderr" in log
    assert not (tmp_path / "m.ffmpeg.log").exists()  # published, not left beside the movie
    # an unchanged re-run takes the movie and its log from the cache
    again = run_plan(PLAN, profile="fixture", output=tmp_path / "m.mp4")
    assembled = next(r for r in again.records if r.step_id == "assemble")
    assert assembled.cache_hit and assembled.logs_uri == record.logs_uri


def _broken_mux(monkeypatch: pytest.MonkeyPatch) -> None:
    real = commands.mux_command

    def broken(exe, concat_path, *args, **kw):  # type: ignore[no-untyped-def]
        return real(exe, concat_path + ".missing", *args, **kw)

    monkeypatch.setattr(commands, "mux_command", broken)


def test_debug_keeps_a_failed_assemblys_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken_mux(monkeypatch)
    monkeypatch.setenv("SPARKLE_DEBUG", "1")
    with pytest.raises(SubprocessError) as caught:
        run_plan(PLAN, profile="fixture", output=tmp_path / "m.mp4", sleep=lambda s: None)
    summary = str(caught.value)
    assert "kept the assembly's work folder " in summary
    kept = Path(summary.split("kept the assembly's work folder ")[1].split(")")[0])
    assert kept.is_dir() and (kept / "segments.ffconcat").is_file()
    log = (kept / "ffmpeg.log").read_text()
    assert "segments.ffconcat.missing" in log and "No such file or directory" in log


def test_without_debug_a_failed_assembly_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sparkle_home: Path
) -> None:
    _broken_mux(monkeypatch)
    with pytest.raises(SubprocessError) as caught:
        run_plan(PLAN, profile="fixture", output=tmp_path / "m.mp4", sleep=lambda s: None)
    assert "kept the assembly" not in str(caught.value)
    assert "segments.ffconcat.missing" in str(caught.value)  # it still says what failed
    assert not list(sparkle_home.rglob("assemble-*"))
