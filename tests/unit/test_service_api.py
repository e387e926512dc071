"""The HTTP service in-process (FastAPI's TestClient): every route, auth on and off, artifact
confinement, 429 and 503, cancel and resume, reviews, events resumed with Last-Event-ID.

Runs execute for real through the service child's own code (``child.run``) on a thread, so
what the API shows is what a run made; the pool's scheduling is tested with a launcher whose
runs wait until they are killed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sparkle_motion.config import get_settings
from sparkle_motion.db.store import get_store
from sparkle_motion.service import child, views
from sparkle_motion.service.app import create_app
from sparkle_motion.service.pool import RunPool
from sparkle_motion.workspace import get_workspace


def small_plan(line: str = "A fox paints the sea.") -> dict:
    return {
        "title": "Small fox",
        "steps": [
            {"id": "img1", "type": "image", "prompt": "a fox with a brush",
             "opts": {"scene": "s1"}},
            {"id": "say1", "type": "tts", "text": line, "opts": {"scene": "s1"}},
            {"id": "img2", "type": "image", "prompt": "a fox by the sea", "opts": {"scene": "s2"}},
            {"id": "say2", "type": "tts", "text": "The end.", "opts": {"scene": "s2"}},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8},
    }  # fmt: skip


class _Thread:
    def __init__(self, run_id: str) -> None:
        self.code = -1
        self.thread = threading.Thread(target=self._run, args=(run_id,), daemon=True)
        self.thread.start()

    def _run(self, run_id: str) -> None:
        self.code = child.run(run_id)

    def wait(self) -> int:
        self.thread.join()
        return self.code

    def kill(self) -> None:  # a thread cannot be killed; tests that cancel use Parked
        raise AssertionError("not killable")


class Parked:
    """A launcher whose runs do nothing until they are killed (the pool's view of a child)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def __call__(self, run_id: str) -> Parked.Handle:
        self.started.append(run_id)
        return Parked.Handle()

    class Handle:
        def __init__(self) -> None:
            self.killed = threading.Event()

        def wait(self) -> int:
            self.killed.wait(30)
            return -9

        def kill(self) -> None:
            self.killed.set()


def client_for(launcher=None, *, token: str | None = None, workers: int = 1, **env) -> TestClient:
    settings = get_settings(**env)
    pool = RunPool(
        get_store(settings), settings, get_workspace(settings).ensure(), workers=workers,
        launcher=launcher or _Thread,
    )  # fmt: skip
    return TestClient(create_app(settings, pool=pool, token=token))


def wait_done(api: TestClient, run_id: str) -> dict:
    """Follow the run's event stream to its end; then its state."""
    with api.stream("GET", f"/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and '"status"' in line:
                data = json.loads(line[5:])
                if data.get("status") in ("succeeded", "failed", "cancelled", "interrupted"):
                    break
    return api.get(f"/runs/{run_id}").json()


def sse(api: TestClient, url: str, **headers: str) -> list[dict]:
    events, current = [], {}
    with api.stream("GET", url, headers=headers) as stream:
        for line in stream.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
                continue
            name, _, value = line.partition(":")
            current[name] = value.strip()
    return events


@pytest.fixture
def api() -> TestClient:
    with client_for() as c:
        yield c


def test_a_plan_runs_and_everything_it_made_is_served(api: TestClient) -> None:
    made = api.post("/runs", json={"plan": small_plan(), "profile": "fixture"})
    assert made.status_code == 202 and made.json()["status"] == "queued"
    run_id = made.json()["id"]
    run = wait_done(api, run_id)
    assert run["status"] == "succeeded", run
    assert [s["step_id"] for s in run["steps"]] == ["img1", "say1", "img2", "say2"]
    assert all(s["status"] == "succeeded" and s["artifact"] for s in run["steps"])
    assert run["steps"][1]["text"] == "A fox paints the sea."
    assert run["error"] is None and run["current"] is None
    assert {s["step_id"] for s in run["scorecard"]["shots"]} == {"img1", "img2"}
    assert run["manifest"]["run_id"] == run_id
    assert [r["id"] for r in api.get("/runs").json()["runs"]] == [run_id]

    # the movie, whole and by range (so a player seeks)
    movie = run["movie"]
    whole = api.get(movie["url"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content[4:8] == b"ftyp" and movie["duration_s"] > 0
    part = api.get(movie["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    vtt = api.get(movie["subtitles_url"])
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT\n\n")
    assert (
        "A fox paints the sea." in vtt.text
        and "-->" in vtt.text
        and "," not in (vtt.text.split("-->")[0].splitlines()[-1])
    )
    png = api.get(run["steps"][0]["artifact"]["url"])
    assert png.content.startswith(b"\x89PNG")


def test_events_are_numbered_and_resume_after_last_event_id(api: TestClient) -> None:
    run_id = api.post("/runs", json={"plan": small_plan(), "profile": "fixture"}).json()["id"]
    wait_done(api, run_id)
    events = sse(api, f"/runs/{run_id}/events")
    seqs = [int(e["id"]) for e in events if "id" in e]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) > 5
    kinds = [(e["event"], json.loads(e["data"])) for e in events]
    statuses = [d["status"] for k, d in kinds if k == "status"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    done = {d["step_id"] for k, d in kinds if k == "progress" and d["message"] == "succeeded"}
    assert {"img1", "say1", "img2", "say2", "assemble"} <= done
    # a reconnect gets exactly what came after
    middle = seqs[len(seqs) // 2]
    later = sse(api, f"/runs/{run_id}/events", **{"Last-Event-ID": str(middle)})
    assert [int(e["id"]) for e in later if "id" in e] == [s for s in seqs if s > middle]
    again = sse(api, f"/runs/{run_id}/events?last_event_id={seqs[-1]}")
    assert [json.loads(e["data"])["status"] for e in again] == ["succeeded"]  # ended: says so


def test_an_edited_line_re_runs_only_what_it_touches(api: TestClient) -> None:
    first = api.post("/runs", json={"plan": small_plan(), "profile": "fixture"}).json()["id"]
    assert wait_done(api, first)["status"] == "succeeded"
    plan = api.get(f"/runs/{first}/plan").json()
    assert plan["steps"][1]["text"] == "A fox paints the sea."
    plan["steps"][1]["text"] = "A fox paints the sea at night."
    edited = api.put(f"/runs/{first}/plan", json=plan)
    assert edited.status_code == 202
    second = wait_done(api, edited.json()["id"])
    assert second["status"] == "succeeded" and second["profile"] == "fixture"
    hits = {s["step_id"]: s["cache_hit"] for s in second["steps"]}
    assert hits == {"img1": True, "say1": False, "img2": True, "say2": True}
    assert second["movie"]["id"] != wait_done(api, first)["movie"]["id"]


def test_bad_input_is_one_typed_error_naming_the_field(api: TestClient) -> None:
    both = api.post("/runs", json={"idea": "a fox", "plan": small_plan()})
    assert both.status_code == 422
    assert both.json()["error"]["code"] == "plan_schema"
    assert both.json()["error"]["field"] == "idea"
    bad = api.post("/runs", json={"plan": {"title": "x", "steps": [{"id": "a", "type": "nope"}]}})
    assert bad.status_code in (400, 422) and bad.json()["error"]["field"]
    profile = api.post("/runs", json={"idea": "a fox", "profile": "huge"})
    assert profile.status_code == 422 and profile.json()["error"]["field"] == "profile"
    assert api.post("/runs", content=b"{not json").status_code == 422
    missing = api.get("/runs/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.get("/nowhere").json()["error"]["code"] == "not_found"
    assert api.get("/runs").json() == {"runs": []}  # nothing was queued by any of these


def test_an_idea_is_planned_and_a_dry_run_renders_nothing(api: TestClient) -> None:
    dry = api.post("/runs", json={"idea": "a fox learns to paint", "dry": True,
                                   "profile": "fixture"})  # fmt: skip
    assert dry.status_code == 200
    body = dry.json()
    assert body["id"] is None and body["dry"] is True
    assert len(body["steps"]) == len(body["plan"]["steps"]) > 3
    assert api.get("/runs").json() == {"runs": []}


def test_artifact_ids_never_reach_outside_the_workspace(api: TestClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    store = get_store()
    outside = store.add_artifact(sha256="0" * 64, uri=secret.as_uri(), media_type="text/plain",
                                 size_bytes=9)  # fmt: skip
    link = get_workspace().root / "link.txt"
    link.symlink_to(secret)
    linked = store.add_artifact(sha256="1" * 64, uri=link.as_uri(), media_type="text/plain",
                                size_bytes=9)  # fmt: skip
    for artifact in (outside, linked, 99999):
        answer = api.get(f"/artifacts/{artifact}")
        assert answer.status_code == 404 and "not yours" not in answer.text
    for sneaky in ("..%2F..%2Fetc%2Fpasswd", "-1", "1.5", "%2Fetc%2Fpasswd"):
        answer = api.get(f"/artifacts/{sneaky}")
        assert answer.status_code in (404, 422) and "root:" not in answer.text


def test_a_token_guards_every_api_route() -> None:
    with client_for(token="s3cret") as api:
        for method, url in [("GET", "/runs"), ("GET", "/reviews"), ("GET", "/voices"),
                            ("GET", "/schema"), ("GET", "/runs/x/events"),
                            ("GET", "/artifacts/1"), ("POST", "/runs")]:  # fmt: skip
            answer = api.request(method, url, json={"idea": "a fox"})
            assert answer.status_code == 401, url
            assert answer.json()["error"]["code"] == "unauthorized"
        assert api.get("/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert api.get("/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert api.get("/runs?token=s3cret").status_code == 200  # EventSource, <video>
        assert api.get("/health").status_code == 200


def test_serve_refuses_other_machines_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkle_motion.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "SPARKLE_API_TOKEN" in result.output and "Traceback" not in result.output


def test_too_many_submissions_get_429_with_retry_after() -> None:
    with client_for(Parked(), api_burst=2, api_rate_per_min=1) as api:
        codes = [api.post("/runs", json={"plan": small_plan()}).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        late = api.post("/runs", json={"plan": small_plan()})
        assert late.json()["error"]["code"] == "rate_limited"
        assert int(late.headers["Retry-After"]) >= 1
        assert api.get("/runs").status_code == 200  # reading is not limited


def test_a_full_queue_answers_503_and_loses_nothing() -> None:
    parked = Parked()
    with client_for(parked, step_queue_backlog_limit=8) as api:
        running = api.post("/runs", json={"plan": small_plan()}).json()["id"]
        for _ in range(50):
            if parked.started:
                break
            threading.Event().wait(0.05)
        waiting = [api.post("/runs", json={"plan": small_plan(f"Line {i}.")}) for i in range(3)]
        assert [w.status_code for w in waiting] == [202, 202, 503]
        full = waiting[2]
        assert full.json()["error"]["code"] == "backlog_full"
        assert int(full.headers["Retry-After"]) >= 1
        assert api.get("/health").json()["queued"] == 2
        # nothing refused was recorded; everything accepted is there
        ids = {r["id"] for r in api.get("/runs").json()["runs"]}
        assert ids == {running, waiting[0].json()["id"], waiting[1].json()["id"]}


def test_cancel_and_resume() -> None:
    parked = Parked()
    with client_for(parked) as api:
        first = api.post("/runs", json={"plan": small_plan()}).json()["id"]
        second = api.post("/runs", json={"plan": small_plan("Other.")}).json()["id"]
        # the queued one is dropped from the queue, the running one's process is killed
        assert api.post(f"/runs/{second}/cancel").json()["status"] == "cancelled"
        for _ in range(50):
            if parked.started:
                break
            threading.Event().wait(0.05)
        assert api.post(f"/runs/{first}/cancel").json()["status"] == "cancelled"
        shown = api.get(f"/runs/{first}").json()
        assert shown["status"] == "cancelled" and "resume" in shown["error"]["message"]
        assert api.post(f"/runs/{first}/cancel").status_code == 409
        statuses = [json.loads(e["data"])["status"] for e in sse(api, f"/runs/{second}/events")]
        assert statuses == ["queued", "cancelled"]
        assert api.post(f"/runs/{second}/resume").json()["status"] == "queued"
        assert api.get(f"/runs/{second}").json()["status"] in ("queued", "running")
        assert parked.started[-1] == second or api.get("/health").json()["queued"] == 1


def test_reviews_list_and_decide_with_a_note(api: TestClient) -> None:
    run_id = api.post("/runs", json={"plan": small_plan(), "profile": "fixture"}).json()["id"]
    run = wait_done(api, run_id)
    picture = run["steps"][0]
    store = get_store()
    uri = store.step_records(run_id=run_id)[0].artifact_uri
    held = store.add_review_request(reason="nsfw 0.5", artifact_uri=uri, run_id=run_id,
                                    step_id=picture["step_id"])  # fmt: skip
    pending = api.get("/reviews").json()["reviews"]
    assert [r["id"] for r in pending] == [held]
    assert pending[0]["artifact"]["url"] == picture["artifact"]["url"]
    decided = api.post(f"/reviews/{held}", json={"decision": "approve", "note": "it is a fox"})
    assert decided.status_code == 200
    assert decided.json()["status"] == "approved" and decided.json()["note"] == "it is a fox"
    assert api.get("/reviews").json()["reviews"] == []
    assert [r["id"] for r in api.get("/reviews?status=approved").json()["reviews"]] == [held]
    assert api.get(f"/runs/{run_id}").json()["reviews"][0]["status"] == "approved"
    assert api.post(f"/reviews/{held}", json={"decision": "reject"}).status_code == 409
    assert api.post("/reviews/999", json={"decision": "reject"}).status_code == 404
    assert api.post(f"/reviews/{held}", json={"decision": "maybe"}).status_code == 422


def test_reference_routes(api: TestClient) -> None:
    voices = api.get("/voices").json()["voices"]
    assert any(v.get("voice_id") == "emma" or v.get("id") == "emma" for v in voices)
    assert "steps" in api.get("/schema").json()["properties"]
    spec = api.get("/openapi.json").json()
    assert {
        "/runs",
        "/runs/{run_id}/events",
        "/reviews/{review_id}",
        "/artifacts/{artifact_id}",
    } <= (set(spec["paths"]))
    assert api.get("/health").json()["ok"] is True


def test_a_restart_takes_up_the_queue_and_marks_dead_runs_interrupted() -> None:
    from sparkle_motion.production_agent import queue_run
    from sparkle_motion.service.events import record_status

    store = get_store()
    waiting, _ = queue_run(small_plan(), profile="fixture")
    dead, _ = queue_run(small_plan("Dead."), profile="fixture")
    store.update_run(dead, status="running", owner_pid=2**22 + 7, owner_started="gone")
    record_status(store, dead, "running")
    parked = Parked()
    with client_for(parked) as api:
        for _ in range(50):
            if parked.started:
                break
            threading.Event().wait(0.05)
        assert parked.started == [waiting]
        shown = api.get(f"/runs/{dead}").json()
        assert shown["status"] == "interrupted"
        assert [json.loads(e["data"])["status"] for e in sse(api, f"/runs/{dead}/events")] == [
            "running", "interrupted"
        ]  # fmt: skip
        assert api.post(f"/runs/{dead}/resume").status_code == 202


def test_srt_to_vtt() -> None:
    srt = "1\r\n00:00:01,250 --> 00:00:02,000\r\nHello, you.\r\n"
    assert views.srt_to_vtt(srt) == "WEBVTT\n\n1\n00:00:01.250 --> 00:00:02.000\nHello, you.\n"


def test_serve_says_in_one_line_when_its_port_is_taken() -> None:
    import socket

    from sparkle_motion.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in result.output and "--port" in result.output
    assert "Traceback" not in result.output


def test_a_run_made_by_the_cli_is_shown_with_its_movie(api: TestClient) -> None:
    from sparkle_motion.production_agent import run_plan

    made = run_plan(small_plan(), profile="fixture")
    shown = api.get(f"/runs/{made.run_id}").json()
    assert shown["status"] == "succeeded" and shown["movie"]["duration_s"] > 0
    assert api.get(shown["movie"]["url"]).content[4:8] == b"ftyp"


def test_a_dialogue_step_shows_its_lines_as_its_text(api: TestClient) -> None:
    plan = small_plan()
    plan["cast"] = {"mia": {"voice": {"id": "emma"}}}
    plan["steps"][1] = {
        "id": "say1",
        "type": "tts",
        "opts": {"scene": "s1"},
        "lines": [{"speaker": "mia", "text": "Hello."}, {"text": "She waved."}],
    }
    dry = api.post("/runs", json={"plan": plan, "dry": True})
    assert dry.status_code == 200, dry.text
    run_id = api.post("/runs", json={"plan": plan, "profile": "fixture"}).json()["id"]
    shown = wait_done(api, run_id)
    assert shown["steps"][1]["text"] == "Hello. She waved."


def test_a_plan_may_come_as_yaml_text(api: TestClient) -> None:
    import yaml

    text = yaml.safe_dump(small_plan(), sort_keys=False)
    dry = api.post("/runs", json={"plan": text, "dry": True})
    assert dry.status_code == 200 and [s["step_id"] for s in dry.json()["steps"]] == [
        "img1", "say1", "img2", "say2"
    ]  # fmt: skip
    broken = api.post("/runs", json={"plan": "title: [unclosed", "dry": True})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "plan_parse"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_ray_and_no_cluster_starts_one_ray_for_every_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each run's process joins the server's Ray (RAY_ADDRESS, inherited), so runs share
    its GPU actors instead of each starting a Ray with all the GPUs."""
    import os
    from types import SimpleNamespace

    import uvicorn

    from sparkle_motion.cli import app
    from sparkle_motion.executors import ray as ray_executor

    started: list[tuple[int, int]] = []

    def fake_ensure(cpus: int, gpus: int):
        started.append((cpus, gpus))
        context = SimpleNamespace(gcs_address="127.0.0.1:6399")
        return SimpleNamespace(get_runtime_context=lambda: context)

    served: list[str | None] = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("SPARKLE_EXECUTOR", "local")  # serve --executor sets it: restored after
    monkeypatch.setattr(ray_executor, "ensure_ray", fake_ensure)
    monkeypatch.setattr(
        uvicorn, "run", lambda *a, **k: served.append(os.environ.get("RAY_ADDRESS"))
    )
    port = str(_free_port())
    result = CliRunner().invoke(app, ["serve", "--port", port, "--executor", "ray"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1 and served == ["127.0.0.1:6399"]
    monkeypatch.delenv("RAY_ADDRESS")
    served.clear()
    result = CliRunner().invoke(app, ["serve", "--port", port, "--executor", "local"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1 and served == [None]  # no Ray for the local executor
