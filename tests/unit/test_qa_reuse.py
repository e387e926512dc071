"""The movie's QA measured per segment file, and reused for the segments it has seen.

Movies are made by the assembler on tiny inputs (see test_assemble_ffmpeg.py), so their
segment files and metadata are the real thing; the number of picture decodes is counted by
a spy on the pieces module's run_command.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.unit.test_assemble_ffmpeg import OPTS, make_clip, make_line, make_still, plan_of

from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import assemble_clips
from sparkle_motion.function_tools.qa_qwen2vl import pieces, preview
from sparkle_motion.production.assembly import Assembly
from sparkle_motion.types import ArtifactRef, VisualInput
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe
from sparkle_motion.utils.run_command import run_command
from sparkle_motion.workspace import get_workspace


def _black_still(name: str) -> VisualInput:
    path = get_workspace().root / "inputs" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (640, 360)).save(path)
    return VisualInput(step_id=name, step_type="image", uri=path.as_uri(), media_type="image/png")


def _movie(name: str, clips: list[VisualInput], lines: list, **opts: Any) -> ArtifactRef:
    ids = [(c.step_id, c.step_type) for c in clips]
    steps = [x for pair in zip(ids, [(n.step_id, "tts") for n in lines], strict=True) for x in pair]
    out = get_workspace().root / "out" / f"{name}.mp4"
    options = OPTS.model_copy(update=opts)
    return assemble_clips(plan_of(*steps), clips, {"narration": lines}, out, options)


def _opts(movie: ArtifactRef, cache: Path | None = None) -> dict[str, Any]:
    """What production gives QA: the segment files, the fps, the measurements' folder."""
    folder = Path(movie.metadata["segment_cache"]["dir"])
    parts = [
        {"path": str(folder / f"{s['key']}.mp4"), **{k: s[k] for k in ("start_frame", "frames")}}
        | {"key": s["key"]}
        for s in movie.metadata["segments"]
    ]
    opts: dict[str, Any] = {"pieces": parts, "fps": movie.metadata["fps"]}
    if cache is not None:
        opts["measure_cache"] = str(cache)
    return opts


