"""videos_agent: the chunk plan, reassembly order, the per-chunk OOM ladder, progress.

The backend is a stub that follows the videos_wan contract and paints every frame with the
global frame index it stands for (a gray level), so decoding the reassembled clip tells which
chunk frame landed where.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sparkle_motion import videos_agent
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ModelOOMError, RateLimitError
from sparkle_motion.progress import subscribe
from sparkle_motion.run_context import run_context
from sparkle_motion.utils.ffmpeg import INTERMEDIATE_VIDEO_ARGS, ffmpeg_exe
from sparkle_motion.videos.chunks import Chunk, plan_chunks, reassembled_order, snap_frames

W, H, FPS = 64, 64, 8


def picture(frame: int) -> bytes:
    """Frame ``frame`` as RGB: its index in base 16, one gray level per half."""
    left, right = (10 + 15 * d for d in divmod(frame, 16))
    row = bytes([left]) * (W // 2 * 3) + bytes([right]) * (W // 2 * 3)
    return row * H


def write_frames(out: Path, frames: list[int]) -> None:
    raw = b"".join(picture(k) for k in frames)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-", *INTERMEDIATE_VIDEO_ARGS, str(out)]  # fmt: skip
    subprocess.run(cmd, input=raw, check=True)


def decoded_frames(path: Path) -> list[int]:
    """The frame index each frame of ``path`` shows."""
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    data = subprocess.run(cmd, capture_output=True, check=True).stdout
    frames = np.frombuffer(data, np.uint8).reshape(-1, H, W).astype(float)
    digits = [np.rint((frames[:, :, s].mean(axis=(1, 2)) - 10) / 15) for s in HALVES]
    return [int(a * 16 + b) for a, b in zip(*digits, strict=True)]


HALVES = (slice(4, W // 2 - 4), slice(W // 2 + 4, W - 4))


def stub_backend(fail: Any = None, **attrs: Any) -> SimpleNamespace:
    """A backend that records its calls; ``fail(call_opts)`` may raise."""
    calls: list[dict] = []

    def render(starts, ends, prompt, opts, out_path, *, on_progress=None):
        calls.append({**opts, "starts": list(starts), "ends": list(ends)})
        if fail is not None:
            fail(opts)
        n, first = opts["num_frames"], opts["chunk_start_frame"]
        if on_progress:
            on_progress({"phase": "load", "frame_index": 0, "progress": 0.0})
            on_progress({"phase": "rendering", "frame_index": n // 2, "progress": 0.5})
        write_frames(out_path, [first + j for j in range(n)])
        return {"num_frames": n, "model_id": "stub", "device": opts["device"]}

    return SimpleNamespace(render=render, calls=calls, PROVIDER_ID="stub", VERSION="1", **attrs)


def opts(num_frames: int, **more: Any) -> dict:
    return {"num_frames": num_frames, "width": W, "height": H, "fps": FPS, "seed": 7, **more}


@pytest.mark.parametrize("mode", ["trim", "crossfade"])
def test_chunk_split_and_reassembly(mode: str) -> None:
    chunks = plan_chunks(150, 64, 4, 8)
    assert [(c.start, c.end, c.overlap_left, c.overlap_right) for c in chunks] == [
        (0, 63, 0, 4), (60, 131, 4, 4), (128, 149, 4, 0),
    ]  # fmt: skip
    assert reassembled_order(chunks) == list(range(150))
    assert len(plan_chunks(130, 64, 4, 8)) == 2, "a 2-frame remainder merges into its neighbour"

    backend = stub_backend()
    ref = videos_agent.render_video([], [], "sea", opts(150, reassembly_mode=mode),
                                    backend=backend)  # fmt: skip
    assert [c["num_frames"] for c in backend.calls] == [64, 72, 22]
    seeds = [c["seed"] for c in backend.calls]
    assert seeds[0] == 7 and len(set(seeds)) == 3, "per-chunk seeds from the step's"
    assert decoded_frames(Path(ref.path)) == list(range(150)), "global frame order"
    meta = ref.metadata["chunks"]
    assert [(m["chunk_index"], m["chunk_start_frame"], m["chunk_end_frame"],
             m["overlap_left"], m["overlap_right"]) for m in meta] == [
        (0, 0, 63, 0, 4), (1, 60, 131, 4, 4), (2, 128, 149, 4, 0),
    ]  # fmt: skip
    assert ref.metadata["reassembly_mode"] == mode and ref.metadata["num_frames"] == 150


def test_snapped_chunks_are_trimmed_back_and_conditioned_in_order(tmp_path: Path) -> None:
    assert [snap_frames(n, 4, 1) for n in (64, 72, 22, 1)] == [65, 73, 25, 1]
    start, end = tmp_path / "a.png", tmp_path / "b.png"
    from PIL import Image

    Image.new("RGB", (W, H), "red").save(start)
    Image.new("RGB", (W, H), "blue").save(end)
    backend = stub_backend(FRAME_MULTIPLE=4, FRAME_OFFSET=1)
    ref = videos_agent.render_video([start], [end], "sea", opts(150), backend=backend)
    assert [c["num_frames"] for c in backend.calls] == [65, 73, 25]
    assert backend.calls[0]["starts"] == [start] and backend.calls[0]["ends"] == []
    later = backend.calls[1]["starts"][0]
    assert later != start and later.suffix == ".png", "from the previous chunk's frame"
    assert backend.calls[2]["ends"] == [end], "the last FLF2V chunk ends on the end frame"
    assert ref.metadata["conditioning"] == "flf2v"
    assert len(decoded_frames(Path(ref.path))) == 150


def test_adaptive_oom_retry_shrinks_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    def oom_first(call: dict) -> None:
        if len(backend.calls) == 1:
            raise ModelOOMError("CUDA out of memory", model_key="wan2.1")

    backend = stub_backend(oom_first)
    ref = videos_agent.render_video([], [], "sea", opts(64, chunk_length_frames=64),
                                    backend=backend)  # fmt: skip
    lengths = [c["num_frames"] for c in backend.calls]
    assert lengths[0] == 64 and lengths[1] <= 32, "retried at 64 x 0.5"
    assert {c["device"] for c in backend.calls} == {"cpu"}, "on the same device"
    attempts = ref.metadata["attempts"]
    assert [(a["attempt_index"], a["attempt_chunk_length_frames"], a["outcome"])
            for a in attempts] == [(1, 64, "oom"), (2, 32, "succeeded")]  # fmt: skip
    assert len(decoded_frames(Path(ref.path))) == 64
    assert ref.metadata["cpu_fallback"] is False


def test_cpu_fallback_on_oom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(videos_agent, "gpu_devices", lambda: [("cuda:0", 8000)])

    def gpu_oom(call: dict) -> None:
        if call["device"] != "cpu":
            raise ModelOOMError("CUDA out of memory", model_key="wan2.1", peak_vram_mb=7900)

    backend = stub_backend(gpu_oom)
    with run_context(providers={"videos_wan": "full"}):
        ref = videos_agent.render_video([], [], "sea", opts(40), backend=backend)
    outcomes = [(a["device"], a["outcome"]) for a in ref.metadata["attempts"]]
    assert outcomes == [("cuda:0", "oom"), ("cuda:0", "oom"), ("cpu", "succeeded")]
    assert ref.metadata["cpu_fallback"] is True and ref.metadata["device"] == "cpu"

    backend = stub_backend(gpu_oom)
    with run_context(providers={"videos_wan": "full"}), pytest.raises(ModelOOMError) as err:
        videos_agent.render_video([], [], "sea", opts(40, allow_cpu_fallback=False),
                                  backend=backend)  # fmt: skip
    assert err.value.details["last_device"] == "cuda:0" and err.value.peak_vram_mb == 7900
    assert "\n" not in str(err.value)


def test_transient_errors_retry_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(videos_agent, "sleep", sleeps.append)

    def flaky(call: dict) -> None:
        if len(backend.calls) <= 2:
            raise RateLimitError("busy")

    backend = stub_backend(flaky)
    ref = videos_agent.render_video([], [], "sea", opts(20), backend=backend)
    assert [a["outcome"] for a in ref.metadata["attempts"]] == ["transient"] * 2 + ["succeeded"]
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0


def test_progress_events_forwarded() -> None:
    events: list = []
    heard: list = []
    unsubscribe = subscribe(heard.append)
    backend = stub_backend()
    with run_context(plan_id="p", run_id="r", step_id="v1"):
        videos_agent.render_video([], [], "sea", opts(150), backend=backend,
                                  on_progress=events.append)  # fmt: skip
    unsubscribe()
    videos_agent.render_video([], [], "sea", opts(20), backend=stub_backend())
    assert len(heard) == len(events), "a subscriber hears the same events until it leaves"
    phases = {e.phase for e in events}
    assert {"load", "rendering", "postprocess"} <= phases
    assert {e.chunk_index for e in events} == {0, 1, 2}
    assert all(e.step_id == "v1" and e.device == "cpu" for e in events)
    values = [e.progress for e in events]
    assert values == sorted(values) and values[-1] == 1.0
    assert any(e.message == "chunk 2/3 started" for e in events)
    timeline = get_store().memory_events(event_type="video_chunk")
    states = [(m["payload"]["chunk_index"], m["payload"]["state"]) for m in timeline]
    assert (1, "started") in states and (2, "done") in states


def test_a_rendered_chunk_is_not_rendered_again(tmp_path: Path) -> None:
    def crash_on_third(call: dict) -> None:
        if len(backend.calls) == 3:
            raise ValueError("killed")

    backend = stub_backend(crash_on_third)
    with run_context(run_dir=str(tmp_path), step_id="v1"), pytest.raises(ValueError):
        videos_agent.render_video([], [], "sea", opts(150), backend=backend)
    again = stub_backend()
    with run_context(run_dir=str(tmp_path), step_id="v1"):
        ref = videos_agent.render_video([], [], "sea", opts(150), backend=again)
    assert [c["chunk_start_frame"] for c in again.calls] == [128], "chunks 0 and 1 were kept"
    assert len(decoded_frames(Path(ref.path))) == 150


def test_chunk_type_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Chunk(0, 0, 1, 0, 0).start = 3  # type: ignore[misc]


def test_the_backend_is_told_where_weights_live_and_which_device() -> None:
    """Tools read no configuration: the agent passes the models root (the Wan backend finds
    local weights there) and the device of each chunk."""
    from sparkle_motion.config import get_settings

    backend = stub_backend()
    videos_agent.render_video([], [], "sea", opts(20), backend=backend)
    assert backend.calls
    assert {c["models_root"] for c in backend.calls} == {str(get_settings().models_root)}
    assert {c["device"] for c in backend.calls} == {"cpu"}


def test_a_one_pass_shot_reports_each_chunk_as_its_frames_render(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The preview renders 250 frames in one call; its frame reports walk the chunk plan."""
    monkeypatch.setattr(videos_agent, "_PROGRESS_EVERY_S", 0.0)
    inner = stub_backend()

    def render(starts, ends, prompt, call, out_path, *, on_progress=None):
        for done in range(25, call["num_frames"], 25):  # as ffmpeg's frame=N lines come
            on_progress({"phase": "rendering", "frame_index": done - 1,
                         "progress": done / call["num_frames"]})  # fmt: skip
        return inner.render(starts, ends, prompt, call, out_path)

    backend = SimpleNamespace(render=render, PROVIDER_ID="stub1", VERSION="1", ONE_PASS=True)
    events: list = []
    ref = videos_agent.render_video([], [], "sea", opts(250), backend=backend,
                                    on_progress=events.append)  # fmt: skip
    assert len(inner.calls) == 1 and ref.metadata["num_chunks"] == 4
    rendering = [e for e in events if e.phase == "rendering" and e.frame_index]
    assert [e.chunk_index for e in rendering] == sorted(e.chunk_index for e in rendering)
    assert {e.chunk_index for e in rendering} == {0, 1, 2, 3}
    assert any(e.message == "chunk 3/4" and e.eta_s is not None for e in rendering)


def test_the_preview_backend_turns_ffmpeg_frame_lines_into_progress() -> None:
    from sparkle_motion.function_tools.videos_wan import preview

    got: list[dict] = []
    report = preview._frame_reporter(got.append, 100)
    for line in ["frame=0", "fps=0.0", "frame=25", "out_time=00:00:01", "frame=100", "frame=60"]:
        report(line)
    assert [g["frame_index"] for g in got] == [24, 59]
    assert got[0] == {"phase": "rendering", "frame_index": 24, "progress": 0.25}
