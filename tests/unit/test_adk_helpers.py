"""adk_helpers: deterministic publish_local URIs, atomic publishing, events, reviews, probes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sparkle_motion import adk_helpers
from sparkle_motion.adk_helpers import (
    probe_sdk,
    publish_artifact,
    publish_local,
    request_human_input,
    require_adk,
    write_memory_event,
)
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ADKUnavailableError, ArtifactError
from sparkle_motion.run_context import adk_context, run_context
from sparkle_motion.types import uri_to_path


def deterministic_bytes(prompt: str, seed: int, index: int) -> bytes:
    """The spec's fixture generator."""
    return hashlib.sha256(f"{prompt}|{seed}|{index}".encode()).digest()[:256]


def test_publish_local_uris_are_deterministic_in_fixture_mode(
    sparkle_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = deterministic_bytes("a fox", 42, 0)
    first = publish_local(data, "image/png", {"seed": 42})
    second = publish_local(data, "image/png", {"seed": 42, "run": "another"})
    assert first.artifact_uri == second.artifact_uri
    sha = hashlib.sha256(data).hexdigest()
    assert first.artifact_uri == (sparkle_home / "blobs" / sha[:2] / f"{sha}.png").as_uri()
    assert uri_to_path(first.artifact_uri).read_bytes() == data
    other = publish_local(deterministic_bytes("a fox", 42, 1), "image/png")
    assert other.artifact_uri != first.artifact_uri
    # another workspace: same layout, same name
    monkeypatch.setenv("SPARKLE_HOME", str(tmp_path / "elsewhere"))
    moved = publish_local(data, "image/png")
    assert Path(moved.artifact_uri).name == Path(first.artifact_uri).name


def test_publish_artifact_copies_by_content_and_records_a_row(tmp_path: Path) -> None:
    src = tmp_path / "narration.wav"
    src.write_bytes(b"RIFF....WAVE" * 1000)
    with run_context(plan_id="p1", run_id="r1", step_id="s2"):
        uri = publish_artifact(src, "audio/wav", {"duration_s": 1.5})
    path = uri_to_path(uri)
    assert path.read_bytes() == src.read_bytes() and path.suffix == ".wav"
    (row,) = get_store().artifacts(uri=uri)
    assert row["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert (row["plan_id"], row["run_id"], row["step_id"]) == ("p1", "r1", "s2")
    assert row["metadata"] == {"duration_s": 1.5}
    src.unlink()
    assert path.is_file(), "the artifact does not depend on the source file"


def test_a_crash_between_write_and_rename_leaves_nothing_trusted(
    tmp_path: Path, sparkle_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "image.png"
    src.write_bytes(b"\x89PNG" + b"x" * 5000)

    def crash(*_a: object) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(adk_helpers.os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        publish_artifact(src, "image/png")
    assert get_store().artifacts() == []
    assert [p for p in (sparkle_home / "blobs").rglob("*") if p.is_file()] == []
    assert list((sparkle_home / "tmp").iterdir()) == [], "the temp file is removed"
    monkeypatch.undo()
    monkeypatch.setenv("SPARKLE_HOME", str(sparkle_home))
    uri = publish_artifact(src, "image/png")
    assert uri_to_path(uri).read_bytes() == src.read_bytes()


def test_publish_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such file"):
        publish_local(tmp_path / "nope.png", "image/png")


def test_inside_an_adk_context_the_artifact_also_goes_through_adk(tmp_path: Path) -> None:
    saved: list[tuple[str, bytes, str]] = []

    class FakeCallbackContext:
        async def save_artifact(self, filename, artifact, custom_metadata=None):
            saved.append((filename, artifact.inline_data.data, artifact.inline_data.mime_type))
            return 3

    src = tmp_path / "plan.json"
    src.write_text('{"title": "x"}')
    with adk_context(FakeCallbackContext()):
        uri = publish_artifact(src, "application/json", {"adk_filename": "plan.json"})
    assert saved == [("plan.json", b'{"title": "x"}', "application/json")]
    (row,) = get_store().artifacts(uri=uri)
    assert row["metadata"]["adk_artifact"] == {"filename": "plan.json", "version": 3}


def test_memory_events_take_ids_from_the_run_context() -> None:
    with run_context(plan_id="p", run_id="r", step_id="s"):
        write_memory_event("policy_decision", {"action": "approve"})
    write_memory_event("other", {}, plan_id="q")
    events = get_store().memory_events()
    assert [(e["event_type"], e["plan_id"], e["run_id"], e["step_id"]) for e in events] == [
        ("policy_decision", "p", "r", "s"),
        ("other", "q", None, None),
    ]
    assert events[0]["payload"] == {"action": "approve"}


def test_request_human_input_queues_a_review() -> None:
    with run_context(plan_id="p", run_id="r", step_id="img"):
        rid = request_human_input(
            reason="nsfw 0.55", artifact_uri="file:///q.png", report={"decision": "escalate"}
        )
    store = get_store()
    (req,) = store.review_requests(status="pending")
    assert req["id"] == rid and req["step_id"] == "img" and req["report"]["decision"] == "escalate"
    assert (
        store.memory_events(event_type="review_requested")[0]["payload"]["review_request_id"] == rid
    )
    store.resolve_review_request(rid, "approved")
    assert store.review_requests(status="pending") == []


def test_probe_and_require_adk(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = probe_sdk()
    assert probe.adk_installed and probe.adk_version and probe.ok
    assert not probe_sdk(model="gemini-2.5-flash").ok
    with pytest.raises(ADKUnavailableError, match="GOOGLE_API_KEY"):
        require_adk("gemini-2.5-flash")
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key")
    assert require_adk("gemini-2.5-flash").ok
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n.startswith("google.adk") else real(n, *a),
    )
    with pytest.raises(ADKUnavailableError, match="google-adk package"):
        require_adk()
    assert probe_sdk(non_fatal=True).adk_installed is False


def test_workspace_is_created_under_sparkle_home(sparkle_home: Path) -> None:
    publish_local(b"x", "text/plain")
    for name in ("blobs", "runs", "adk_artifacts", "llm", "tmp", "sparkle.db"):
        assert (sparkle_home / name).exists(), name
    assert os.access(sparkle_home / "sparkle.db", os.R_OK)
