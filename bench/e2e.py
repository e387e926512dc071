"""End-to-end benchmark: one run of a reference plan, measured against its floors and peers.

    python bench/e2e.py [--profile fixture|preview] [--no-peer]

Fixed conditions: a 6-scene plan with about 60 s of narration, 1280x720, 24 fps, libx264
preset medium, crf 20, AAC 48 kHz. In one run, side by side (absolute times on a shared
machine mean little; the ratios are the result):

- the wall time of ``run`` on a fresh workspace, and the floor: one ffmpeg encode of the
  finished movie with the same encode arguments; ``--pairs`` times (2) each, a run then its
  floor, the ratio over all pairs (and their CPU seconds: the machine's speed drifts within
  minutes);
- our assembly stage alone (cold segment cache) and the same job done with moviepy (what
  MoneyPrinterTurbo uses) from the same intermediate clips, narration and subtitle cues;
- an unchanged re-run, and a re-run after editing one narration line;
- a dry run and a fixture run of a 1,000-step plan (executor overhead per step).

Prints one table and writes bench/results/e2e-<profile>.json. Needs ``pip install -e
".[bench]"`` for the moviepy peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REFERENCE_IDEA = "a lighthouse keeper befriends a whale"
ENCODE = {"width": 1280, "height": 720, "fps": 24, "preset": "medium", "crf": 20}


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (ffmpeg, workers)."""
    import resource

    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _cpu_timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, float, Any]:
    """(wall s, CPU s, result) of one call."""
    cpu = _cpu()
    seconds, result = _timed(fn, *args, **kwargs)
    return seconds, _cpu() - cpu, result


def reference_plan() -> Any:
    from sparkle_motion.script_agent import generate_plan
    from sparkle_motion.validation import build_plan

    plan = generate_plan(REFERENCE_IDEA)
    data = plan.to_json_dict()
    data["assemble_opts"] = {**data.get("assemble_opts", {}), **ENCODE, "audio_sample_rate": 48000}
    data.pop("id", None)
    return build_plan(data)


def floor_encode(movie: Path, out: Path) -> float:
    """One plain ffmpeg encode of the finished movie with the same encode arguments."""
    from sparkle_motion.utils.ffmpeg import ffmpeg_exe

    cmd = [
        ffmpeg_exe(), "-v", "error", "-y", "-i", str(movie), "-map", "0:v", "-map", "0:a",
        "-c:v", "libx264", "-preset", ENCODE["preset"], "-crf", str(ENCODE["crf"]),
        "-pix_fmt", "yuv420p", "-r", str(ENCODE["fps"]), "-c:a", "aac", "-ar", "48000",
        "-b:a", "192k", str(out),
    ]  # fmt: skip
    seconds, _ = _timed(subprocess.run, cmd, check=True)
    return seconds


def assembly_alone(result: Any, plan: Any, out: Path) -> tuple[float, dict]:
    """Our assembly of the run's outputs with an empty segment cache."""
    from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import assemble_clips

    clips, audio = _runner_inputs(result, plan)
    cache_dir = Path(tempfile.mkdtemp(prefix="segments-", dir=out.parent))
    seconds, movie = _timed(
        assemble_clips, plan, clips, audio, out, plan.assemble_opts, cache_dir=cache_dir
    )
    return seconds, movie.metadata


def _runner_inputs(result: Any, plan: Any) -> tuple[list, dict]:
    """The assembler's inputs for a finished run (the same ones the run used)."""
    from sparkle_motion.production.assembly import assembly_inputs
    from sparkle_motion.types import ArtifactRef

    outputs: dict[str, list] = {}
    for ref in result.artifacts:
        if ref.step_id:
            outputs.setdefault(ref.step_id, []).append(ArtifactRef.model_validate(ref))
    clips, audio, _warnings = assembly_inputs(plan, outputs)
    return clips, audio


def _full_clip(clip: Any, folder: Path) -> Path:
    """The file MoviePy gets for a visual: a camera move's clip rendered at full size (our
    run keeps only a proxy of it and renders the move in the movie's encode), else the
    visual's own file."""
    from sparkle_motion.function_tools.videos_wan import preview
    from sparkle_motion.types import uri_to_path

    if clip.move is None:
        return uri_to_path(clip.uri)
    m = clip.move
    out = folder / f"full-{clip.step_id}.mp4"
    opts = {"num_frames": m.frames, "fps": m.fps, "width": ENCODE["width"],
            "height": ENCODE["height"], "motion": m.motion}  # fmt: skip
    preview.render([uri_to_path(m.keyframe)], [], "", opts, out)
    return out


