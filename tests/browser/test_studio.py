"""The studio page as a user drives it, in headless Chromium against a real `serve` process.

One flow, because each stage needs the one before: submit an idea in the fixture profile and
watch the steps progress live, play the movie to its end with its subtitles, edit a narration
line and re-run (the server must redo only that line and the assembly), then approve a held
shot in the Reviews panel. Screenshots at 1280 and 390 px wide land in the test's tmp dir.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sparkle_motion.db.store import Store

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytest.importorskip("sparkle_motion.service.app", reason="the HTTP service cannot be imported")
if not any(shutil.which(name) for name in ("chromium", "chromium-browser")):
    pytest.skip("no chromium binary (apt-get install chromium)", allow_module_level=True)

IDEA = "a lighthouse keeper befriends a whale"
RUN_TIMEOUT_MS = 240_000

# Records, from page load on, what the page showed while the run was live: a step row done,
# a bar part-way, the "Now: ..." line. Read back after the run to prove progress was live.
WATCH_PROGRESS = """
window.__seen = {doneWhileLive: 0, partialBars: 0, nowLines: []};
new MutationObserver(() => {
  const panel = document.getElementById('run-panel');
  if (!panel || !['queued', 'running'].includes(panel.dataset.status)) return;
  const done = document.querySelectorAll('[data-testid=step-row][data-status=succeeded]').length;
  window.__seen.doneWhileLive = Math.max(window.__seen.doneWhileLive, done);
  for (const bar of document.querySelectorAll('[data-testid=step-row] .bar')) {
    const p = parseFloat(bar.dataset.progress || '0');
    if (p > 0 && p < 1) window.__seen.partialBars += 1;
  }
  const now = document.getElementById('run-current').textContent;
  if (now.startsWith('Now:') && !window.__seen.nowLines.includes(now)) window.__seen.nowLines.push(now);
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""

PLAY_TO_END = """
async () => {
  const v = document.getElementById('movie');
  v.muted = true;
  if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
  const ended = new Promise(r => v.addEventListener('ended', r, {once: true}));
  v.currentTime = Math.max(0, v.duration - 1.0);
  v.playbackRate = 2;
  await v.play();
  await ended;
  return {duration: v.duration, currentTime: v.currentTime, ended: v.ended, error: v.error && v.error.code};
}
"""

SUBTITLE_CUES = """
() => {
  const track = document.getElementById('movie').textTracks[0];
  return track && track.cues ? track.cues.length : 0;
}
"""


def _wait_finished(page: Any, run_id: str) -> None:
    page.wait_for_function("id => document.getElementById('run-id').textContent === id", arg=run_id)
    page.wait_for_selector("[data-testid=run-panel][data-status=succeeded]", timeout=RUN_TIMEOUT_MS)


def _shoot(page: Any, tmp_path: Path, name: str) -> list[Path]:
    """Full-page screenshots at desktop and phone width; the viewport is restored."""
    paths = []
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        path = tmp_path / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        paths.append(path)
    page.set_viewport_size({"width": 1280, "height": 800})
    return paths


def _words(plan_step: dict[str, Any]) -> str:
    """A tts step's words as the page shows them: its text, or its lines joined."""
    return plan_step.get("text") or " ".join(ln["text"] for ln in plan_step.get("lines") or [])


def _first_image_uri(run: dict[str, Any]) -> tuple[str, str]:
    """(step_id, artifact uri) of the run's first image shot, from its QA scorecard."""
    for shot in (run.get("scorecard") or {}).get("shots", []):
        if shot.get("type") == "image" and shot.get("history"):
            return shot["step_id"], shot["history"][-1]["artifact_uris"][0]
    raise AssertionError(f"no image shot in the scorecard of {run['id']}")


def test_submit_watch_play_edit_rerun_and_approve(studio, page, tmp_path: Path) -> None:
    page.add_init_script(WATCH_PROGRESS)
    page.goto(studio.url + "/")

    # --- submit an idea in the fixture profile
    page.fill("[data-testid=idea-input]", IDEA)
    page.select_option("[data-testid=profile-select]", "fixture")
    page.click("[data-testid=submit-btn]")
    page.wait_for_function("document.getElementById('run-id').textContent !== ''")
    run_id = page.text_content("#run-id")
    assert run_id
    _wait_finished(page, run_id)

    # --- it progressed live: rows went to done and a stage was named while the run was live
    seen = page.evaluate("window.__seen")
    assert seen["doneWhileLive"] >= 1, seen
    assert seen["nowLines"], seen
    run = studio.get(f"/runs/{run_id}")
    assert run["status"] == "succeeded" and run["profile"] == "fixture"
    shown_ids = page.eval_on_selector_all(
        "[data-testid=step-row]", "rows => rows.map(r => r.dataset.stepId)"
    )
    # every plan step in plan order, then the assembly (not a plan step, but the longest stage)
    plan_ids = [s["step_id"] for s in run["steps"]]
    assert [i for i in shown_ids if i != "assemble"] == plan_ids
    assert shown_ids[-1] == "assemble"
    rows = page.locator("[data-testid=step-row]")
    assert page.locator("[data-testid=step-row][data-status=succeeded]").count() == rows.count()
    assert page.locator("#overall-bar").get_attribute("data-progress") == "1.000"
    assert run["title"] in page.text_content("[data-testid=runs-list]")

    # --- the shots show the pictures, narration lines and QA of the run
    shots = page.locator("[data-testid=shot]")
    assert shots.count() >= 2
    loaded = page.eval_on_selector_all(
        "[data-testid=shot] img",
        "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length",
    )
    assert loaded >= 2
    plan = studio.get(f"/runs/{run_id}/plan")
    lines = [_words(s) for s in plan["steps"] if s["type"] == "tts"]
    shown = page.locator("[data-testid=narration-text]").all_text_contents()
    assert shown == lines and all(lines)
    assert page.locator("[data-testid=qa-row] .badge.approved").count() >= 1

    # --- the movie plays to its end, with its subtitles
    page.wait_for_selector("[data-testid=movie]")
    played = page.evaluate(PLAY_TO_END)
    assert played["ended"] and played["error"] is None, played
    assert played["duration"] > 5 and played["currentTime"] >= played["duration"] - 0.1
    assert abs(played["duration"] - run["movie"]["duration_s"]) < 1.0
    page.wait_for_function(SUBTITLE_CUES)
    assert page.evaluate(SUBTITLE_CUES) >= 1
    shots_taken = _shoot(page, tmp_path, "studio-finished")

    # --- edit the first narration line and re-run: only that line (and the assembly) is redone
    first = page.locator("[data-testid=narration]").first
    edited_step = first.get_attribute("data-step-id")
    first.locator("[data-testid=edit-line]").click()
    new_text = "The keeper painted the lighthouse red, and the whale came to look."
    page.locator("[data-testid=edit-box] [data-testid=line-input]").first.fill(new_text)
    page.click("[data-testid=rerun-btn]")
    page.wait_for_function(
        "old => { const t = document.getElementById('run-id').textContent; return t && t !== old; }",
        arg=run_id,
    )
    rerun_id = page.text_content("#run-id")
    _wait_finished(page, rerun_id)
    rerun = studio.wait_for_run(rerun_id)
    assert rerun["status"] == "succeeded", rerun.get("error")
    redone = {s["step_id"] for s in rerun["steps"] if not s["cache_hit"]}
    assert edited_step in redone
    assert redone <= {edited_step, "assemble"}, redone
    assert sum(1 for s in rerun["steps"] if s["cache_hit"]) >= len(rerun["steps"]) - 2
    plan = studio.get(f"/runs/{rerun_id}/plan")
    edited = next(s for s in plan["steps"] if s["id"] == edited_step)
    assert _words(edited).startswith(new_text)
    assert new_text in page.text_content(f"[data-testid=narration][data-step-id={edited_step}]")

    # --- a shot QA held back: approve it with a note in the Reviews panel
    step_id, uri = _first_image_uri(rerun)
    reason = "QA held this shot: the whale looks too dark"
    review_id = Store(studio.home / "sparkle.db").add_review_request(
        reason=reason, artifact_uri=uri, run_id=rerun_id, step_id=step_id
    )
    page.click("[data-testid=reviews-refresh]")
    item = page.locator(f"[data-testid=review][data-review-id='{review_id}']")
    item.wait_for()
    assert item.locator("[data-testid=review-reason]").text_content() == reason
    item.locator("img").wait_for()
    assert item.locator("img").evaluate("i => i.decode().then(() => i.naturalWidth)") > 0
    _shoot(page, tmp_path, "studio-review")
    item.locator("[data-testid=review-note]").fill("fine on a second look")
    item.locator("[data-testid=approve-btn]").click()
    item.wait_for(state="detached")
    approved = studio.get("/reviews?status=approved")["reviews"]
    mine = [r for r in approved if r["id"] == review_id]
    assert mine and mine[0]["note"] == "fine on a second look", approved
    assert not [r for r in studio.get("/reviews")["reviews"] if r["id"] == review_id]

    assert page.errors == [], page.errors  # type: ignore[attr-defined]
    print("screenshots:", *shots_taken)


def test_page_and_assets_are_served_locally(studio) -> None:
    """Everything the page loads comes from the app itself: no CDN, no external URL."""
    with urllib.request.urlopen(studio.url + "/", timeout=30) as response:
        html = response.read().decode()
        assert response.headers["content-type"].startswith("text/html")
    for asset in ("/static/studio.js", "/static/studio.css"):
        assert asset in html
        with urllib.request.urlopen(studio.url + asset, timeout=30) as response:
            assert response.status == 200 and len(response.read()) > 1000
    assert "http://" not in html and "https://" not in html
