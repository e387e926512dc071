"""production_agent: dry run, DAG order, concurrency, retries, OOM shrink, cache, failures."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sparkle_motion import images_agent, production_agent, tts_agent, videos_agent
from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ModelOOMError, PlanPolicyViolation, TTSRetryableError
from sparkle_motion.production.assembly import Assembly
from sparkle_motion.production_agent import execute_plan, run_plan
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, SimulationReport

# Every run here goes over the local (threads), the process and the Ray executor, except
# where a test's doubles record what they see in the test's own process, or no step runs at
# all; doubles patched into step code reach forked workers but not Ray's (FORKED).
pytestmark = pytest.mark.usefixtures("executor")
IN_PROCESS = pytest.mark.executors("local")
FORKED = pytest.mark.executors("local", "process")

SPEC_PLAN = {
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "title": "Demo: Intro Clip",
    "created_at": "2025-11-27T12:00:00Z",
    "steps": [
        {
            "id": "s1",
            "type": "image",
            "title": "title_card",
            "prompt": "A cinematic title card, sunrise",
            "opts": {"width": 1280, "height": 720, "seed": 42},
        },
        {
            "id": "s2",
            "type": "tts",
            "title": "narration",
            "text": "Welcome to the demo.",
            "voice": {"id": "emma"},
        },
        {
            "id": "s3",
            "type": "video",
            "title": "main_shot",
            "prompt": "A calm ocean at dawn",
            "start_frames": [],
            "end_frames": [],
            "opts": {"num_frames": 32},
        },
    ],
    "assemble_opts": {"codec": "libx264", "crf": 18, "fps": 30},
}


def small_plan(n_scenes: int = 2) -> dict:
    steps = []
    for i in range(1, n_scenes + 1):
        steps += [
            {
                "id": f"img{i}",
                "type": "image",
                "prompt": f"a fox, scene {i}",
                "opts": {"scene": f"s{i}"},
            },
            {
                "id": f"vid{i}",
                "type": "video",
                "start_frames": [f"step:img{i}"],
                "opts": {"scene": f"s{i}", "num_frames": 12},
            },
            {
                "id": f"say{i}",
                "type": "tts",
                "text": f"Line number {i}.",
                "opts": {"scene": f"s{i}"},
            },
        ]
    return {
        "title": "Small",
        "steps": steps,
        "assemble_opts": {"width": 320, "height": 180, "fps": 12},
    }


@pytest.fixture
def no_assembly(monkeypatch: pytest.MonkeyPatch) -> list:
    """Replace the ffmpeg assembly with a stand-in that records its inputs."""
    calls: list = []

    def fake(self, clips, audio):
        calls.append((clips, audio))
        return publish_local(b"fake movie", "video/mp4", {"duration_s": 1.0})

    monkeypatch.setattr(Assembly, "_assemble_movie", fake)
    return calls


@IN_PROCESS
def test_execute_plan_dry_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(images_agent, "render", lambda *a, **k: called.append(a))
    report = execute_plan(SPEC_PLAN, mode="dry", profile="fixture")
    assert isinstance(report, SimulationReport)
    assert report.plan_id == SPEC_PLAN["id"]
    assert [s.step_id for s in report.steps] == ["s1", "s2", "s3"]
    assert report.steps[0].simulated_artifact_uri == f"file:///simulated/{SPEC_PLAN['id']}/s1.png"
    assert all(r.status == "simulated" for r in report.records)
    assert report.resource_summary["total_estimated_runtime_s"] > 0
    assert report.invocation_graph["assemble"] == ["s1", "s2", "s3"]
    full = execute_plan(SPEC_PLAN, mode="dry", profile="full")
    assert (
        full.steps[0].estimated_gpu_memory_mb > 0
        and full.resource_summary["total_estimated_gpu_hours"] > 0
    )
    assert called == [] and get_store().list_runs() == []


@IN_PROCESS
def test_policy_rejection_calls_no_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    for module, name in (
        (images_agent, "render"),
        (tts_agent, "synthesize"),
        (videos_agent, "render_video"),
    ):
        monkeypatch.setattr(module, name, lambda *a, **k: called.append(a))
    plan = small_plan(1)
    plan["steps"][2]["text"] = "And then, gore everywhere."
    with pytest.raises(PlanPolicyViolation):
        execute_plan(plan, mode="run", profile="fixture")
    assert called == []
    events = get_store().memory_events(event_type="policy_violation")
    assert len(events) == 1 and events[0]["payload"]["field"] == "steps[2].text"


def test_run_fixture_plan_records_every_step(no_assembly: list) -> None:
    events = []
    result = run_plan(small_plan(2), profile="fixture", on_progress=events.append)
    assert result.status == "succeeded", result.summary
    records = {r.step_id: r for r in result.records}
    assert set(records) == {"img1", "vid1", "say1", "img2", "vid2", "say2", "assemble"}
    for sid in ("img1", "vid1", "say1"):
        r = records[sid]
        assert r.status == "succeeded" and r.attempts == 1 and r.artifact_uri and r.cache_key
        assert r.start_time and r.end_time and r.duration_s is not None
    stored = get_store().step_records(run_id=result.run_id)
    assert {r.step_id for r in stored} == set(records)
    assert {e.step_id for e in events} >= {"img1", "vid2", "say2"}
    assert get_store().get_run(result.run_id)["status"] == "succeeded"
    # the video used its own picture as keyframe; the assembly saw visuals and narration
    clips, audio = no_assembly[0]
    assert [c.step_id for c in clips] == ["img1", "vid1", "img2", "vid2"]
    assert [n.step_id for n in audio["narration"]] == ["say1", "say2"]
    assert audio["narration"][0].sentences[0].text == "Line number 1."


@IN_PROCESS
def test_dag_order_and_concurrency_limits(
    monkeypatch: pytest.MonkeyPatch, no_assembly: list
) -> None:
    monkeypatch.setenv("SPARKLE_CPU_SLOTS", "8")
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    order: list[str] = []
    real = images_agent.render

    def counting(prompt, opts):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        try:
            return real(prompt, opts)
        finally:
            with lock:
                state["now"] -= 1

    real_video = videos_agent.render_video

    def video(starts, ends, prompt, opts, **kw):
        order.append(current_run_context().step_id)
        assert Path(starts[0]).is_file(), "the keyframe exists before its video starts"
        return real_video(starts, ends, prompt, opts, **kw)

    monkeypatch.setattr(images_agent, "render", counting)
    monkeypatch.setattr(videos_agent, "render_video", video)
    plan = {"title": "Many", "steps": [{"id": f"i{k}", "type": "image", "prompt": f"p{k}"} for k in range(10)]
            + [{"id": "v", "type": "video", "start_frames": ["step:i9"], "opts": {"num_frames": 4}}],
            "assemble_opts": {"width": 160, "height": 96, "fps": 8}}  # fmt: skip
    result = run_plan(plan, profile="fixture")
    assert result.status == "succeeded"
    assert state["peak"] == 4, "max_concurrent_image_renders"
    assert order == ["v"]
    times = {r.step_id: r for r in result.records}
    assert times["v"].start_time >= times["i9"].end_time


@IN_PROCESS
def test_retry_on_transient_error(monkeypatch: pytest.MonkeyPatch, no_assembly: list) -> None:
    calls = {"n": 0}
    real = tts_agent.synthesize

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TTSRetryableError("429 from the provider")
        return real(*a, **k)

    monkeypatch.setattr(tts_agent, "synthesize", flaky)
    sleeps: list[float] = []
    plan = {"title": "t", "steps": [{"id": "say", "type": "tts", "text": "Hello there."}]}
    result = run_plan(plan, profile="fixture", sleep=sleeps.append)
    record = next(r for r in result.records if r.step_id == "say")
    assert record.attempts == 2 and record.status == "succeeded"
    assert len(sleeps) == 1 and 0.8 <= sleeps[0] <= 1.2  # base 1 s +/- 20 %


@FORKED
def test_fatal_error_is_not_retried_and_skips_dependents(
    monkeypatch: pytest.MonkeyPatch, no_assembly: list
) -> None:
    def broken(*a, **k):
        raise ValueError("bad pixels")

    monkeypatch.setattr(images_agent, "render", broken)
    result = run_plan(small_plan(1), profile="fixture", sleep=lambda s: None)
    records = {r.step_id: r for r in result.records}
    assert result.status == "failed" and no_assembly == []
    assert records["img1"].status == "failed" and records["img1"].attempts == 1
    assert records["vid1"].status == "skipped" and "img1" in records["vid1"].error_message
    assert records["say1"].status == "succeeded"
    assert "img1: bad pixels" in result.summary and "\n" not in result.summary
    assert get_store().get_run(result.run_id)["status"] == "failed"


@IN_PROCESS
def test_oom_adaptive_retry(monkeypatch: pytest.MonkeyPatch, no_assembly: list) -> None:
    seen: list = []
    real = images_agent.render

    def oom_once(prompt, opts):
        seen.append(current_run_context().hints.get("shrink"))
        if len(seen) == 1:
            raise ModelOOMError("CUDA out of memory", model_key="sdxl", stage="inference")
        return real(prompt, opts)

    monkeypatch.setattr(images_agent, "render", oom_once)
    result = run_plan(small_plan(1), profile="fixture", sleep=lambda s: None)
    assert result.status == "succeeded"
    assert seen == [None, 0.5], "the retry carried the shrink hint (x0.5)"
    assert get_store().memory_events(event_type="oom_retry")


@FORKED
def test_second_oom_fails(monkeypatch: pytest.MonkeyPatch, no_assembly: list) -> None:
    def always_oom(*a, **k):
        raise ModelOOMError("out of memory", model_key="sdxl")

    monkeypatch.setattr(images_agent, "render", always_oom)
    result = run_plan(small_plan(1), profile="fixture", sleep=lambda s: None)
    img = next(r for r in result.records if r.step_id == "img1")
    assert img.status == "failed" and img.attempts == 2 and img.error_type == "model_oom"


@FORKED
def test_a_video_oom_is_not_retried_by_the_step(
    monkeypatch: pytest.MonkeyPatch, no_assembly: list
) -> None:
    """videos_agent owns a video step's OOM ladder (per chunk); production does not repeat it."""

    def always_oom(*a, **k):
        raise ModelOOMError("out of memory", model_key="wan2.1")

    monkeypatch.setattr(videos_agent, "render_video", always_oom)
    result = run_plan(small_plan(1), profile="fixture", sleep=lambda s: None)
    vid = next(r for r in result.records if r.step_id == "vid1")
    assert vid.status == "failed" and vid.attempts == 1 and vid.error_type == "model_oom"


