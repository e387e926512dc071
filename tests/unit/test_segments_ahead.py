"""Segments encoded ahead of the assembly, while the rest of the run still renders.

The run hands the assembler every output it has and stand-ins for the ones still to come;
the assembler encodes the segments whose inputs all exist, on a SegmentEncoder the assembly
shares later. The finished movie must be byte for byte the one a plain assembly makes, with
the early segments neither encoded twice nor waited for in vain.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from tests.unit.test_assemble_ffmpeg import OPTS, make_clip, make_line, make_still, plan_of

from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import (
    SegmentEncoder,
    assemble_clips,
    encode_ready_segments,
)
from sparkle_motion.production.assembly import stand_ins
from sparkle_motion.types import ArtifactRef, NarrationInput, VisualInput
from sparkle_motion.workspace import get_workspace

STEPS = (
    ("i1", "image"), ("n1", "tts"), ("v2", "video"), ("n2", "tts"),
    ("i3", "image"), ("n3", "tts"),
)  # fmt: skip


def _inputs() -> tuple[list[VisualInput], list[NarrationInput]]:
    visuals = [
        make_still("i1", (200, 60, 40)),
        make_clip("v2", 1.5),
        make_still("i3", (40, 90, 200)),
    ]
    lines = [make_line(f"n{k}", [f"Line {k}."], 300.0 + 100 * k) for k in (1, 2, 3)]
    return visuals, lines


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _encodes(commands: list[list[str]]) -> int:
    return sum(1 for c in commands if "-filter_complex" in c and "-an" in c)


def test_stand_ins_follow_the_plan() -> None:
    plan = plan_of(*STEPS)
    planned = stand_ins(plan, {"i1", "n1"})
    assert planned is not None
    visuals, lines = planned
    assert [(v.step_id, v.media_type) for v in visuals] == [
        ("v2", "video/mp4"),
        ("i3", "image/png"),
    ]
    assert visuals[0].duration_s == pytest.approx(48 / 24)  # the default clip length
    assert [n.step_id for n in lines] == ["n2", "n3"]
    custom = plan_of(("i1", "image"), ("n1", "tts")).model_copy()
    custom.steps.append(custom.steps[0].model_copy(update={"id": "c1", "type": "custom"}))
    assert stand_ins(custom, {"i1"}) is None  # what a custom step gives is not known


def _ahead_then_plain(
    tmp_path: Path,
    inputs: tuple[list[VisualInput], list[NarrationInput]],
    known: tuple[list[VisualInput], list[NarrationInput]],
    pending: set[str],
    workers: int,
) -> tuple[list, int, ArtifactRef, ArtifactRef]:
    """What is ready of ``known`` (stand-ins for ``pending``) encoded ahead, then the movie
    of ``inputs`` assembled on the same encoder; and that movie assembled plainly into a
    cache of its own. (segments started, keys encoded ahead, movie, plain movie)"""
    plan = plan_of(*STEPS)
    encoder = SegmentEncoder(workers=workers)
    try:
        started = encode_ready_segments(
            plan, known[0], {"narration": known[1]}, OPTS,
            pending=frozenset(pending), encoder=encoder, cache_dir=tmp_path / "segments",
        )  # fmt: skip
        ahead = len(encoder.ahead)
        movie = assemble_clips(
            plan, inputs[0], {"narration": inputs[1]}, tmp_path / "ahead.mp4", OPTS,
            cache_dir=tmp_path / "segments", encoder=encoder,
        )  # fmt: skip
    finally:
        encoder.close()
    plain = assemble_clips(
        plan, inputs[0], {"narration": inputs[1]}, tmp_path / "plain.mp4", OPTS,
        cache_dir=tmp_path / "plain-segments",
    )  # fmt: skip
    return started, ahead, movie, plain


def test_segments_of_finished_scenes_are_encoded_ahead_and_reused(tmp_path: Path) -> None:
    visuals, lines = _inputs()
    # the last scene's picture is still rendering: a stand-in with no file
    pending = VisualInput(step_id="i3", step_type="image", uri="pending:i3", media_type="image/png")
    started, ahead, movie, plain = _ahead_then_plain(
        tmp_path, (visuals, lines), ([*visuals[:2], pending], lines), {"i3"}, workers=2
    )
    # scene 1, the transition into scene 2, and scene 2's body; not what touches scene 3
    assert len(started) == 3 and ahead == 3
    meta = movie.metadata
    assert meta["segments_ahead"] == 3
    assert meta["segment_cache"]["hits"] == 0  # encoded in this run, not found cached
    assert _encodes(meta["commands"]) == len(meta["segments"])  # none encoded twice
    assert plain.metadata["segments_ahead"] == 0
    assert _sha(movie.path) == _sha(plain.path)


def test_a_wrong_guess_costs_work_not_the_movie(tmp_path: Path) -> None:
    """Scene 2's narration was still pending: its stand-in's length was a guess, so nothing
    touching scene 2 or its neighbours' cuts is encoded; the movie is still right."""
    visuals, lines = _inputs()
    guess = NarrationInput(step_id="n2", uri="pending:n2", text="n2", duration_s=9.0)
    _started, _ahead, movie, plain = _ahead_then_plain(
        tmp_path, (visuals, lines), (visuals, [lines[0], guess, lines[2]]), {"n2"}, workers=1
    )
    assert _sha(movie.path) == _sha(plain.path)
    assert movie.metadata["segments_ahead"] == 0  # every segment touched scene 2