def _scenes(movie: ArtifactRef) -> list[tuple[float, float]]:
    return [(s["start_s"], s["start_s"] + s["duration_s"]) for s in movie.metadata["scenes"]]


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The segment files QA decoded (their paths), in order."""
    seen: list[str] = []

    def spy(cmd: list[str], **kwargs: Any):
        seen.append(cmd[cmd.index("-i") + 1])
        return run_command(cmd, **kwargs)

    monkeypatch.setattr(pieces, "run_command", spy)
    return seen


def _whole(movie: Path, fps: float) -> np.ndarray:
    """The analysis frames of a decode of the whole movie, as QA has always made them."""
    info = probe(movie)
    work = movie.parent / "whole"
    work.mkdir(exist_ok=True)
    return preview._decode(movie, info, fps, dict(preview.DEFAULTS), work)["video"]


# --------------------------------------------------------------------------------- tests


def test_pieces_give_the_whole_movies_frames_and_report(tmp_path: Path, decodes) -> None:
    # 12 fps movie, 8 fps analysis: frames round to slots unevenly, and every segment
    # (stills with camera moves, a clip, fades) starts at another phase of the grid
    clips = [make_still("i1", (200, 60, 40)), make_clip("v2", 1.3), make_still("i3", (40, 60, 200))]
    lines = [
        make_line("n1", ["One."]),
        make_line("n2", ["Two.", "Three."]),
        make_line("n3", ["x."]),
    ]
    movie = _movie("parity", clips, lines)
    segments = movie.metadata["segments"]
    assert len({s["start_frame"] % 3 for s in segments}) > 1  # the grid's phases differ

    cache = tmp_path / "measured"
    parts = pieces.pieces_from(_opts(movie)["pieces"])
    assert parts is not None
    frames, total, decoded = pieces.measure(
        parts, movie.metadata["fps"], 8.0, (160, 90), tmp_path, cache, 60.0
    )
    whole = _whole(movie.path, 8.0)
    assert total == movie.metadata["frames"] and decoded == len(segments)
    assert frames.shape == whole.shape and np.array_equal(frames, whole)

    plain = preview.inspect_movie(movie.path, _scenes(movie), {})
    by_pieces = preview.inspect_movie(movie.path, _scenes(movie), _opts(movie, cache))
    assert by_pieces.model_dump() == plain.model_dump()
    assert plain.confidence_summary["video_duration_s"] == pytest.approx(
        movie.metadata["duration_s"], abs=1e-3
    )
    # the second check decoded nothing: each segment was decoded once, by the measure()
    # above (two at a time, so in either order)
    assert sorted(decodes) == sorted(str(p.path) for p in parts)


@pytest.mark.parametrize(("movie_fps", "analysis_fps"), [(25, 8.0), (24, 8.0), (30, 7.5)])
def test_picks_are_the_fps_filters(tmp_path: Path, movie_fps: int, analysis_fps: float) -> None:
    movie = tmp_path / f"m{movie_fps}.mp4"
    run_command(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         f"testsrc2=s=160x90:r={movie_fps}:d=2.37", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", str(movie)]
    )  # fmt: skip
    total = math.ceil(2.37 * movie_fps)  # testsrc2 ends on a whole frame
    one = [pieces.Piece(movie, 0, total, "whole-movie")]
    frames, count, _ = pieces.measure(one, movie_fps, analysis_fps, (160, 90), tmp_path, None, 60)
    whole = _whole(movie, analysis_fps)
    assert count == total and np.array_equal(frames, whole)
    # split anywhere, the picks of the parts joined are the whole movie's
    cut = 7
    joined = np.concatenate(
        [
            pieces.picks(0, cut, movie_fps, analysis_fps),
            cut + pieces.picks(cut, total - cut, movie_fps, analysis_fps),
        ]
    )
    assert np.array_equal(joined, pieces.picks(0, total, movie_fps, analysis_fps))


def test_an_edit_decodes_only_the_changed_segment(tmp_path: Path, decodes) -> None:
    cache = tmp_path / "measured"
    clips = [make_still("i1", (200, 0, 0)), make_clip("v2", 1.0), make_still("i3", (0, 0, 200))]
    lines = [make_line("n1", ["A."]), make_line("n2", ["B."]), make_line("n3", ["C."])]
    first = _movie("first", clips, lines, transition="none")
    report = preview.inspect_movie(first.path, _scenes(first), _opts(first, cache))
    assert report.ok, report.global_flags
    assert len(decodes) == 3
    decodes.clear()

    # the first scene turns black and gets a longer line: it is the only new segment, and
    # the two after it move to later frames (and other phases of the analysis grid)
    clips[0] = _black_still("i1")
    lines[0] = make_line("n1", ["A.", "A again, longer."])
    second = _movie("second", clips, lines, transition="none")
    changed = [s for s in second.metadata["segments"] if not s["cached"]]
    assert [s["index"] for s in changed] == [0]
    assert (
        second.metadata["segments"][1]["start_frame"]
        != first.metadata["segments"][1]["start_frame"]
    )
    report = preview.inspect_movie(second.path, _scenes(second), _opts(second, cache))
    assert decodes == [
        str(Path(second.metadata["segment_cache"]["dir"]) / f"{changed[0]['key']}.mp4")
    ]

    # right: the black scene is found where it is in the movie, and nothing else
    blacks = [f for f in report.report["findings"] if f["check"] == "black"]
    scene = second.metadata["scenes"][0]
    assert len(blacks) == 1 and blacks[0]["start_s"] == 0.0
    assert blacks[0]["end_s"] == pytest.approx(scene["duration_s"], abs=1 / 8)
    assert [f["check"] for f in report.report["findings"]] == ["black"]
    assert report.per_frame[0].flags and not report.per_frame[1].flags
    assert report.model_dump() == preview.inspect_movie(second.path, _scenes(second)).model_dump()


def test_a_damaged_measurement_is_decoded_again(tmp_path: Path, decodes) -> None:
    cache = tmp_path / "measured"
    clips = [make_still("i1", (200, 0, 0)), make_still("i2", (0, 200, 0))]
    movie = _movie("m", clips, [make_line("n1", ["A."]), make_line("n2", ["B."])])
    first = preview.inspect_movie(movie.path, _scenes(movie), _opts(movie, cache))
    kept = sorted(cache.glob("*.npz"))
    assert len(kept) == len(movie.metadata["segments"]) == len(decodes) == 3
    decodes.clear()

    # one flipped byte in the middle of its frames (the zip CRC), one cut short
    flipped, cut = kept[0], kept[1]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[:1000])
    again = preview.inspect_movie(movie.path, _scenes(movie), _opts(movie, cache))
    assert sorted(Path(d).stem for d in decodes) == sorted(p.name.split(".")[0] for p in kept[:2])
    assert again.model_dump() == first.model_dump()
    # and they were written again, whole
    decodes.clear()
    preview.inspect_movie(movie.path, _scenes(movie), _opts(movie, cache))
    assert decodes == []


def test_pieces_that_do_not_cover_the_movie_are_ignored(tmp_path: Path, decodes) -> None:
    clips = [make_still("i1", (200, 0, 0)), make_still("i2", (0, 200, 0))]
    movie = _movie("m", clips, [make_line("n1", ["A."]), make_line("n2", ["B."])])
    plain = preview.inspect_movie(movie.path, _scenes(movie))
    for broken in (
        lambda p: p[1:],  # not from frame 0
        lambda p: [p[0], p[2], p[1]],  # out of order
        lambda p: [*p[:-1], {**p[-1], "path": str(tmp_path / "gone.mp4")}],  # missing file
        lambda p: [*p[:-1], {**p[-1], "key": "../../etc"}],  # not a plain name
    ):
        opts = _opts(movie, tmp_path / "measured")
        opts["pieces"] = broken(opts["pieces"])
        assert preview.inspect_movie(movie.path, _scenes(movie), opts).model_dump() == (
            plain.model_dump()
        )
    assert decodes == []  # the whole movie was decoded each time, no segment file


def test_production_passes_the_segment_files_or_nothing(tmp_path: Path) -> None:
    clips = [make_still("i1", (200, 0, 0)), make_still("i2", (0, 200, 0))]
    movie = _movie("m", clips, [make_line("n1", ["A."]), make_line("n2", ["B."])])
    opts = Assembly._qa_pieces(movie)
    assert opts["pieces"] == _opts(movie)["pieces"] and opts["fps"] == movie.metadata["fps"]
    assert Path(opts["measure_cache"]).is_relative_to(get_workspace().root / "cache")
    # a segment file gone since (or no longer the sealed one): QA decodes the whole movie
    Path(opts["pieces"][1]["path"]).write_bytes(b"not the segment")
    assert Assembly._qa_pieces(movie) == {}
    Path(opts["pieces"][1]["path"]).unlink()
    assert Assembly._qa_pieces(movie) == {}


def test_segments_measured_ahead_are_only_read_by_the_movies_qa(tmp_path: Path, decodes) -> None:
    """Production measures each segment it encoded ahead as soon as it exists; the movie's
    QA then decodes none of them, and its report is the one a whole decode gives."""
    from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa

    clips = [make_still("i1", (200, 60, 40)), make_still("i2", (40, 60, 200))]
    movie = _movie("ahead", clips, [make_line("n1", ["One."]), make_line("n2", ["Two."])])
    cache = tmp_path / "measured"
    parts = _opts(movie)["pieces"]
    for part in parts:
        assert qa.measure_segment("preview", part["path"], part["key"], cache) is True
    assert qa.measure_segment("preview", parts[0]["path"], parts[0]["key"], cache) is False
    assert qa.measure_segment("fixture", parts[0]["path"], parts[0]["key"], cache) is False
    assert len(decodes) == len(parts)  # one decode each, none for the second asks
    decodes.clear()
    report = preview.inspect_movie(movie.path, _scenes(movie), _opts(movie, cache))
    assert decodes == []
    assert report.model_dump() == preview.inspect_movie(movie.path, _scenes(movie)).model_dump()
    with pytest.raises(ValueError):
        pieces.keep(Path(parts[0]["path"]), "../x", (160, 90), tmp_path, cache, 60.0)