@FORKED
def test_cache_hit_does_not_call_the_tool(
    monkeypatch: pytest.MonkeyPatch, no_assembly: list
) -> None:
    first = run_plan(small_plan(1), profile="fixture")
    calls = []
    for module, name in (
        (images_agent, "render"),
        (tts_agent, "synthesize"),
        (videos_agent, "render_video"),
    ):
        monkeypatch.setattr(module, name, lambda *a, **k: calls.append(a))
    again = run_plan(small_plan(1), profile="fixture")
    assert calls == []
    assert all(r.cache_hit for r in again.records if r.step_id != "assemble")
    assert [a.artifact_uri for a in again.artifacts[:-1]] == [
        a.artifact_uri for a in first.artifacts[:-1]
    ]


def test_editing_one_line_reruns_only_that_step(no_assembly: list) -> None:
    run_plan(small_plan(2), profile="fixture")
    edited = small_plan(2)
    edited["steps"][5]["text"] = "A different line."
    edited["title"] = "Renamed plan"  # never part of a cache key
    result = run_plan(edited, profile="fixture")
    ran = sorted(r.step_id for r in result.records if not r.cache_hit and r.step_id != "assemble")
    assert ran == ["say2"]


@IN_PROCESS
def test_custom_step_runs_its_registered_handler(no_assembly: list) -> None:
    from sparkle_motion.handlers import register_handler, unregister_handler

    seen = {}

    def title_card(*, step, opts, inputs, work_dir):
        seen.update(opts=opts, inputs=inputs)
        return publish_local(b"card", "image/png", {"text": opts["text"]})

    register_handler("title_card", title_card)
    try:
        plan = {"title": "t", "steps": [
            {"id": "pic", "type": "image", "prompt": "a fox"},
            {"id": "card", "type": "custom", "handler": "title_card", "opts": {"text": "The End", "bg": "step:pic"}},
        ]}  # fmt: skip
        result = run_plan(plan, profile="fixture")
    finally:
        unregister_handler("title_card")
    assert result.status == "succeeded"
    assert seen["opts"]["text"] == "The End" and Path(seen["inputs"]["opts.bg"]).is_file()
    assert isinstance(result.artifacts[1], ArtifactRef)


