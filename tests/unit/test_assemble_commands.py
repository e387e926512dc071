"""ffmpeg command builders (pure: nothing is run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparkle_motion.function_tools.assemble_ffmpeg import AssemblyError, commands
from sparkle_motion.function_tools.assemble_ffmpeg.subtitles import (
    WORD_JOINER,
    Cue,
    neutralise,
    srt_text,
    srt_time,
)
from sparkle_motion.function_tools.assemble_ffmpeg.timeline import Timeline, Visual, build_timeline
from sparkle_motion.types import AssembleOpts, MoviePlan, NarrationInput, VisualInput
from sparkle_motion.utils.ffmpeg import ebur128_summary, ffmpeg_exe
from sparkle_motion.utils.run_command import run_command

OPTS = AssembleOpts(width=320, height=180, fps=24, preset="veryfast", crf=23)


def _timeline(first_line_s: float = 1.0, second_clip_s: float | None = None) -> Timeline:
    steps = [
        {"id": "i0", "type": "image", "prompt": "p"},
        {"id": "n0", "type": "tts", "text": "One."},
        {"id": "v1", "type": "video"}
        if second_clip_s
        else {"id": "v1", "type": "image", "prompt": "p"},
        {"id": "n1", "type": "tts", "text": "Two."},
    ]
    plan = MoviePlan.model_validate({"title": "t", "steps": steps})
    clips = [
        VisualInput(step_id="i0", step_type="image", uri="file:///w/i0.png", media_type="image/png")
    ]
    if second_clip_s:
        clips.append(
            VisualInput(
                step_id="v1",
                step_type="video",
                uri="file:///w/v1.mp4",
                media_type="video/mp4",
                duration_s=second_clip_s,
            )
        )
    else:
        clips.append(
            VisualInput(
                step_id="v1", step_type="image", uri="file:///w/v1.png", media_type="image/png"
            )
        )
    lines = [
        NarrationInput(step_id="n0", uri="file:///w/n0.wav", text="One.", duration_s=first_line_s),
        NarrationInput(step_id="n1", uri="file:///w/n1.wav", text="Two.", duration_s=1.5),
    ]
    return build_timeline(plan, clips, lines, OPTS)


def _source(v: Visual) -> str:
    return f"/w/{v.step_id}.{'mp4' if v.kind == 'clip' else 'png'}"


def _inputs(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == "-i"]


def _window(corners: dict[str, str], w: int, h: int, on: int) -> tuple[float, ...]:
    """Evaluate perspective corner expressions (our own arithmetic strings) at frame ``on``."""
    env = {"W": w, "H": h, "on": on, "__builtins__": {}}
    return tuple(eval(corners[k], env) for k in ("x0", "y0", "x3", "y3"))


# ------------------------------------------------------------------------- encode, inputs


def test_encode_args_are_pinned() -> None:
    args = commands.encode_args(OPTS)
    joined = " ".join(args)
    for part in (
        "-c:v libx264",
        "-preset veryfast",
        "-crf 23",
        "-pix_fmt yuv420p",
        "-r 24",
        "-s 320x180",
        f"-threads {commands.ENCODER_THREADS}",
        "-fflags +bitexact",
        "-flags:v +bitexact",
        "-map_metadata -1",
    ):
        assert part in joined
    assert "-tag:v hvc1" in " ".join(
        commands.encode_args(OPTS.model_copy(update={"codec": "libx265"}))
    )


def test_inputs_force_their_demuxer_and_only_local_files() -> None:
    png = commands.input_args("/w/a.png", "image/png", 24)
    assert png == [
        "-f",
        "image2",
        "-framerate",
        "24",
        "-pattern_type",
        "none",
        "-c:v",
        "png",
        "-protocol_whitelist",
        "file",
        "-i",
        "/w/a.png",
    ]
    assert commands.input_args("/w/a.mp4", "video/mp4")[:2] == ["-f", "mov"]
    assert commands.input_args("/w/a.wav", "audio/wav")[:2] == ["-f", "wav"]
    with pytest.raises(AssemblyError, match="cannot assemble"):
        commands.input_args("/w/a.m3u8", "application/vnd.apple.mpegurl")


# ------------------------------------------------------------------------------ segments


def test_segment_commands_share_encode_settings_and_take_only_absolute_inputs() -> None:
    tl = _timeline(second_clip_s=0.7)
    enc = commands.encode_args(OPTS)
    for seg in tl.segments():
        cmd = commands.segment_command("ffmpeg", tl, seg, enc, _source, "/cache/out.mp4")
        assert cmd[cmd.index("-filter_complex") + 2 :][:4] == [
            "-map",
            "[out]",
            "-frames:v",
            str(seg.frames),
        ]
        tail = cmd[cmd.index("-dn") + 1 :]
        assert tail == [*enc, "-f", "mp4", "/cache/out.mp4"]
        for path in _inputs(cmd):
            assert path.startswith("/") and not path.startswith("-")
        graph = cmd[cmd.index("-filter_complex") + 1]
        assert graph.startswith(f"sws_flags={commands.SWS_FLAGS};")
        assert graph.endswith("[out]") and "setparams=" in graph


def test_scene_segments_do_not_depend_on_where_the_scene_starts() -> None:
    short, long = _timeline(first_line_s=1.0), _timeline(first_line_s=3.3)
    assert short.scenes[1].start != long.scenes[1].start
    enc = commands.encode_args(OPTS)

    def cmd(tl: Timeline, kind: str, index: int) -> list[str]:
        seg = next(s for s in tl.segments() if s.kind == kind and s.index == index)
        return commands.segment_command("ffmpeg", tl, seg, enc, _source, "OUT")

    # the second scene is untouched by the first one's new length; its own segment is equal
    assert cmd(short, "scene", 1) == cmd(long, "scene", 1)
    assert cmd(short, "scene", 0) != cmd(long, "scene", 0)
    assert cmd(short, "transition", 0) != cmd(long, "transition", 0)


def test_transition_segment_crossfades_two_windows_of_equal_length() -> None:
    tl = _timeline()
    (t,) = tl.transitions
    seg = next(s for s in tl.segments() if s.kind == "transition")
    _, graph = commands.segment_graph(tl, seg, _source)
    assert f"xfade=transition=fade:duration={t.frames / 24:g}:offset=0" in graph
    assert graph.count(f"trim=end_frame={t.frames},") == 3  # each window and the blend
    assert set(_inputs_of_graph(graph)) == {0, 1}


def _inputs_of_graph(graph: str) -> list[int]:
    return [int(m) for m in re.findall(r"\[(\d+):v\]", graph)]


def test_xfade_filter_string() -> None:
    assert commands.xfade_filter("a", "b", "o", "wipeleft", 12, 24) == (
        "[a][b]xfade=transition=wipeleft:duration=0.5:offset=0,trim=end_frame=12,"
        "settb=1/24,setpts=N[o]"
    )


def test_still_moves_stay_inside_the_picture_and_really_move() -> None:
    w, h = 320, 180
    for motion in ("zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up", "pan_down"):
        # frames 0..47 of a 48-frame still; 'on' counts from 1
        corners = commands.move_corners(motion, 0.1, -1, 47)
        first, last = _window(corners, w, h, 1), _window(corners, w, h, 48)
        assert first != last, motion
        for x0, y0, x3, y3 in (first, last, _window(corners, w, h, 24)):
            assert -1e-6 <= x0 < x3 <= w + 1e-6 and -1e-6 <= y0 < y3 <= h + 1e-6
            # the window keeps the picture's shape
            assert (x3 - x0) / (y3 - y0) == pytest.approx(w / h)
    zoom = commands.move_corners("zoom_in", 0.1, -1, 47)
    assert _window(zoom, w, h, 1) == pytest.approx((0, 0, w, h))
    assert _window(zoom, w, h, 48)[2] - _window(zoom, w, h, 48)[0] == pytest.approx(0.9 * w)


def test_a_window_cut_from_a_move_continues_it_exactly() -> None:
    # frames 10..19 of a move rendered on their own equal frames 10..19 of the whole
    whole = commands.move_corners("pan_right", 0.1, -1, 47)
    part = commands.move_corners("pan_right", 0.1, 10 - 1, 47)
    for k in range(10):
        assert _window(part, 320, 180, k + 1) == _window(whole, 320, 180, k + 11)


def test_short_clip_graph_slows_then_holds_its_last_frame_moving() -> None:
    tl = _timeline(second_clip_s=0.5)
    v = tl.scenes[1].visuals[0]
    assert v.kind == "clip" and v.speed == 1.5 and v.hold > 0
    seg = next(s for s in tl.segments() if s.kind == "scene" and s.index == 1)
    _, graph = commands.segment_graph(tl, seg, _source)
    assert "setpts=1.5*(PTS-STARTPTS),fps=24" in graph
    assert f"trim=start_frame={v.play - 1},setpts=PTS-STARTPTS,loop=loop=" in graph
    assert graph.count("perspective=") == 1  # the held move; the pre-roll is in the fade
    fade = next(s for s in tl.segments() if s.kind == "transition")
    _, graph = commands.segment_graph(tl, fade, _source)
    assert v.preroll == tl.transitions[0].half
    assert "trim=end_frame=1,setpts=PTS-STARTPTS,loop=loop=" in graph  # the first frame moves


# ------------------------------------------------------------------------ concat and mux


def test_concat_list_quotes_paths() -> None:
    text = commands.concat_list(["/c/a.mp4", "/c/it's.mp4"])
    assert text == "ffconcat version 1.0\nfile '/c/a.mp4'\nfile '/c/it'\\''s.mp4'\n"
    with pytest.raises(AssemblyError):
        commands.concat_list(["relative.mp4"])
    with pytest.raises(AssemblyError):
        commands.concat_list(["/c/new\nline.mp4"])


def test_mux_joins_by_stream_copy_with_soft_subtitles() -> None:
    cmd = commands.mux_command("ffmpeg", "/t/list", "/t/a.m4a", "/t/s.srt", "/o/m.mp4")
    s = " ".join(cmd)
    assert "-f concat -safe 0 -protocol_whitelist file -i /t/list" in s
    assert "-f mov -protocol_whitelist file -i /t/a.m4a" in s
    assert "-f srt -protocol_whitelist file -i /t/s.srt" in s
    assert "-map 0:v:0 -map 1:a:0 -map 2:s:0" in s
    assert "-c:v copy -c:a copy -c:s mov_text" in s
    assert cmd[-3:] == ["-f", "mp4", "/o/m.mp4"] and "-movflags" in cmd
    plain = commands.mux_command("ffmpeg", "/t/list", "/t/a.m4a", None, "/o/m.mp4")
    assert "mov_text" not in plain and "2:s:0" not in " ".join(plain)


# ---------------------------------------------------------------------------------- audio


def test_mix_places_each_wav_at_its_sample_and_covers_the_movie() -> None:
    places = [
        commands.Placement("/w/a.wav", 7200, 48000),
        commands.Placement("/w/b.wav", 96000, 24000),
    ]
    cmd = commands.mix_command("ffmpeg", places, 200_000, 48000, "/t/mix.wav")
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert "atrim=end_sample=48000,adelay=delays=7200S:all=1[n0]" in graph
    assert "adelay=delays=96000S:all=1[n1]" in graph
    assert "amix=inputs=2:normalize=0:duration=longest" in graph
    assert graph.endswith("apad=whole_len=200000,atrim=end_sample=200000[out]")
    assert _inputs(cmd) == ["/w/a.wav", "/w/b.wav"]
    silent = commands.mix_command("ffmpeg", [], 1000, 48000, "/t/mix.wav")
    assert "anullsrc=r=48000:cl=stereo" in silent


MEASURED = {
    "input_i": -23.5,
    "input_tp": -8.2,
    "input_lra": 4.0,
    "input_thresh": -34.0,
    "target_offset": 0.3,
}


def test_the_mix_is_measured_by_the_r128_meter() -> None:
    cmd = commands.loudness_meter_command("ffmpeg", "/t/mix.wav")
    assert cmd[cmd.index("-af") + 1] == "ebur128=peak=true:framelog=quiet"
    assert cmd[-3:-1] == ["-f", "null"] and cmd[-1].startswith("/")


def test_second_pass_applies_one_gain_then_holds_the_peaks() -> None:
    gain = commands.normalize_gain_db(-16.0, MEASURED["input_i"])
    assert gain == 7.5
    assert commands.normalize_gain_db(-16.0, -23.456789) == 7.46  # no float noise in the key
    cmd = commands.soundtrack_command("ffmpeg", "/t/mix.wav", gain, OPTS, 96000, "/t/a")
    af = cmd[cmd.index("-af") + 1]
    assert af == (
        "volume=7.5dB:precision=double,alimiter=limit=0.79:attack=5:release=50:level=false,"
        "apad=whole_len=96000,atrim=end_sample=96000"
    )
    assert "loudnorm" not in af  # its dynamic mode is not reproducible
    s = " ".join(cmd)
    assert "-c:a aac -aac_coder fast -b:a 192k -ar 48000 -ac 2" in s
    assert cmd[-3:] == ["-f", "mp4", "/t/a"]
    silent = commands.soundtrack_command("ffmpeg", "/t/mix.wav", None, OPTS, 96000, "/t/a")
    assert "volume=" not in " ".join(silent)


SUMMARY = """[Parsed_ebur128_0 @ 0x1] Summary:

  Integrated loudness:
    I:         -27.6 LUFS
    Threshold: -39.2 LUFS

  Loudness range:
    LRA:        18.1 LU
    Threshold: -48.6 LUFS
    LRA low:   -28.6 LUFS
    LRA high:  -10.5 LUFS

  True peak:
    Peak:       -4.5 dBFS