def test_encoder_runs_each_key_once_and_the_longest_first() -> None:
    encoder = SegmentEncoder(workers=1)
    gate = threading.Event()
    order: list[str] = []

    def job(name: str, wait: bool = False):
        def run() -> None:
            if wait:
                gate.wait(10)
            order.append(name)

        return run

    try:
        first = encoder.submit("a", job("a", wait=True), 10)
        time.sleep(0.05)  # "a" holds the only worker
        short = encoder.submit("b", job("b"), 5)
        long = encoder.submit("c", job("c"), 50)
        again = encoder.submit("a", job("a-again"), 10)
        assert again is first  # being encoded: the same future, not a second encode
        gate.set()
        for fut in (first, short, long):
            fut.result(timeout=10)
        assert order == ["a", "c", "b"]
        # a finished key submitted again (its file went missing) is encoded again, also
        # beside another waiting encode of the same length
        gate.clear()
        hold = encoder.submit("d", job("d", wait=True), 1)
        time.sleep(0.05)
        same = encoder.submit("e", job("e"), 10)
        redo = encoder.submit("a", job("a-redo"), 10)
        gate.set()
        for fut in (hold, same, redo):
            fut.result(timeout=10)
        assert order[-3:] == ["d", "e", "a-redo"]
    finally:
        encoder.close()


def test_close_drops_what_has_not_started() -> None:
    encoder = SegmentEncoder(workers=1)
    gate = threading.Event()
    ran: list[str] = []
    busy = encoder.submit("busy", lambda: (gate.wait(10), ran.append("busy")), 1)
    time.sleep(0.05)
    waiting = encoder.submit("later", lambda: ran.append("later"), 1)
    threading.Timer(0.2, gate.set).start()
    encoder.close()
    assert busy.result(timeout=1) is None
    assert waiting.cancelled()
    assert ran == ["busy"]


def test_a_run_encodes_segments_while_it_renders(tmp_path: Path) -> None:
    """Through production: a multi-scene run's movie says how many segments it encoded
    ahead, and is the same movie a second workspace assembles from the same outputs."""
    from sparkle_motion.production_agent import run_plan

    plan = {
        "title": "Ahead",
        "steps": [
            {"id": f"{kind}{k}", "type": kind, **({"prompt": f"picture {k}"} if kind == "image"
                                                   else {"text": f"Line number {k}."})}
            for k in (1, 2, 3) for kind in ("image", "tts")
        ],
        "assemble_opts": {"width": 160, "height": 90, "fps": 12, "preset": "ultrafast"},
    }  # fmt: skip
    result = run_plan(
        plan, profile="fixture", providers={"qa_qwen2vl": "preview"},
        output=tmp_path / "movie.mp4",
    )  # fmt: skip
    assert result.status == "succeeded", result.summary
    meta = result.movie.metadata
    assert meta["segments_ahead"] >= 1
    assert meta["segment_cache"]["hits"] + meta["segments_ahead"] <= len(meta["segments"])
    # every segment's pictures were measured for the movie's QA: those encoded ahead as
    # soon as they existed, the rest by the QA itself; the report is the movie's
    measured = {
        p.name.split(".")[0] for p in (get_workspace().root / "cache" / "qa-pictures").glob("*.npz")
    }
    assert {s["key"] for s in meta["segments"]} <= measured
    assert result.scorecard is not None and result.scorecard["qa_provider"] == "preview"
    # nothing is left running or waiting once the run returns
    assert not [t for t in threading.enumerate() if t.name.startswith("segment")]
    assert not any((get_workspace().root / "runs").glob("*/pgids/pg.*"))