@IN_PROCESS
def test_missing_provider_is_one_clear_line() -> None:
    from sparkle_motion.errors import MissingDependencyError

    # Wav2Lip is built but not installed here: one line saying what to get, before any work
    with pytest.raises(MissingDependencyError, match=r"^lipsync_wav2lip \(full\) needs a Wav2Lip"):
        run_plan(small_plan(1), profile="fixture", providers={"lipsync_wav2lip": "full"})


def test_lipsync_without_its_flag_is_simulated(no_assembly: list) -> None:
    plan = {
        "title": "t",
        "steps": [
            {"id": "face", "type": "image", "prompt": "a smiling keeper"},
            {"id": "say", "type": "tts", "text": "Hello, whale."},
            {"id": "lip", "type": "lipsync", "face_video": "step:face", "audio": "step:say"},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8},
    }
    result = run_plan(plan, profile="fixture")
    lip = next(r for r in result.records if r.step_id == "lip")
    assert lip.status == "succeeded" and lip.meta["simulated"] is True
    clips, _audio = no_assembly[0]
    assert [(c.step_id, c.audio_step_id) for c in clips if c.step_type == "lipsync"] == [
        ("lip", "say")
    ]


@IN_PROCESS
def test_backlog_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_assembly: list) -> None:
    from sparkle_motion.errors import PlanResourceError

    big = {
        "title": "t",
        "steps": [{"id": f"t{k}", "type": "tts", "text": f"Line {k}."} for k in range(1000)],
    }
    from sparkle_motion.config import get_settings
    from sparkle_motion.validation import build_plan

    monkeypatch.setenv("SPARKLE_CPU_SLOTS", "4")
    production_agent._check_backlog(build_plan(big), get_settings())  # 1,000 steps alone fit
    (tmp_path / "sparkle.yaml").write_text("step_queue_backlog_limit: 3\n")
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(tmp_path))
    with pytest.raises(PlanResourceError, match="backlog limit is 3"):
        run_plan(big, profile="fixture")