"""


def test_parse_ebur128_summary() -> None:
    data = commands.parse_ebur128_summary("[Parsed_ebur128_0 @ 0x1] t: 0.1 M: -120\n" + SUMMARY)
    assert data == {"input_i": -27.6, "input_thresh": -39.2, "input_lra": 18.1, "input_tp": -4.5}
    silence = SUMMARY.replace("-27.6 LUFS", "-70.0 LUFS").replace("-4.5 dBFS", "-inf dBFS")
    assert commands.parse_ebur128_summary(silence)["input_tp"] == float("-inf")
    with pytest.raises(AssemblyError):
        commands.parse_ebur128_summary("no summary here")
    with pytest.raises(AssemblyError):
        commands.parse_ebur128_summary(SUMMARY.replace("True peak:", "Sample peak:"))
    # the one parser QA shares: the figures printed, whichever peak was asked for
    sample = ebur128_summary(SUMMARY.replace("True peak:", "Sample peak:"))
    assert sample["sample_peak_dbfs"] == -4.5 and "true_peak_dbfs" not in sample
    assert sample["integrated_lufs"] == -27.6 and ebur128_summary("no summary") == {}


def test_the_meter_reads_a_known_level(tmp_path: Path) -> None:
    """A sine of peak A on both channels is 20*log10(A) LUFS (BS.1770: -3.01 per channel,
    two channels) with that true peak: -20 LUFS and -20 dBFS for A = 0.1."""
    wav = tmp_path / "tone.wav"
    run_command([
        ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
        "aevalsrc=0.1*sin(2*PI*997*t)|0.1*sin(2*PI*997*t):s=48000:d=5", str(wav),
    ])  # fmt: skip
    stderr = run_command(commands.loudness_meter_command(ffmpeg_exe(), str(wav))).stderr
    data = commands.parse_ebur128_summary(stderr)
    assert data["input_i"] == pytest.approx(-20.0, abs=0.2)
    assert data["input_tp"] == pytest.approx(-20.0, abs=0.2)


# ------------------------------------------------------------------------------ subtitles


def test_srt_text_and_times() -> None:
    assert srt_time(3723.4567) == "01:02:03,457"
    text = srt_text([Cue(0.5, 1.25, "Hello: 100%"), Cue(2, 3, "第二句。")])
    assert text == (
        "1\n00:00:00,500 --> 00:00:01,250\nHello: 100%\n\n2\n00:00:02,000 --> 00:00:03,000\n第二句。\n"
    )


def test_markup_like_text_is_made_literal_and_nothing_else_changes() -> None:
    plain = 'He said: "100% sure" — {braces} & C:\\path, 中文, مرحبا'
    assert neutralise(plain) == plain
    for tricky in ("C:\\new", "a\\Nb", "{\\an8}x", "<i>x</i>", "{y:i}z", "&amp;"):
        out = neutralise(tricky)
        assert out != tricky and out.replace(WORD_JOINER, "") == tricky


def test_every_command_filters_on_one_thread_and_encodes_audio_on_one() -> None:
    tl = _timeline()
    seg = tl.segments()[0]
    places = [commands.Placement("/w/a.wav", 0, 48000)]
    cmds = [
        commands.segment_command("ffmpeg", tl, seg, commands.encode_args(OPTS), _source, "/o"),
        commands.mux_command("ffmpeg", "/t/list", "/t/a.m4a", "/t/s.srt", "/o/m.mp4"),
        commands.mix_command("ffmpeg", places, 96000, 48000, "/t/mix.wav"),
        commands.loudness_meter_command("ffmpeg", "/t/mix.wav"),
        commands.soundtrack_command("ffmpeg", "/t/mix.wav", 7.5, OPTS, 96000, "/t/a"),
    ]
    for cmd in cmds:
        head = " ".join(cmd[: cmd.index("-i")])
        assert "-filter_threads 1 -filter_complex_threads 1" in head, cmd
    pass2 = cmds[-1]
    assert "-threads 1" in " ".join(pass2[pass2.index("-af") :])
    assert "-threads 1" in " ".join(commands.audio_encode_args(OPTS))
