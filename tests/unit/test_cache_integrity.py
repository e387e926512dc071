"""The cache cannot serve a damaged file: same-size corruption, truncated segments, repairs.

Each case here was served (or kept) before cache hits were verified: a cached movie or WAV
overwritten in place, a truncated segment file, a damaged blob at a re-published address.
The seal tests count hashes: a sealed, unchanged file costs a ``stat``, a touched one is
read once and sealed again.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sparkle_motion import cache
from sparkle_motion.adk_helpers import publish_local
from sparkle_motion.db.store import get_store
from sparkle_motion.production_agent import run_plan
from sparkle_motion.utils.ffmpeg import ffmpeg_exe

pytestmark = pytest.mark.executors("local")


def plan_data(second_line: str = "Line number 2.") -> dict:
    steps = []
    for i, text in ((1, "Line number 1, the first."), (2, second_line)):
        steps += [
            {"id": f"img{i}", "type": "image", "prompt": f"a fox, scene {i}",
             "opts": {"scene": f"s{i}"}},
            {"id": f"vid{i}", "type": "video", "start_frames": [f"step:img{i}"],
             "opts": {"scene": f"s{i}", "num_frames": 12}},
            {"id": f"say{i}", "type": "tts", "text": text, "opts": {"scene": f"s{i}"}},
        ]  # fmt: skip
    return {"title": "Integrity", "steps": steps,
            "assemble_opts": {"width": 320, "height": 180, "fps": 12, "preset": "veryfast"}}  # fmt: skip


def corrupt(path: Path, span: int = 64 * 1024) -> None:
    """Overwrite up to ``span`` bytes inside ``path``, keeping its size."""
    size = path.stat().st_size
    start = size // 4
    n = max(1, min(span, size // 2))
    with open(path, "r+b") as f:
        f.seek(start)
        old = f.read(n)
        f.seek(start)
        f.write(bytes((b ^ 0x5A) for b in old))
    assert path.stat().st_size == size


def decode_errors(movie: Path) -> str:
    result = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(movie), "-f", "null", "-"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stderr.strip()


def video_frames(movie: Path) -> int:
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(movie), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = [ln for ln in result.stderr.replace("\r", "\n").splitlines() if "frame=" in ln][-1]
    return int(line.split("frame=")[1].split()[0])


def reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict) -> bytes:
    """The movie ``data`` makes in a fresh workspace (then back to the test's own)."""
    home = os.environ["SPARKLE_HOME"]
    monkeypatch.setenv("SPARKLE_HOME", str(tmp_path / "reference-home"))
    result = run_plan(data, profile="fixture", output=tmp_path / "reference.mp4")
    monkeypatch.setenv("SPARKLE_HOME", home)
    assert result.status == "succeeded", result.summary
    return (tmp_path / "reference.mp4").read_bytes()


# ------------------------------------------------------------------ whole runs


def test_damaged_cached_movie_is_assembled_again(tmp_path: Path) -> None:
    first = run_plan(plan_data(), profile="fixture", output=tmp_path / "a.mp4")
    assert first.status == "succeeded" and first.movie is not None
    good = (tmp_path / "a.mp4").read_bytes()
    corrupt(first.movie.path)

    second = run_plan(plan_data(), profile="fixture", output=tmp_path / "b.mp4")
    assert second.status == "succeeded", second.summary
    assert "movie: cached video was damaged; assembled again" in second.warnings
    assemble = next(r for r in second.records if r.step_id == "assemble")
    assert not assemble.cache_hit
    assert (tmp_path / "b.mp4").read_bytes() == good
    assert decode_errors(tmp_path / "b.mp4") == ""
    # the blob at the movie's address was repaired, and a third run is a clean hit
    assert first.movie.path.read_bytes() == good
    third = run_plan(plan_data(), profile="fixture", output=tmp_path / "c.mp4")
    assert not [w for w in third.warnings if "damaged" in w]
    assert next(r for r in third.records if r.step_id == "assemble").cache_hit
    assert (tmp_path / "c.mp4").read_bytes() == good


def test_damaged_cached_wav_is_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_plan(plan_data(), profile="fixture")
    assert first.status == "succeeded", first.summary
    wav = next(a for a in first.artifacts if a.step_id == "say1").path
    corrupt(wav)

    # an edit elsewhere makes a new movie, which must not carry the damaged narration
    edited = plan_data("Line number 2, edited.")
    second = run_plan(edited, profile="fixture", output=tmp_path / "b.mp4")
    assert second.status == "succeeded", second.summary
    assert "say1: cached audio was damaged; rendered again" in second.warnings
    records = {r.step_id: r for r in second.records}
    assert not records["say1"].cache_hit and records["img1"].cache_hit
    assert decode_errors(tmp_path / "b.mp4") == ""
    assert (tmp_path / "b.mp4").read_bytes() == reference(tmp_path, monkeypatch, edited)


def test_truncated_segment_is_encoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sparkle_home: Path
) -> None:
    first = run_plan(plan_data(), profile="fixture")
    assert first.status == "succeeded" and first.movie is not None
    # the first scene's body: the edit below leaves it as it was
    key = next(s["key"] for s in first.movie.metadata["segments"] if s["kind"] == "scene")
    segment = sparkle_home / "cache" / "segments" / f"{key}.mp4"
    with open(segment, "r+b") as f:
        f.truncate(segment.stat().st_size * 2 // 3)

    edited = plan_data("Line number 2, edited.")
    second = run_plan(edited, profile="fixture", output=tmp_path / "b.mp4")
    assert second.status == "succeeded", second.summary
    assert second.movie is not None
    assert video_frames(tmp_path / "b.mp4") == second.movie.metadata["frames"]
    assert decode_errors(tmp_path / "b.mp4") == ""
    assert (tmp_path / "b.mp4").read_bytes() == reference(tmp_path, monkeypatch, edited)


def test_same_size_damage_to_a_segment_is_encoded_again(sparkle_home: Path) -> None:
    first = run_plan(plan_data(), profile="fixture")
    assert first.status == "succeeded" and first.movie is not None
    # the first scene's body: the edit below leaves it as it was
    key = next(s["key"] for s in first.movie.metadata["segments"] if s["kind"] == "scene")
    segment = sparkle_home / "cache" / "segments" / f"{key}.mp4"
    good = segment.read_bytes()
    corrupt(segment)
    second = run_plan(plan_data("Line number 2, edited."), profile="fixture")
    assert second.status == "succeeded" and second.movie is not None
    assert segment.read_bytes() == good  # encoded again, the same bytes
    used = {s["key"]: s["cached"] for s in second.movie.metadata["segments"]}
    assert used[key] is False


# ------------------------------------------------------------------ the blob store


def test_publishing_replaces_a_damaged_blob() -> None:
    data = bytes(range(256)) * 512
    ref = publish_local(data, "application/octet-stream")
    corrupt(ref.path)
    assert ref.path.read_bytes() != data
    again = publish_local(data, "application/octet-stream")
    assert again.artifact_uri == ref.artifact_uri
    assert ref.path.read_bytes() == data


def test_a_damaged_blob_is_a_miss_with_a_reason() -> None:
    store = get_store()
    ref = publish_local(b"\x01" * 4096, "audio/wav")
    cache.remember(store, "k", [ref], step_type="tts", provider="fixture@1")
    assert cache.lookup(store, "k") == [ref]
    corrupt(ref.path)
    why: list[str] = []
    assert cache.lookup(store, "k", why.append) is None
    assert why == ["cached audio was damaged"]
    assert store.get_cache("k") is None  # the entry is dropped: no second warning
    ref.path.unlink()
    assert cache.lookup(store, "k", why.append) is None and len(why) == 1


# ------------------------------------------------------------------ seals


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file hashed through the seal helper (the cache's only way to read a file)."""
    from sparkle_motion.utils import seal

    calls: list[Path] = []
    real = seal.sha256_file

    def counting(path: Path | str) -> str:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(seal, "sha256_file", counting)
    return calls


def test_a_sealed_file_is_not_hashed_again(hashes: list[Path]) -> None:
    store = get_store()
    refs = [publish_local(bytes([i]) * 10_000, "image/png") for i in range(3)]
    cache.remember(store, "k", refs, step_type="image", provider="fixture@1")
    for _ in range(5):
        assert cache.lookup(store, "k") == refs
    assert hashes == []  # sealed when published: a stat each, never a read


def test_a_touched_but_identical_file_is_hashed_and_accepted(hashes: list[Path]) -> None:
    store = get_store()
    ref = publish_local(b"narration" * 1000, "audio/wav")
    cache.remember(store, "k", [ref], step_type="tts", provider="fixture@1")
    st = ref.path.stat()
    os.utime(ref.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    why: list[str] = []
    assert cache.lookup(store, "k", why.append) == [ref]
    assert hashes == [ref.path] and why == []
    assert cache.lookup(store, "k") == [ref]
    assert hashes == [ref.path]  # sealed again with its new stat


def test_an_unsealed_file_is_hashed_once(hashes: list[Path]) -> None:
    store = get_store()
    ref = publish_local(b"picture" * 1000, "image/png")
    store.drop_seal(str(ref.path))  # e.g. a cache recorded before seals existed
    cache.remember(store, "k", [ref], step_type="image", provider="fixture@1")
    assert cache.lookup(store, "k") == [ref]
    assert cache.lookup(store, "k") == [ref]
    assert hashes == [ref.path]


def test_sidecar_seals_check_and_touch(tmp_path: Path, hashes: list[Path]) -> None:
    from sparkle_motion.utils.seal import SidecarSeals, check, seal_file, touch

    seals = SidecarSeals()
    f = tmp_path / "seg.mp4"
    f.write_bytes(b"segment" * 1000)
    assert check(f, seals) == "unsealed"
    assert seal_file(f, seals) is not None and len(hashes) == 1
    assert touch(f, seals) is None and check(f, seals) is None and len(hashes) == 1
    with open(f, "r+b") as out:
        out.truncate(100)
    assert check(f, seals) == "damaged"
    assert check(f, seals) == "unsealed"  # the damaged file lost its seal
    f.unlink()
    assert check(f, seals) == "missing"


def test_memory_seals_hash_a_file_once_while_it_is_untouched(
    tmp_path: Path, hashes: list[Path]
) -> None:
    """What the assembler's SegmentEncoder hashes its inputs with: read once, then a stat
    each time, until the file is written again."""
    import hashlib

    from sparkle_motion.utils.seal import MemorySeals, sealed_sha256

    seals = MemorySeals()
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"clip" * 1000)
    for _ in range(3):
        assert sealed_sha256(f, seals) == hashlib.sha256(b"clip" * 1000).hexdigest()
    assert hashes == [f]
    f.write_bytes(b"other" * 1000)
    assert sealed_sha256(f, seals) == hashlib.sha256(b"other" * 1000).hexdigest()
    assert hashes == [f, f]
    seals.drop_seal(str(f))
    assert seals.get_seal(str(f)) is None


def test_a_copied_workspace_serves_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from sparkle_motion.production_agent import run_plan

    plan = {
        "title": "Copy",
        "steps": [
            {"id": "img", "type": "image", "prompt": "a fox"},
            {"id": "say", "type": "tts", "text": "A fox."},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8, "preset": "veryfast"},
    }
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("SPARKLE_HOME", str(first))
    assert run_plan(plan, profile="fixture").status == "succeeded"
    shutil.copytree(first, second)
    shutil.rmtree(first)  # a hit may only come from the copy's own files
    monkeypatch.setenv("SPARKLE_HOME", str(second))
    again = run_plan(plan, profile="fixture")
    assert again.status == "succeeded"
    assert all(r.cache_hit for r in again.records), [r.step_id for r in again.records]
    assert all(a.path.is_relative_to(second) for a in again.artifacts)


def test_a_step_publishes_through_its_own_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed mid-publish leaves its part in the step's work folder (the run's tmp/),
    which its resume removes at once; the workspace's shared tmp/ only serves calls made
    outside a step."""
    import tempfile

    from sparkle_motion.run_context import run_context

    made: list[Path] = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        made.append(Path(name).parent)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    work = tmp_path / "runs" / "r1" / "tmp" / "step1"
    work.mkdir(parents=True)
    with run_context(work_dir=str(work)):
        inside = publish_local(b"inside a step", "text/plain")
    outside = publish_local(b"outside a step", "text/plain")
    assert made[0] == work and made[1] != work
    assert list(work.iterdir()) == []  # the part became the blob
    assert Path(inside.artifact_uri.removeprefix("file://")).read_bytes() == b"inside a step"
    assert Path(outside.artifact_uri.removeprefix("file://")).exists()
