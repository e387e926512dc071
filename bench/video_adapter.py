"""videos_agent overhead: a Wan backend called directly against the same frames through the
agent's chunk plan, reassembly and progress.

    python bench/video_adapter.py [--rounds 3] [--frames 41] [--chunk 16] [--size 64]

A tiny random Wan2.1 text-to-video pipeline (the real diffusers classes with small configs
and a locally built tokenizer, the ones ``tests/unit/test_videos_wan_full.py`` builds; no
download) is saved under a temporary models root and loaded by the full backend through its
own path. For one shot of ``--frames`` frames in chunks of ``--chunk`` (overlap 4):

- **direct**: ``full.render`` called once per chunk of the agent's plan, each chunk's length
  snapped to 4k+1 as the agent snaps it, the same seeds: the same frames rendered, overlaps
  included, and nothing else;
- **agent**: ``videos_agent.render_video`` with the same backend: the chunk plan, per-chunk
  seeds, attempts, progress events, the lossless reassembly and publishing.

Rounds interleave the two (a busy neighbour slows both alike); the median of the per-round
ratios agent/direct is the result (target <= 1.05). The reassembly's own cost is timed
from the agent's progress events (``postprocess``) per output frame. Then a plan of three
video steps with the same weights through the agent on a fresh model pool: how many times
Wan loads (target 1).

Prints one table and writes bench/results/video_adapter.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def _ftfy() -> None:
    """WanPipeline's prompt cleaning calls ftfy unguarded; without it, an identity stand-in
    (the tiny tokenizer reads plain ASCII)."""
    try:
        import ftfy  # noqa: F401
    except ImportError:
        import importlib.machinery
        import types

        stub = types.ModuleType("ftfy")
        stub.__spec__ = importlib.machinery.ModuleSpec("ftfy", None)
        stub.fix_text = lambda text: text  # type: ignore[attr-defined]
        sys.modules["ftfy"] = stub


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=41)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)  # the smallest size a plan may ask for
    args = ap.parse_args()
    _ftfy()
    from tests.unit.test_videos_wan_full import T2V, build_tiny_wan

    from sparkle_motion import gpu_utils, videos_agent
    from sparkle_motion.function_tools.videos_wan import full
    from sparkle_motion.run_context import run_context
    from sparkle_motion.videos.chunks import chunk_seed, plan_chunks, snap_frames

    tmp = Path(tempfile.mkdtemp(prefix="bench-video-"))
    models = tmp / "models"
    models.mkdir()
    build_tiny_wan(models)
    import os

    os.environ["SPARKLE_MODELS_DIR"] = str(models)
    os.environ["SPARKLE_HOME"] = str(tmp / "home")
    os.environ["HF_HUB_OFFLINE"] = "1"
    shape = {"width": args.size, "height": args.size, "fps": 8, "steps": 2, "model_id": T2V}
    agent_opts = {**shape, "num_frames": args.frames, "seed": 7,
                  "chunk_length_frames": args.chunk, "chunk_overlap_frames": 4,
                  "min_chunk_frames": 8}  # fmt: skip
    chunks = plan_chunks(args.frames, args.chunk, 4, 8)
    lengths = [snap_frames(c.num_frames, full.FRAME_MULTIPLE, full.FRAME_OFFSET) for c in chunks]
    rendered = sum(lengths)
    gpu_utils.reset_pool(budget_mb=10_000)
    # what the agent passes on (its own defaults filled in), for the direct calls
    base = {**shape, "models_root": str(models), "device": "cpu", "provider": "full"}
    full.render([], [], "a sea", {**base, "num_frames": 5, "seed": 1}, tmp / "warm.mp4")

    def direct() -> float:
        started = time.perf_counter()
        for c, n in zip(chunks, lengths, strict=True):
            call = {**base, "num_frames": n, "seed": chunk_seed(7, c.index)}
            full.render([], [], "a sea", call, tmp / f"d{c.index}.mp4")
        return time.perf_counter() - started

    post: list[float] = []
    agent_rendered: list[int] = []

    def through_agent() -> float:
        marks: dict[str, float] = {}

        def seen(event: Any) -> None:
            phase = getattr(event, "phase", None)
            if phase == "postprocess":
                marks.setdefault("post", time.perf_counter())

        started = time.perf_counter()
        with run_context(providers={"videos_wan": "full"}):
            ref = videos_agent.render_video([], [], "a sea", agent_opts, on_progress=seen,
                                            backend=full)  # fmt: skip
        ended = time.perf_counter()
        agent_rendered.append(ref.metadata["rendered_frames"])
        if "post" in marks:
            post.append((ended - marks["post"]) / args.frames)
        return ended - started

    rounds = []
    for _ in range(args.rounds):
        d, a = direct(), through_agent()
        rounds.append({"direct_s": d, "agent_s": a, "ratio": a / d})
    ratio = statistics.median(r["ratio"] for r in rounds)

    pool = gpu_utils.reset_pool(budget_mb=10_000)
    for step in range(3):
        with run_context(providers={"videos_wan": "full"}):
            videos_agent.render_video([], [], f"shot {step}", {**agent_opts, "seed": step},
                                      backend=full)  # fmt: skip
    loads = pool.stats()["loads"]

    result = {
        "frames": args.frames,
        "chunks": [[c.start, c.end] for c in chunks],
        "rendered_frames": rendered,
        "agent_rendered_frames": sorted(set(agent_rendered)),
        "rounds": rounds,
        "ratio_median": ratio,
        "postprocess_ms_per_frame": statistics.median(post) * 1000 if post else None,
        "loads_for_3_steps": loads,
    }
    print(f"{'measure':<40} value")
    print(f"{'chunks (start-end)':<40} {' '.join(f'{s}-{e}' for s, e in result['chunks'])}")
    print(f"{'frames rendered (overlaps, 4k+1)':<40} {rendered} for {args.frames} "
          f"(agent: {', '.join(map(str, sorted(set(agent_rendered))))})")  # fmt: skip
    print(f"{'direct, median s':<40} {statistics.median(r['direct_s'] for r in rounds):.2f}")
    print(f"{'agent, median s':<40} {statistics.median(r['agent_s'] for r in rounds):.2f}")
    print(f"{'agent / direct (median of rounds)':<40} {ratio:.3f}  (target <= 1.05)")
    if result["postprocess_ms_per_frame"] is not None:
        print(f"{'reassembly + publish, ms per frame':<40} "
              f"{result['postprocess_ms_per_frame']:.1f}")  # fmt: skip
    print(f"{'Wan loads for a 3-step plan':<40} {loads}  (target 1)")
    out = ROOT / "bench" / "results" / "video_adapter.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
