"""qa_qwen2vl's preview provider: heuristics on stills and on small synthesized movies."""

from __future__ import annotations

import io
import re
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.media import integrated_loudness

from sparkle_motion.errors import ConfigError
from sparkle_motion.function_tools.qa_qwen2vl import preview
from sparkle_motion.types import QAReport
from sparkle_motion.utils.ffmpeg import ffmpeg_exe

W, H, FPS, RATE = 320, 180, 12, 48000
DURATION = 5.0
FRAMES = int(DURATION * FPS)


def _texture(seed: int = 1) -> np.ndarray:
    """A smooth random RGB picture, wider than the frame so it can pan."""
    rng = np.random.default_rng(seed)
    small = (rng.random((12, 40, 3)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((W * 2, H), Image.Resampling.BICUBIC))


def _moving(n: int = FRAMES) -> np.ndarray:
    tex = _texture()
    return np.stack([np.roll(tex, -4 * i, axis=1)[:, :W] for i in range(n)])


def _speech_like(seconds: float = DURATION) -> np.ndarray:
    """Voiced bursts (150 Hz and harmonics) of 0.35 s with 0.15 s gaps, mono."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    phase = t % 0.5
    envelope = np.where(phase < 0.35, np.sin(np.pi * np.clip(phase / 0.35, 0, 1)), 0.0)
    return (tone * envelope).astype(np.float32)


def _write_wav(path: Path, mono: np.ndarray) -> None:
    pcm = (np.clip(mono, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.repeat(pcm, 2).tobytes())


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], np.ndarray]:
    """Speech-like audio at a given loudness (LUFS, as the stereo track will measure)."""
    base = _speech_like() * 0.1
    probe_wav = tmp_path_factory.mktemp("lufs") / "probe.wav"
    _write_wav(probe_wav, base)
    measured = integrated_loudness(probe_wav)

    def at(lufs: float) -> np.ndarray:
        return base * 10 ** ((lufs - measured) / 20)

    return at


def _write_movie(path: Path, frames: np.ndarray, audio: np.ndarray | None) -> Path:
    cmd = [
        ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
    ]  # fmt: skip
    if audio is not None:
        wav = path.with_suffix(".wav")
        _write_wav(wav, audio)
        cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


@pytest.fixture(scope="module")
def movies(tmp_path_factory: pytest.TempPathFactory, speech) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("movies")
    good_audio = speech(-16.0)

    black = _moving()
    black[24:42] = 0  # 2.0-3.5 s
    frozen = _moving()
    frozen[24:36] = frozen[24]  # 2.0-3.0 s
    clipped = good_audio.copy()
    t = np.arange(RATE) / RATE
    clipped[RATE : 2 * RATE] = np.clip(4 * np.sin(2 * np.pi * 220 * t), -1, 1)  # 1.0-2.0 s
    short_audio = good_audio[: 4 * RATE]
    return {
        "good": _write_movie(root / "good.mp4", _moving(), good_audio),
        "black": _write_movie(root / "black.mp4", black, good_audio),
        "frozen": _write_movie(root / "frozen.mp4", frozen, good_audio),
        "silent": _write_movie(root / "silent.mp4", _moving(), np.zeros_like(good_audio)),
        "quiet": _write_movie(root / "quiet.mp4", _moving(), speech(-30.0)),
        "clipped": _write_movie(root / "clipped.mp4", _moving(), clipped),
        "short_audio": _write_movie(root / "short_audio.mp4", _moving(), short_audio),
        "no_audio": _write_movie(root / "no_audio.mp4", _moving(), None),
    }


def _findings(report: QAReport, check: str) -> list[dict]:
    return [f for f in report.report["findings"] if f["check"] == check]


# ------------------------------------------------------------------------------ movies


def test_good_movie_passes(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["good"], [(0.0, 2.5), (2.5, 5.0)])
    assert report.ok, report.global_flags
    assert report.reason is None
    assert report.global_flags == []
    assert [r.flags for r in report.per_frame] == [[], []]
    assert abs(report.confidence_summary["loudness_lufs"] - (-16.0)) <= 1.0
    assert report.confidence_summary["video_duration_s"] == pytest.approx(5.0, abs=0.01)
    assert report.confidence_summary["audio_duration_s"] == pytest.approx(5.0, abs=0.01)
    assert report.opts_snapshot["max_frozen_s"] == 0.5
    assert report.decision == "approve"
    assert preview.warnings(report) == []


def test_black_run_is_flagged_with_its_start(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["black"])
    assert not report.ok
    (black,) = _findings(report, "black")
    assert black["start_s"] == pytest.approx(2.0, abs=0.25)
    assert black["end_s"] == pytest.approx(3.5, abs=0.25)
    assert black["flag"].startswith("black 2.")
    assert _findings(report, "frozen") == []  # a black stretch is not reported twice
    assert report.confidence_summary["black_s"] == pytest.approx(1.5, abs=0.25)


def test_frozen_stretch_is_flagged_at_its_time(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["frozen"])
    (frozen,) = _findings(report, "frozen")
    assert frozen["start_s"] == pytest.approx(2.0, abs=0.25)
    assert frozen["end_s"] == pytest.approx(3.0, abs=0.25)
    assert re.fullmatch(r"frozen \d\.\d\d-\d\.\d\d s", frozen["flag"])
    assert report.global_flags == [frozen["flag"]]
    assert report.reason and "frozen" in report.reason


def test_segments_carry_only_their_findings(movies: dict[str, Path]) -> None:
    segments = [(0.0, 1.5), (1.5, 3.5), (3.5, 5.0)]
    report = preview.inspect_movie(movies["frozen"], segments)
    assert [r.frame_index for r in report.per_frame] == [0, 1, 2]
    assert [r.timestamp_s for r in report.per_frame] == [0.0, 1.5, 3.5]
    assert report.per_frame[0].flags == []
    assert [f.split()[0] for f in report.per_frame[1].flags] == ["frozen"]
    assert report.per_frame[2].flags == []
    assert any(
        a.startswith("frozen_s=") and a != "frozen_s=0.00" for a in report.per_frame[1].annotations
    )


def test_silent_track_is_flagged(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["silent"])
    (silence,) = _findings(report, "silence")
    assert silence["start_s"] == 0.0
    assert silence["end_s"] == pytest.approx(5.0, abs=0.1)
    assert _findings(report, "loudness") == []  # silence says it already
    assert "silence for 5.0 s at 0:00.0" in preview.warnings(report)


def test_low_loudness_is_flagged_with_the_measured_value(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["quiet"])
    (loud,) = _findings(report, "loudness")
    assert loud["value"] == pytest.approx(-30.0, abs=1.0)
    assert report.confidence_summary["loudness_lufs"] == loud["value"]
    assert _findings(report, "silence") == []
    (line,) = preview.warnings(report)
    assert re.fullmatch(r"loudness -(29|30|31)\.\d LUFS \(target -16\)", line)


def test_clipping_is_flagged_where_it_happens(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["clipped"], [(0.0, 3.0), (3.0, 5.0)])
    clips = _findings(report, "clipping")
    assert clips
    assert clips[0]["start_s"] == pytest.approx(1.0, abs=0.25)
    assert clips[-1]["end_s"] == pytest.approx(2.0, abs=0.25)
    assert any(f.startswith("clipping") for f in report.per_frame[0].flags)
    assert report.per_frame[1].flags == []
    assert any(line.startswith("audio clipping for") for line in preview.warnings(report))


def test_intermittent_clipping_is_one_finding() -> None:
    rate = preview.DEFAULTS["audio_rate"]
    t = np.arange(6 * rate) / rate
    samples = 0.3 * np.sin(2 * np.pi * 200 * t)
    bursts = (t >= 2.0) & (t < 4.0) & (t % 0.4 < 0.1)  # a clipped syllable every 0.4 s
    samples[bursts] = np.clip(5 * samples[bursts], -1, 1)
    findings, measured = preview._audio_findings(
        samples.astype(np.float32), {"lufs": -16.0}, preview._settings({})
    )
    (clip,) = findings
    assert clip["check"] == "clipping"
    assert clip["start_s"] == pytest.approx(2.0, abs=0.1)
    assert clip["end_s"] == pytest.approx(3.7, abs=0.1)  # the last burst is 3.6-3.7 s
    assert measured["loudness_lufs"] == -16.0


def test_duration_mismatch_between_streams(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["short_audio"])
    (dur,) = _findings(report, "duration")
    assert dur["start_s"] == pytest.approx(4.0, abs=0.05)
    assert report.confidence_summary["audio_duration_s"] == pytest.approx(4.0, abs=0.05)
    # the last second has no sound at all: that is not also a silence run under 4 s
    assert _findings(report, "silence") == []
    (line,) = preview.warnings(report)
    assert "video lasts 5.00 s but audio 4.00 s" in line


def test_expected_duration(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["good"], opts={"expected_duration_s": 6.0})
    assert sorted(f["stream"] for f in _findings(report, "duration")) == ["audio", "video"]
    assert preview.inspect_movie(movies["good"], opts={"expected_duration_s": 5.0}).ok


def test_missing_audio_stream(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["no_audio"])
    assert report.global_flags == ["no audio stream"]
    assert preview.warnings(report) == ["no audio stream"]
    assert preview.inspect_movie(movies["no_audio"], opts={"require_audio": False}).ok


def test_warnings_name_the_time_and_survive_json(movies: dict[str, Path]) -> None:
    report = preview.inspect_movie(movies["frozen"])
    (line,) = preview.warnings(report)
    assert re.fullmatch(r"frozen picture for (0\.[89]|1\.[0-2]) s at 0:0[12]\.\d", line)
    cached = QAReport.model_validate_json(report.model_dump_json())
    assert preview.warnings(cached) == [line]


def test_options_are_checked(movies: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="max_frozen_s"):
        preview.inspect_movie(movies["good"], opts={"max_frozen_s": "long"})
    report = preview.inspect_movie(
        movies["no_audio"], opts={"require_audio": "false", "provider": "preview"}
    )
    assert report.ok
    assert report.opts_snapshot["require_audio"] is False
    assert report.opts_snapshot["provider_id"] == preview.PROVIDER_ID
    assert "provider" not in report.opts_snapshot


def test_clock() -> None:
    assert preview.clock(12.44) == "0:12.4"
    assert preview.clock(60.0) == "1:00.0"
    assert preview.clock(3725.25) == "1:02:05.2"


def test_warnings_of_a_report_without_findings() -> None:
    report = QAReport(ok=False, reason="scripted scores", global_flags=[])
    assert preview.warnings(report) == ["scripted scores"]


# ------------------------------------------------------------------------------ stills


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_stills(tmp_path: Path) -> None:
    normal = tmp_path / "normal.png"
    Image.fromarray(_texture(3)[:, :W]).save(normal)
    blown = np.full((H, W, 3), 255, np.uint8)
    blown[:, : W // 4] = _texture(4)[:, : W // 4]
    frames: list[Path | str | bytes] = [
        _png(np.zeros((H, W, 3), np.uint8)),
        _png(np.full((H, W, 3), 128, np.uint8)),
        normal,
        normal.as_uri(),
        _png(blown),
        b"not a picture",
    ]
    report = preview.inspect(frames, ["Is anything wrong?"], {})
    assert [r.flags for r in report.per_frame] == [
        ["black"],
        ["flat"],
        [],
        [],
        ["clipped"],
        ["unreadable"],
    ]
    assert not report.ok
    assert report.reason and report.reason.startswith("4 checks failed")
    assert report.global_flags[0] == "frame 0: black"
    assert preview.warnings(report)[:2] == [
        "frame 0: black picture",
        "frame 1: blank picture (no detail)",
    ]
    assert report.per_frame[2].annotations[0].startswith("mean_luma=")


def test_normal_stills_pass(tmp_path: Path) -> None:
    report = preview.inspect([_png(_texture(5)[:, :W])], [], {})
    assert report.ok
    assert report.global_flags == []
    assert preview.warnings(report) == []


def test_a_full_scale_stereo_peak_is_not_clipping(tmp_path: Path) -> None:
    """Both channels at 0.85: the mono analysis must average them, not sum them."""
    movie = tmp_path / "stereo.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=12:d=3",
         "-f", "lavfi", "-i", "sine=f=440:r=48000:d=3", "-filter_complex",
         "[1:a]volume=0.85,pan=stereo|c0=c0|c1=c0[a]", "-map", "0:v", "-map", "[a]",
         "-c:v", "libx264", "-c:a", "pcm_s16le", "-shortest", str(movie.with_suffix(".mov"))],
        check=True,
    )  # fmt: skip
    report = preview.inspect_movie(movie.with_suffix(".mov"), None, {"require_audio": True})
    assert not any("clip" in flag for flag in report.global_flags), report.global_flags