def moviepy_peer(meta: dict, clips: list, audio: dict, srt: Path, out: Path) -> float:
    from bench.peers.moviepy_peer import assemble_with_moviepy
    from sparkle_motion.types import uri_to_path
    from sparkle_motion.utils.ffmpeg import ffmpeg_exe

    by_step = {c.step_id: c for c in clips}
    fps = ENCODE["fps"]
    files = {c.step_id: _full_clip(c, out.parent) for c in clips}  # not timed
    scenes = [
        {
            "duration_s": scene["duration_s"],
            "visuals": [
                (files[v["step_id"]], v["kind"], v["frames"] / fps)
                for v in scene["visuals"]
                if v["step_id"] in by_step
            ],
        }
        for scene in meta["scenes"]
    ]
    wavs = {n.step_id: uri_to_path(n.uri) for n in audio["narration"]}
    narration = [
        (wavs[line["step_id"]], scene["start_s"] + line["offset_s"])
        for scene in meta["scenes"]
        for line in scene["lines"]
    ]
    seconds, _ = _timed(
        assemble_with_moviepy, scenes, narration, srt, out,
        size=(ENCODE["width"], ENCODE["height"]), fps=ENCODE["fps"], preset=ENCODE["preset"],
        crf=ENCODE["crf"], transition_s=0.5, ffmpeg=ffmpeg_exe(),
    )  # fmt: skip
    return seconds


def thousand_steps(profile: str) -> tuple[float, float]:
    """Dry run and fixture run (steps only) of a 1,000-step plan."""
    from sparkle_motion import production_agent
    from sparkle_motion.adk_helpers import publish_local

    plan = {
        "title": "1,000 steps",
        "steps": [
            {"id": f"i{k}", "type": "image", "prompt": f"picture {k}",
             "opts": {"width": 64, "height": 64}}
            for k in range(1000)
        ],
        "assemble_opts": {"width": 64, "height": 64},
    }  # fmt: skip
    dry, _ = _timed(production_agent.execute_plan, plan, mode="dry", profile=profile)
    # the executor's own cost: the assembly of 1,000 stills is not what this measures
    from sparkle_motion.production.assembly import Assembly

    saved = Assembly._assemble_movie, Assembly.encode_ahead
    Assembly._assemble_movie = lambda self, c, a: publish_local(b"-", "video/mp4")  # type: ignore[method-assign]
    Assembly.encode_ahead = lambda self, outputs: None  # type: ignore[method-assign]
    try:
        run, _ = _timed(production_agent.run_plan, plan, profile="fixture")
    finally:
        Assembly._assemble_movie, Assembly.encode_ahead = saved  # type: ignore[method-assign]
    return dry, run


