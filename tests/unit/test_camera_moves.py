"""A preview shot only the movie shows: a proxy file, and the move rendered by the assembler.

The movie must show what the full-size clip would have shown, frame for frame; the proxy must
be a playable clip of the shot; a shot another step uses stays a full-size clip.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from tests.media import render_segment

from sparkle_motion.function_tools.assemble_ffmpeg import commands
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import build_timeline
from sparkle_motion.function_tools.videos_wan import preview
from sparkle_motion.production import steps
from sparkle_motion.production.assembly import assembly_inputs, camera_move
from sparkle_motion.types import (
    ArtifactRef,
    AssembleOpts,
    CameraMove,
    MoviePlan,
    NarrationInput,
    VisualInput,
    uri_to_path,
)
from sparkle_motion.utils import moves
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe
from sparkle_motion.workspace import get_workspace

W, H, FPS = 320, 176, 12


def _value(expr: str, on: int) -> float:
    """An ffmpeg progress expression evaluated at filter frame ``on``."""
    return float(eval(expr.replace("\\,", ",").replace("on", str(on)), {"min": min}))


def test_the_move_from_a_later_frame_continues_the_shot() -> None:
    whole = moves.eased(25)
    assert whole == "(0.4*((on-1)/24)+0.6*((on-1)/24)*((on-1)/24)*(3-2*((on-1)/24)))"
    later = moves.eased(25, start=10)
    for on in range(1, 10):
        assert _value(later, on) == pytest.approx(_value(whole, on + 10))
    assert _value(later, 30) == pytest.approx(1.0), "past its last frame the shot holds"
    slowed = moves.eased(25, start=4, rate=0.5)  # each movie frame half a clip frame
    assert _value(slowed, 1) == pytest.approx(_value(whole, 3))
    assert _value(slowed, 3) == pytest.approx(_value(whole, 4))


def picture(path: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (W, H), (30, 60, 90))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = int(rng.integers(0, W - 20)), int(rng.integers(0, H - 20))
        d.ellipse([x, y, x + 18, y + 18], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    img.save(path)
    return path


def _opts(**more: object) -> dict:
    return {"num_frames": 40, "fps": FPS, "width": W, "height": H, "motion": "zoom_in",
            "seed": 3, **more}  # fmt: skip


def test_a_proxy_is_a_half_size_clip_of_the_shot_and_names_its_move(tmp_path: Path) -> None:
    key = picture(tmp_path / "k.png")
    meta = preview.render([key], [], "a fox", _opts(proxy=True), tmp_path / "proxy.mp4")
    info = probe(tmp_path / "proxy.mp4")
    assert (info.width, info.height, info.fps) == (W // 2, H // 2, float(FPS))
    assert (meta["width"], meta["height"], meta["proxy"]) == (W // 2, H // 2, True)
    assert meta["move"] == {
        "keyframe": str(key), "keyframe_media_type": "image/png", "motion": "zoom_in",
        "travel": moves.travel_for(40 / FPS), "frames": 40, "fps": FPS, "width": W, "height": H,
    }  # fmt: skip
    gray = _gray(tmp_path / "proxy.mp4", (W // 2, H // 2))
    assert len(gray) == 40
    # lossy: the eased move's first step is below the quantiser, so compare two frames apart
    assert (np.abs(gray[2:] - gray[:-2]).mean(axis=(1, 2)) > 0.05).all(), "it moves"

    full = preview.render([key], [], "a fox", _opts(), tmp_path / "full.mp4")
    assert "move" not in full and (probe(tmp_path / "full.mp4").width, full["width"]) == (W, W)
    jpeg = tmp_path / "k.jpg"
    Image.open(key).save(jpeg)
    kept = preview.render([jpeg], [], "a fox", _opts(proxy=True), tmp_path / "j.mp4")
    assert "move" not in kept, "only a PNG keyframe is given to the assembler"
    two = preview.render([key], [key], "a fox", _opts(proxy=True), tmp_path / "two.mp4")
    assert "move" not in two, "a cross-fade between two keyframes is a real clip"


def _gray(path: Path, size: tuple[int, int]) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-pix_fmt", "gray", "-f", "rawvideo",
         "-"], capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0]).astype(np.float32)


def _movie_frames(tl, sources: dict[str, str], out: Path) -> np.ndarray:
    """Every segment of ``tl`` rendered one after the other (raw, before any encoder)."""
    frames = [
        render_segment(tl, seg, lambda v: sources[v.step_id], out, "gray")[0]
        for seg in tl.segments()
    ]
    return np.frombuffer(b"".join(frames), np.uint8).reshape(-1, H, W).astype(np.float32)


def test_the_movie_shows_the_move_as_the_full_clip_shows_it(tmp_path: Path) -> None:
    """Rendered from its keyframe, a scene shows the frames that decoding the full-size
    clip shows (its start, its trimmed end and the transition out of it)."""
    inputs = get_workspace().root / "inputs"
    inputs.mkdir(parents=True)
    key = picture(inputs / "k.png")
    full, proxy = inputs / "full.mp4", inputs / "proxy.mp4"
    preview.render([key], [], "x", _opts(), full)
    meta = preview.render([key], [], "x", _opts(proxy=True), proxy)
    second = picture(inputs / "k2.png", seed=2)
    plan = MoviePlan.model_validate({"title": "t", "steps": [
        {"id": "v1", "type": "video", "prompt": "x"}, {"id": "n1", "type": "tts", "text": "a"},
        {"id": "i2", "type": "image", "prompt": "y"}, {"id": "n2", "type": "tts", "text": "b"},
    ]})  # fmt: skip
    opts = AssembleOpts(width=W, height=H, fps=FPS, preset="ultrafast", crf=30)
    lines = [NarrationInput(step_id=n, uri=key.as_uri(), text="a", duration_s=s)
             for n, s in (("n1", 1.8), ("n2", 1.0))]  # fmt: skip
    still = VisualInput(step_id="i2", step_type="image", uri=second.as_uri(),
                        media_type="image/png")  # fmt: skip
    clip = VisualInput(step_id="v1", step_type="video", uri=full.as_uri(),
                       media_type="video/mp4", duration_s=40 / FPS, fps=FPS)  # fmt: skip
    m = meta["move"]
    move = CameraMove(keyframe=key.as_uri(), motion=m["motion"], travel=m["travel"],
                      frames=m["frames"], fps=m["fps"])  # fmt: skip
    moved = clip.model_copy(update={"uri": proxy.as_uri(), "move": move})
    tl_full = build_timeline(plan, [clip, still], lines, opts)
    tl_moved = build_timeline(plan, [moved, still], lines, opts)
    v = tl_moved.scenes[0].visuals[0]
    assert v.move is not None and v.speed == 1.0 and v.play < 40  # trimmed
    sources = {"v1": str(full), "i2": str(second)}
    want = _movie_frames(tl_full, sources, tmp_path / "a.raw")
    got = _movie_frames(tl_moved, {**sources, "v1": str(key)}, tmp_path / "b.raw")
    assert got.shape == want.shape
    per_frame = np.abs(got - want).mean(axis=(1, 2))
    assert per_frame.max() < 1.0, per_frame.round(2)
    assert np.abs(want[1:] - want[:-1]).mean(axis=(1, 2))[:30].min() > 2 * per_frame.max(), (
        "a frame early or late would differ more than the two renderings do"
    )
    graph = commands.segment_graph(tl_moved, tl_moved.segments()[0], lambda v: "K")[1]
    assert "K" not in graph and "perspective" in graph


def test_a_slowed_move_runs_at_the_clips_pace_then_holds_its_last_frame(
    tmp_path: Path,
) -> None:
    plan = MoviePlan.model_validate({"title": "t", "steps": [
        {"id": "v1", "type": "video", "prompt": "x"}, {"id": "n1", "type": "tts", "text": "a"},
    ]})  # fmt: skip
    opts = AssembleOpts(width=W, height=H, fps=FPS)
    key = picture(tmp_path / "k.png")
    move = CameraMove(keyframe=key.as_uri(), motion="pan_left", travel=0.1, frames=24, fps=24)
    clip = VisualInput(step_id="v1", step_type="video", uri="file:///p.mp4",
                       media_type="video/mp4", duration_s=1.0, fps=24, move=move)  # fmt: skip
    line = NarrationInput(step_id="n1", uri="file:///n.wav", text="a", duration_s=1.5)
    tl = build_timeline(plan, [clip], [line], opts)
    v = tl.scenes[0].visuals[0]
    assert v.speed > 1.0 and v.hold > 0
    _inputs, graph = commands.segment_graph(tl, tl.segments()[0], lambda v: "K")
    rate = float(re.search(r"\(on[-+]\d+\)\*([\d.]+)/23", graph).group(1))
    assert rate == pytest.approx(24 / (FPS * v.speed), abs=1e-6)
    frames = _movie_frames(tl, {"v1": str(key)}, tmp_path / "f.raw")
    assert len(frames) == tl.total_frames
    assert (np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2)) > 0.01).all(), "it never stops"


def test_an_edited_line_keeps_the_first_pieces_of_a_move_scene(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A longer narration makes the scene longer; the frames of a camera move clip do not
    depend on the scene's length, so the pieces before its end keep their cache keys."""
    from sparkle_motion.function_tools.assemble_ffmpeg import timeline
    from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import segment_cache_key

    monkeypatch.setattr(timeline, "MAX_SEGMENT_FRAMES", 12)
    monkeypatch.setattr(timeline, "MIN_PIECE_FRAMES", 4)
    plan = MoviePlan.model_validate({"title": "t", "steps": [
        {"id": "v1", "type": "video", "prompt": "x"}, {"id": "n1", "type": "tts", "text": "a"},
        {"id": "i2", "type": "image", "prompt": "y"}, {"id": "n2", "type": "tts", "text": "b"},
    ]})  # fmt: skip
    opts = AssembleOpts(width=W, height=H, fps=FPS)
    move = CameraMove(keyframe="file:///k.png", motion="zoom_in", travel=0.1, frames=80, fps=FPS)
    clip = VisualInput(step_id="v1", step_type="video", uri="file:///p.mp4",
                       media_type="video/mp4", duration_s=80 / FPS, fps=FPS, move=move)  # fmt: skip
    still = VisualInput(step_id="i2", step_type="image", uri="file:///s.png",
                        media_type="image/png")  # fmt: skip

    def keys(seconds: float) -> list[str]:
        lines = [
            NarrationInput(step_id="n1", uri="file:///a.wav", text="a", duration_s=seconds),
            NarrationInput(step_id="n2", uri="file:///b.wav", text="b", duration_s=1.0),
        ]
        tl = build_timeline(plan, [clip, still], lines, opts)
        body = [s for s in tl.segments() if s.kind == "scene" and s.index == 0]
        return [segment_cache_key(tl, s, ["-c:v", "x"], lambda v: v.uri, "7") for s in body]

    before, after = keys(3.0), keys(3.9)
    assert len(after) >= len(before) >= 3
    assert after[: len(before) - 1] == before[:-1], "only the end is encoded again"
    assert after[len(before) - 1] != before[-1]