@IN_PROCESS
def test_a_failed_assembly_is_recorded_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkle_motion.errors import AssemblyError

    def broken(self, clips, audio):
        raise AssemblyError("nothing to show")

    monkeypatch.setattr(Assembly, "_assemble_movie", broken)
    with pytest.raises(AssemblyError):
        run_plan(small_plan(1), profile="fixture")
    run = get_store().list_runs()[0]
    assemble = next(
        r for r in get_store().step_records(run_id=run["run_id"]) if r.step_id == "assemble"
    )
    assert run["status"] == "failed" and "nothing to show" in run["summary"]
    assert assemble.status == "failed" and assemble.error_type == "assembly_error"


@pytest.mark.executors("local")  # no step runs
def test_liveness_is_the_owner_process_not_its_heartbeat(tmp_path: Path) -> None:
    """On this host a silent owner keeps its run, a reused pid does not; on another host
    the heartbeat lease decides."""
    import socket
    import subprocess

    from sparkle_motion.config import get_settings
    from sparkle_motion.production.runs import owner_identity, run_is_live
    from sparkle_motion.utils.procs import proc_available

    settings = get_settings()
    me = {**owner_identity(), "heartbeat_at": 0.0}  # silent for ages
    assert run_is_live(me, settings)
    if proc_available():
        assert not run_is_live({**me, "owner_started": "another-boot-7"}, settings)
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not run_is_live({**me, "owner_pid": gone.pid}, settings)
    remote = {**me, "owner_host": socket.gethostname() + "-elsewhere"}
    assert not run_is_live(remote, settings)
    assert run_is_live({**remote, "heartbeat_at": time.time()}, settings)


@pytest.mark.executors("local")  # no step runs
def test_a_dead_runs_old_work_folders_and_segment_parts_are_swept(tmp_path: Path) -> None:
    """kill -9 during assembly leaves ``tmp/assemble-*`` and ``cache/segments/.*.part``:
    the next resume removes those past the age and spares recent ones (a live run's)."""
    import os

    from sparkle_motion.production.runs import clean_dead_run

    ws_tmp, segments, run_dir = tmp_path / "tmp", tmp_path / "cache" / "segments", tmp_path / "r"
    old_dir, new_dir = ws_tmp / "assemble-old", ws_tmp / "assemble-new"
    for folder in (old_dir / "x", new_dir, segments, run_dir):
        folder.mkdir(parents=True)
    (old_dir / "x" / "seg.mp4").write_bytes(b"v" * 100)
    (new_dir / "seg.mp4").write_bytes(b"v")
    old_part, new_part = segments / ".k1.abcd.part", segments / ".k2.abcd.part"
    old_part.write_bytes(b"half")
    new_part.write_bytes(b"half")
    kept = segments / "k3.mp4"
    kept.write_bytes(b"done")
    hour_ago = time.time() - 3600
    for path in (old_dir, old_dir / "x", old_dir / "x" / "seg.mp4", old_part, kept):
        os.utime(path, (hour_ago, hour_ago))
    cleaned = clean_dead_run("r", "p", run_dir, ws_tmp, segments)
    assert cleaned["removed_files"] == 2
    assert not old_dir.exists() and not old_part.exists()
    assert new_dir.is_dir() and new_part.is_file() and kept.is_file()


@IN_PROCESS
def test_a_run_sweeps_old_temp_files_of_the_workspace(
    sparkle_home: Path, no_assembly: list
) -> None:
    import os

    tmp = sparkle_home / "tmp"
    (tmp / "assemble-old").mkdir(parents=True)
    old_files = [tmp / "publish-1.part", tmp / "assemble-old" / "mix.wav"]
    young = tmp / "publish-2.part"
    for path in [*old_files, young]:
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in [*old_files, tmp / "assemble-old"]:
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert run_plan(small_plan(1), profile="fixture").status == "succeeded"
    assert not any(p.exists() for p in old_files) and young.exists()