def _tree_rss_kib(root: int) -> tuple[int, int]:
    """Resident memory of ``root`` and all its descendants now, and the largest peak
    (VmHWM) of any one of them so far (KiB, from /proc). VmHWM starts afresh at exec, so a
    child does not inherit the peak of the big process that started it (ru_maxrss does)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        kib = [int((fields.get(k) or "0 kB").split()[0]) for k in ("VmRSS", "VmHWM")]
        rss[pid] = (kib[0], kib[1])
    total = largest = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        now, peak = rss.get(pid, (0, 0))
        total += now
        largest = max(largest, peak)
        todo += children.get(pid, [])
    return total, largest


def peak_rss_mib(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``command``; the peak of its process tree's summed RSS and the largest peak RSS
    of any one process in it (sampled every 20 ms), both in MiB."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    peak = largest = 0
    while proc.poll() is None:
        total, one = _tree_rss_kib(proc.pid)
        peak, largest = max(peak, total), max(largest, one)
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed with {proc.returncode}")
    return peak / 1024, largest / 1024


def main() -> int:
    if sys.argv[1:2] == ["--thousand-steps-only"]:  # the peak-memory measure's own process
        sys.path.insert(0, str(ROOT.parent))
        thousand_steps("fixture")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="fixture", choices=["fixture", "preview", "full"])
    parser.add_argument("--no-peer", action="store_true", help="skip the moviepy peer")
    parser.add_argument("--keep", action="store_true", help="keep the temp workspace")
    parser.add_argument("--pairs", type=int, default=2, help="fresh runs, each with its floor")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sparkle-bench-"))
    os.environ["SPARKLE_HOME"] = str(work / "home")
    sys.path.insert(0, str(ROOT.parent))
    from sparkle_motion.production_agent import run_plan
    from sparkle_motion.utils.ffmpeg import ffmpeg_version, probe

    plan = reference_plan()
    results: dict[str, Any] = {
        "profile": args.profile,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "ffmpeg": ffmpeg_version()},
        "conditions": {**ENCODE, "audio": "aac 48 kHz", "idea": REFERENCE_IDEA,
                       "scenes": len({s.scene for s in plan.steps}), "steps": len(plan.steps)},
    }  # fmt: skip
    movie = work / "movie.mp4"
    # Fresh runs, each followed by the floor: the machine's speed drifts by a third within
    # minutes (one bench read 1.10x, the next 1.38x with the same code), so the ratio is taken
    # over all pairs, and their CPU seconds are reported beside it.
    runs, floors, run_cpu, floor_cpu = [], [], [], []
    for k in range(max(1, args.pairs)):
        os.environ["SPARKLE_HOME"] = str(work / ("home" if k == 0 else f"home-{k}"))
        out = movie if k == 0 else work / f"movie-{k}.mp4"
        seconds, cpu, result = _cpu_timed(run_plan, plan, profile=args.profile, output=out)
        assert result.status == "succeeded", result.summary
        runs.append(seconds)
        run_cpu.append(cpu)
        if k == 0:
            first = result
        seconds, cpu, _ = _cpu_timed(floor_encode, out, work / f"floor-{k}.mp4")
        floors.append(seconds)
        floor_cpu.append(cpu)
    os.environ["SPARKLE_HOME"] = str(work / "home")
    t_run, t_floor = sum(runs) / len(runs), sum(floors) / len(floors)
    info = probe(movie)
    results["movie_duration_s"] = info.duration_s
    from sparkle_motion.estimates import breakdown

    first_meta = first.movie.metadata if first.movie else {}
    stages = first_meta.get("stages_s")
    results["first_run_segments_ahead"] = first_meta.get("segments_ahead")
    results["first_run_breakdown_s"] = {
        stage.strip(): round(seconds, 3) for stage, seconds, _ in breakdown(first.records, stages)
    }
    t_asm, meta = assembly_alone(first, plan, work / "assembly.mp4")
    clips, audio = _runner_inputs(first, plan)
    t_peer = None
    if not args.no_peer:
        t_peer = moviepy_peer(meta, clips, audio, movie.with_suffix(".srt"), work / "peer.mp4")
    t_rerun, again = _timed(run_plan, plan, profile=args.profile, output=work / "again.mp4")
    data = plan.to_json_dict()
    line = next(s for s in data["steps"] if s["type"] == "tts" and s["id"].startswith("scene3"))
    line["text"] = "But the fog came in fast that night, and the whale was nowhere to be seen."
    from sparkle_motion.validation import build_plan

    t_edit, edited = _timed(run_plan, build_plan(data), profile=args.profile,
                            output=work / "edited.mp4")  # fmt: skip
    rerendered = [r.step_id for r in edited.records if not r.cache_hit and r.step_id != "assemble"]
    edit_meta = edited.movie.metadata if edited.movie else {}
    t_dry, t_1000 = thousand_steps(args.profile)
    rss_tree, rss_single = peak_rss_mib(
        [sys.executable, __file__, "--thousand-steps-only"],
        {**os.environ, "SPARKLE_HOME": str(work / "home-1000")},
    )

    results["seconds"] = {
        "run": t_run, "floor_encode": t_floor, "assembly_ours": t_asm, "assembly_moviepy": t_peer,
        "rerun_unchanged": t_rerun, "rerun_one_line_edited": t_edit, "dry_1000_steps": t_dry,
        "fixture_run_1000_steps": t_1000,
    }  # fmt: skip
    results["runs_and_floors"] = {
        "run_s": runs, "floor_s": floors, "run_cpu_s": run_cpu, "floor_cpu_s": floor_cpu,
        "cpu_ratio": sum(run_cpu) / sum(floor_cpu),
    }  # fmt: skip
    results["peak_rss_mib_1000_steps"] = {"process_tree": rss_tree, "largest_process": rss_single}
    results["ratios"] = {
        "run_vs_floor": t_run / t_floor,
        "moviepy_vs_ours_assembly": (t_peer / t_asm) if t_peer else None,
        "moviepy_run_vs_ours_run": ((t_run - t_asm + t_peer) / t_run) if t_peer else None,
        "rerun_vs_first": t_rerun / t_run,
        "edit_vs_first": t_edit / t_run,
        "executor_ms_per_step": t_1000,
    }
    results["ratios"]["executor_ms_per_step"] = t_1000 / 1000 * 1000
    results["edit"] = {
        "steps_rerendered": rerendered,
        "segments": edit_meta.get("segments_summary") or edit_meta.get("segment_cache"),
    }
    results["targets"] = {
        "run_vs_floor <= 1.3 (must)": results["ratios"]["run_vs_floor"] <= 1.3,
        "run_vs_floor <= 1.15 (goal)": results["ratios"]["run_vs_floor"] <= 1.15,
        "assembly <= 1.05 x floor (goal)": t_asm <= 1.05 * t_floor,
        "edit <= 15% (must)": t_edit <= 0.15 * t_run,
        "edit <= 10% (goal)": t_edit <= 0.10 * t_run,
        "moviepy/ours assembly >= 3": (t_peer / t_asm >= 3) if t_peer else None,
        "rerun <= 2% or 0.5 s": t_rerun <= max(0.02 * t_run, 0.5),
        "edit <= 25%": t_edit <= 0.25 * t_run,
        "dry 1000 < 1 s": t_dry < 1.0,
    }
    _print_table(results)
    out = ROOT / "results" / f"e2e-{args.profile}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out.relative_to(ROOT.parent)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    assert again.status == "succeeded"
    return 0


def _print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    s, r = results["seconds"], results["ratios"]
    table = Table(title=f"bench/e2e.py — profile {results['profile']}, "
                  f"{results['conditions']['scenes']} scenes, "
                  f"{results['movie_duration_s']:.1f} s movie", title_justify="left")  # fmt: skip
    for col in ("measure", "seconds", "ratio", "target"):
        table.add_column(col)

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    pairs = results["runs_and_floors"]
    n = len(pairs["run_s"])
    table.add_row(f"run (fresh workspace, mean of {n})", fmt(s["run"]),
                  fmt(r["run_vs_floor"]) + " x floor", "<= 1.3, goal 1.15")  # fmt: skip
    table.add_row(f"floor: one ffmpeg encode of the movie (mean of {n}, each after a run)",
                  fmt(s["floor_encode"]), "1.00", "")  # fmt: skip
    for k, (run, floor) in enumerate(zip(pairs["run_s"], pairs["floor_s"], strict=True)):
        table.add_row(f"  pair {k + 1}: run / floor", f"{run:.2f} / {floor:.2f}",
                      fmt(run / floor) + " x floor", "")  # fmt: skip
    cpu = f"{sum(pairs['run_cpu_s']):.0f} / {sum(pairs['floor_cpu_s']):.0f}"
    table.add_row("  CPU s, runs / floors", cpu, fmt(pairs["cpu_ratio"]) + " x floor", "")
    table.add_row("assembly stage, ours", fmt(s["assembly_ours"]),
                  fmt(s["assembly_ours"] / s["floor_encode"]) + " x floor",
                  "<= 1.05 x floor")  # fmt: skip
    table.add_row("assembly stage, moviepy", fmt(s["assembly_moviepy"]),
                  fmt(r["moviepy_vs_ours_assembly"]) + " x ours", ">= 3 x ours")  # fmt: skip
    table.add_row("whole run with moviepy's assembly (est.)", "",
                  fmt(r["moviepy_run_vs_ours_run"]) + " x ours", "")  # fmt: skip
    table.add_row("unchanged re-run", fmt(s["rerun_unchanged"]),
                  f"{100 * r['rerun_vs_first']:.1f} % of first", "<= 2 % or 0.5 s")  # fmt: skip
    table.add_row("re-run, one narration line edited", fmt(s["rerun_one_line_edited"]),
                  f"{100 * r['edit_vs_first']:.1f} % of first", "<= 15 %, goal 10 %")  # fmt: skip
    table.add_row("dry run, 1,000 steps", fmt(s["dry_1000_steps"]), "", "< 1 s")
    table.add_row("fixture run, 1,000 steps", fmt(s["fixture_run_1000_steps"]),
                  f"{r['executor_ms_per_step']:.2f} ms/step", "")  # fmt: skip
    rss = results["peak_rss_mib_1000_steps"]
    table.add_row("peak RSS, 1,000-step fixture run (MiB)", "",
                  f"{rss['process_tree']:.0f} tree, {rss['largest_process']:.0f} largest",
                  "no higher than before")  # fmt: skip
    Console().print(table)
    print("re-rendered after the edit:", ", ".join(results["edit"]["steps_rerendered"]) or "none")
    print("where the first run's time went (s; steps overlap, segments and audio overlap):",
          json.dumps(results["first_run_breakdown_s"]))  # fmt: skip
    print("segments encoded ahead of the assembly, while steps rendered:",
          results.get("first_run_segments_ahead"))  # fmt: skip
    print("targets:", json.dumps(results["targets"]))


if __name__ == "__main__":
    sys.exit(main())