# ------------------------------------------------------------------------- production


def _plan(*extra: dict) -> MoviePlan:
    return MoviePlan.model_validate({"title": "t", "steps": [
        {"id": "i1", "type": "image", "prompt": "a keeper"},
        {"id": "v1", "type": "video", "prompt": "a keeper", "start_frames": ["step:i1"]},
        {"id": "n1", "type": "tts", "text": "Hello there."}, *extra,
    ]})  # fmt: skip


def test_only_a_shot_no_other_step_uses_becomes_a_proxy() -> None:
    frame = steps.Frame(W, H, FPS)
    plan = _plan()
    video = plan.steps[1]
    data, _ = steps.effective_data(video, frame, {"videos_wan": "preview"}, plan)
    assert data["opts"]["proxy"] is True
    data, _ = steps.effective_data(video, frame, {"videos_wan": "fixture"}, plan)
    assert "proxy" not in data["opts"], "the fixture backend has no moves"
    used = _plan({"id": "l1", "type": "lipsync", "face_video": "step:v1", "audio": "step:n1"})
    data, _ = steps.effective_data(used.steps[1], frame, {"videos_wan": "preview"}, used)
    assert "proxy" not in data["opts"], "a lipsync's face video stays a full clip"


def test_the_assembler_finds_the_moves_keyframe_by_its_content(tmp_path: Path) -> None:
    from sparkle_motion.artifacts import publish_local

    key = publish_local(picture(tmp_path / "k.png"), "image/png")
    move = {"keyframe_uri": "file:///elsewhere/old.png", "keyframe_sha256": key.sha256,
            "keyframe_media_type": "image/png", "motion": "pan_up", "travel": 0.1,
            "frames": 40, "fps": FPS}  # fmt: skip
    found = camera_move(move)
    assert found is not None and uri_to_path(found.keyframe) == key.path
    assert camera_move({**move, "keyframe_sha256": "../../etc/passwd"}) is None
    assert camera_move({k: v for k, v in move.items() if k != "motion"}) is None
    assert camera_move({**move, "frames": 0}) is None
    assert camera_move(None) is None

    plan = _plan()
    clip = ArtifactRef(artifact_uri=key.artifact_uri, media_type="video/mp4", sha256="0" * 64,
                       metadata={"duration_s": 1.0, "fps": FPS, "move": move})  # fmt: skip
    visuals, _audio, warnings = assembly_inputs(plan, {"v1": [clip]})
    assert visuals[0].move == found and not warnings
    key.path.unlink()
    visuals, _audio, warnings = assembly_inputs(plan, {"v1": [clip]})
    assert visuals[0].move is None
    assert warnings == ["v1: the keyframe of its camera move is gone; its proxy shows"]
