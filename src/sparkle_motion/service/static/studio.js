/* Sparkle Motion Studio: the page of `sparkle-motion serve`.
 *
 * Plain JS, no build step, nothing loaded from elsewhere. It talks only to the documented
 * API (docs: /docs): submit a run, follow its SSE progress, show the run's steps, shots and
 * movie, edit a narration line and re-run (PUT /runs/{id}/plan), decide pending reviews.
 * Text from the server or a plan is always set with textContent, never parsed as HTML.
 */
"use strict";

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
const LIVE = new Set(["queued", "running"]);
const STEP_ICONS = {
  pending: "○", queued: "○", running: "◐", succeeded: "✓", cached: "✓", failed: "✕",
  skipped: "–", cancelled: "–", quarantined: "!", interrupted: "–",
};
const PHASE_WORDS = {
  queued: "waiting", load: "loading the model", rendering: "rendering", postprocess: "finishing",
};
const STEP_WORDS = {
  image: "picture", video: "clip", tts: "narration", lipsync: "lip sync", assemble: "assembling the movie",
  custom: "custom step",
};

const state = {
  runId: null,
  run: null,
  plan: null, // the open run's plan (fetched when a line is edited)
  stream: null,
  lastSeq: 0,
  live: {}, // step_id -> {progress, message, phase} from SSE
  refreshTimer: null,
  editing: null, // step_id of the narration being edited
  mode: "idea",
};

/* ------------------------------------------------------------------ helpers */

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function token() {
  try { return localStorage.getItem("sparkleToken") || ""; } catch (e) { return ""; }
}

/* Media elements and EventSource cannot send headers: the token rides on the query. */
function withToken(url) {
  const t = token();
  if (!t || !url) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
}

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `The server answered ${status}.`);
    this.status = status;
    this.code = err.code;
    this.field = err.field;
    this.hint = err.hint;
  }
  sentence() {
    const parts = [this.message];
    if (this.field) parts[0] += ` (field: ${this.field})`;
    if (this.hint) parts.push(this.hint);
    if (this.status === 401 || this.status === 403) parts.push("Paste the API token at the top right.");
    return parts.map(asSentence).join(" ");
  }
}

/* "retry in 3 s" -> "Retry in 3 s." (server messages are lower-case clauses) */
function asSentence(text) {
  const t = String(text || "").trim();
  if (!t) return "";
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(first) ? first : first + ".";
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  let response;
  try {
    response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.json !== undefined ? JSON.stringify(options.json) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, { error: { message: "The server cannot be reached." } });
  }
  let body = null;
  const text = await response.text();
  if (text) {
    try { body = JSON.parse(text); } catch (e) { body = null; }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, body);
    const retry = response.headers.get("Retry-After");
    if (retry) err.hint = (err.hint ? err.hint + " " : "") + `Try again in ${retry} s.`;
    throw err;
  }
  return body;
}

let toastTimer = null;
function toast(message, bad = false) {
  const box = $("toast");
  box.textContent = message;
  box.classList.toggle("bad", bad);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, bad ? 7000 : 4000);
}

function ago(epoch) {
  if (!epoch) return "";
  const s = Math.max(0, Date.now() / 1000 - epoch);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(epoch * 1000).toLocaleDateString();
}

function seconds(s) {
  if (s === null || s === undefined) return "";
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

function sceneLabel(scene) {
  const m = /^scene(\d+)$/.exec(scene || "");
  return m ? `Scene ${m[1]}` : scene || "Shot";
}

function setBar(bar, fraction, status) {
  const f = Math.max(0, Math.min(1, fraction || 0));
  bar.querySelector(".fill").style.width = `${(f * 100).toFixed(1)}%`;
  bar.setAttribute("aria-valuenow", String(Math.round(f * 100)));
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.dataset.progress = f.toFixed(3);
  bar.classList.toggle("done", status === "succeeded");
  bar.classList.toggle("failed", status === "failed");
}

/* ------------------------------------------------------------------ health */

async function loadHealth() {
  const pill = $("health");
  try {
    const h = await api("/health");
    pill.replaceChildren("ready", el("span", {
      class: "detail", text: ` · ${h.workers} worker${h.workers === 1 ? "" : "s"} · ${h.running} running · ${h.queued} queued`,
    }));
    pill.className = "pill ok";
  } catch (e) {
    pill.textContent = e.status === 401 ? "token needed" : "server unreachable";
    pill.className = "pill bad";
  }
}

/* ------------------------------------------------------------------ submit */

function setMode(mode) {
  state.mode = mode;
  $("tab-idea").setAttribute("aria-selected", String(mode === "idea"));
  $("tab-plan").setAttribute("aria-selected", String(mode === "plan"));
  $("idea-box").hidden = mode !== "idea";
  $("plan-box").hidden = mode !== "plan";
}

function formError(message) {
  const box = $("form-error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function submitRun(event) {
  event.preventDefault();
  formError("");
  const body = { profile: $("profile-select").value };
  if (state.mode === "idea") {
    const idea = $("idea-input").value.trim();
    if (!idea) { formError("Type an idea first, for example: a lighthouse keeper befriends a whale."); return; }
    body.idea = idea;
  } else {
    const text = $("plan-input").value.trim();
    if (!text) { formError("Paste a plan (YAML or JSON), or open a plan file."); return; }
    try {
      body.plan = JSON.parse(text);
    } catch (e) {
      body.plan = text; // YAML (or broken JSON): the server reads it and names what is wrong
    }
  }
  const button = $("submit-btn");
  button.disabled = true;
  button.textContent = body.idea ? "Planning…" : "Submitting…";
  try {
    const answer = await api("/runs", { method: "POST", json: body });
    toast(`Run ${answer.id} queued.`);
    await openRun(answer.id);
    loadRuns();
  } catch (e) {
    formError(e.sentence ? e.sentence() : String(e));
  } finally {
    button.disabled = false;
    button.textContent = "Make movie";
  }
}

function readPlanFile(event) {
  const file = event.target.files && event.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { $("plan-input").value = String(reader.result || ""); };
  reader.readAsText(file);
}

/* ------------------------------------------------------------------ runs list */

async function loadRuns() {
  const list = $("runs-list");
  let runs;
  try {
    runs = (await api("/runs")).runs || [];
  } catch (e) {
    list.replaceChildren(el("li", { class: "empty-note", text: e.sentence() }));
    return;
  }
  if (!runs.length) {
    list.replaceChildren(el("li", { class: "empty-note", text: "No runs yet." }));
    return;
  }
  list.replaceChildren(...runs.map((r) => el("li", {},
    el("button", {
      type: "button",
      class: "run-item" + (r.id === state.runId ? " active" : ""),
      "data-testid": "run-item",
      "data-run-id": r.id,
      onclick: () => openRun(r.id),
    },
    el("span", { class: "t", text: r.title || "Untitled" }),
    el("span", { class: `badge ${r.status}`, text: r.status }),
    el("span", { class: "sub", text: `${ago(r.created_at)} · ${r.profile || ""} · ${r.id}` })))));
}

/* ------------------------------------------------------------------ one run */

async function openRun(id) {
  if (state.runId !== id) {
    closeStream();
    state.runId = id;
    state.run = null;
    state.plan = null;
    state.live = {};
    state.lastSeq = 0;
    state.movieRetries = 0;
    state.editing = null;
    $("steps").replaceChildren();
    $("steps").dataset.ids = "";
    $("shots").replaceChildren();
    const video = $("movie");
    video.removeAttribute("src");
    video.replaceChildren();
    video.dataset.src = "";
    $("run-title").textContent = "Loading…";
    $("run-status").textContent = "";
    $("run-id").textContent = "";
    history.replaceState(null, "", "#run=" + encodeURIComponent(id));
  }
  document.querySelectorAll(".run-item").forEach((b) => b.classList.toggle("active", b.dataset.runId === id));
  $("empty-state").hidden = true;
  $("run-panel").hidden = false;
  await Promise.all([refreshRun(), state.plan && state.plan._run === id ? null : loadPlan(id)]);
  renderShots();
  if (state.run && !TERMINAL.has(state.run.status)) follow(id);
}

async function refreshRun() {
  const id = state.runId;
  if (!id) return;
  let run;
  try {
    run = await api(`/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    if (id === state.runId) toast(e.sentence(), true);
    return;
  }
  if (id !== state.runId) return;
  state.run = withAssembly(run);
  renderRun();
  if (LIVE.has(run.status) && !state.stream && state.following === id) follow(id);
  // the movie's record can land a moment after the run says it succeeded: look again
  if (run.status === "succeeded" && !run.movie && (state.movieRetries = (state.movieRetries || 0) + 1) <= 10) {
    scheduleRefresh(1000);
  }
}

/* The assembly reports progress as step "assemble" but is not a plan step: show it as the
 * last row, so the longest stage of a fixture or preview run is visible too. */
function withAssembly(run) {
  const steps = run.steps || [];
  if (!steps.length || steps.some((s) => s.step_id === "assemble")) return run;
  let status = "pending";
  if (run.status === "succeeded") status = "succeeded";
  else if (state.live.assemble) status = LIVE.has(run.status) ? "running" : run.status;
  const assemble = {
    step_id: "assemble", type: "assemble", scene: null, status, attempts: 0, duration_s: null,
    cache_hit: false, error: null, text: null, prompt: null, artifact: null, synthetic: true,
  };
  return Object.assign({}, run, { steps: steps.concat([assemble]) });
}

async function loadPlan(id) {
  try {
    const body = await api(`/runs/${encodeURIComponent(id)}/plan`);
    if (id === state.runId) state.plan = { _run: id, body };
  } catch (e) {
    /* the narration falls back to the run's own text */
  }
}

/* A narration line's words: the run's text, or the plan's lines (a dialogue step). */
function narrationText(step) {
  if (step.text) return step.text;
  const plan = state.plan && state.plan._run === state.runId ? state.plan.body : null;
  const planStep = plan && (plan.steps || []).find((s) => s.id === step.step_id);
  if (!planStep) return "";
  if (planStep.text) return planStep.text;
  return (planStep.lines || []).map((l) => l.text || "").join(" ");
}

function scheduleRefresh(delay = 600) {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refreshRun();
  }, delay);
}

function follow(id) {
  closeStream();
  state.following = id;
  if (typeof EventSource === "undefined") return;
  let url = `/runs/${encodeURIComponent(id)}/events`;
  if (state.lastSeq) url += `?last_event_id=${state.lastSeq}`;
  const stream = new EventSource(withToken(url));
  state.stream = stream;
  stream.addEventListener("progress", (e) => {
    if (state.stream !== stream) return;
    const data = JSON.parse(e.data);
    state.lastSeq = Math.max(state.lastSeq, data.seq || 0);
    onProgress(data);
  });
  stream.addEventListener("status", (e) => {
    if (state.stream !== stream) return;
    const data = JSON.parse(e.data);
    state.lastSeq = Math.max(state.lastSeq, data.seq || 0);
    if (TERMINAL.has(data.status)) {
      closeStream();
      state.live = {};
      // a resumed run replays its earlier end: follow on if the run is live again
      refreshRun().then(() => {
        if (state.runId === id && state.run && LIVE.has(state.run.status) && !state.stream) follow(id);
      });
      loadRuns();
      loadReviews();
      loadHealth();
      if (data.status === "succeeded") toast("The movie is ready.");
    } else {
      scheduleRefresh(0);
      loadHealth();
      loadRuns();
    }
  });
  stream.onerror = () => {
    // EventSource reconnects by itself (sending Last-Event-ID). When it gives up (the
    // server refused the stream), the refresh polls and opens a new one while the run lives.
    if (state.stream !== stream) return;
    if (stream.readyState === EventSource.CLOSED) state.stream = null;
    scheduleRefresh(1500);
  };
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

function onProgress(ev) {
  if (!ev.step_id) return;
  state.live[ev.step_id] = { progress: ev.progress, message: ev.message, phase: ev.phase };
  const step = state.run && (state.run.steps || []).find((s) => s.step_id === ev.step_id);
  if (step && step.status === "pending" && ev.progress < 1) step.status = "running";
  if (step && step.synthetic && ev.progress >= 1) step.status = "succeeded";
  updateStepRow(ev.step_id);
  renderCurrent(ev);
  renderOverall();
  // a step changed state (started, finished, cached, failed): pick up its record and artifact
  if (ev.progress >= 1 || ev.progress === 0) scheduleRefresh();
}

/* ------------------------------------------------------------------ rendering */

function stepStatus(step) {
  if (step.status === "succeeded" && step.cache_hit) return "cached";
  return step.status || "pending";
}

function stageWords(step, live) {
  if (step.status === "failed") return step.error || "failed";
  if (step.status === "succeeded") {
    const bits = [step.cache_hit ? "from cache" : "done"];
    if (step.attempts > 1) bits.push(`${step.attempts} attempts`);
    return bits.join(" · ");
  }
  if (live) {
    const phase = PHASE_WORDS[live.phase] || live.phase || "";
    const msg = live.message && live.message !== "running" ? live.message : "";
    return [phase, msg].filter(Boolean).join(": ");
  }
  if (step.status === "running") return "working";
  return step.status === "pending" ? "waiting" : step.status;
}

function stepProgress(step, live) {
  if (step.status === "succeeded" || step.status === "failed") return 1;
  if (live) return live.progress || 0;
  return 0;
}

function buildStepRow(step) {
  const bar = el("div", { class: "bar", role: "progressbar", "aria-label": `${step.step_id} progress` },
    el("div", { class: "fill" }));
  return el("li", { class: "step", "data-testid": "step-row", "data-step-id": step.step_id },
    el("span", { class: "icon", "aria-hidden": "true" }),
    el("span", { class: "name" }, el("span", { class: "sid", text: step.step_id }),
      el("span", { class: "type", text: step.type || "" })),
    el("div", { class: "prog" }, bar, el("span", { class: "msg", "data-testid": "step-message" })),
    el("span", { class: "right" }));
}

function updateStepRow(stepId) {
  const row = $("steps").querySelector(`[data-step-id="${CSS.escape(stepId)}"]`);
  const step = state.run && (state.run.steps || []).find((s) => s.step_id === stepId);
  if (!row || !step) return;
  const live = state.live[stepId];
  const status = stepStatus(step);
  row.className = `step ${step.status}`;
  row.dataset.status = step.status;
  row.dataset.cacheHit = String(Boolean(step.cache_hit));
  row.querySelector(".icon").textContent = STEP_ICONS[status] || "○";
  setBar(row.querySelector(".bar"), stepProgress(step, live), step.status);
  row.querySelector(".msg").textContent = stageWords(step, live);
  const right = [];
  if (step.duration_s && !step.cache_hit) right.push(seconds(step.duration_s));
  const rightBox = row.querySelector(".right");
  rightBox.replaceChildren(el("span", { class: `badge ${status}`, text: status }));
  if (right.length) rightBox.append(el("span", { class: "dur", text: " " + right.join(" ") }));
}

function renderSteps() {
  const list = $("steps");
  const steps = state.run.steps || [];
  const ids = steps.map((s) => s.step_id).join("\n");
  if (list.dataset.ids !== ids) {
    list.replaceChildren(...steps.map(buildStepRow));
    list.dataset.ids = ids;
  }
  for (const step of steps) updateStepRow(step.step_id);
}

function renderCurrent(ev) {
  const box = $("run-current");
  const run = state.run;
  if (!run) return;
  if (run.status === "succeeded") {
    const real = (run.steps || []).filter((s) => !s.synthetic);
    const hits = real.filter((s) => s.cache_hit).length;
    const total = real.length;
    const length = run.movie && run.movie.duration_s ? `, a ${seconds(run.movie.duration_s)} movie` : "";
    box.replaceChildren(el("strong", { text: "Done. " }), `${total} steps, ${hits} from cache${length}.`);
    return;
  }
  if (TERMINAL.has(run.status)) {
    box.replaceChildren(el("strong", { text: `Run ${run.status}.` }),
      run.status === "failed" ? "" : " Resume finishes it without redoing finished steps.");
    return;
  }
  const current = ev || run.current;
  if (!current || !current.step_id) {
    box.replaceChildren(el("strong", { text: run.status === "queued" ? "Waiting for a worker…" : "Starting…" }));
    return;
  }
  const step = (run.steps || []).find((s) => s.step_id === current.step_id);
  const kind = STEP_WORDS[step ? step.type : current.step_id] || (step ? step.type : "");
  const live = state.live[current.step_id];
  const words = live ? stageWords(step || { status: "running" }, live) : current.message || "";
  box.replaceChildren("Now: ", el("strong", { text: current.step_id }),
    kind ? ` (${kind})` : "", words ? ` · ${words}` : "");
}

function renderOverall() {
  const run = state.run;
  const steps = run.steps || [];
  let sum = 0;
  for (const step of steps) sum += stepProgress(step, state.live[step.step_id]);
  const fraction = run.status === "succeeded" ? 1 : steps.length ? sum / steps.length : 0;
  setBar($("overall-bar"), fraction, run.status);
}

function renderRun() {
  const run = state.run;
  $("run-title").textContent = run.title || "Untitled";
  const badge = $("run-status");
  badge.textContent = run.status;
  badge.className = `badge ${run.status}`;
  $("run-panel").dataset.status = run.status;
  $("run-id").textContent = run.id;
  $("run-profile").textContent = run.profile ? `profile ${run.profile}` : "";
  $("cancel-btn").disabled = !LIVE.has(run.status);
  $("resume-btn").disabled = !(run.status === "failed" || run.status === "cancelled" || run.status === "interrupted");

  const errorBox = $("run-error");
  if (run.error && run.status === "failed") {
    let message = run.error.message || `The run ${run.status}.`;
    if (run.error.step_id && !message.includes(run.error.step_id)) message = `${run.error.step_id}: ${message}`;
    errorBox.replaceChildren(el("strong", { text: "The run failed" }),
      el("span", { "data-testid": "run-error-message", text: asSentence(message) }));
    errorBox.hidden = false;
  } else {
    errorBox.hidden = true;
  }

  const warnings = $("run-warnings");
  warnings.replaceChildren(...(run.warnings || []).map((w) => el("li", { text: w })));
  warnings.hidden = !(run.warnings || []).length;

  renderMovie();
  renderSteps();
  renderCurrent(null);
  renderOverall();
  renderShots();
}

function renderMovie() {
  const run = state.run;
  const section = $("movie-section");
  const video = $("movie");
  if (!run.movie || !run.movie.url) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const src = withToken(run.movie.url);
  if (video.dataset.src !== src) {
    video.dataset.src = src;
    video.replaceChildren();
    if (run.movie.subtitles_url) {
      video.append(el("track", {
        kind: "subtitles", src: withToken(run.movie.subtitles_url), srclang: "en", label: "Narration", default: true,
      }));
    }
    video.src = src;
    $("movie-download").href = src;
  }
  const bits = [];
  if (run.movie.duration_s) bits.push(seconds(run.movie.duration_s));
  if (run.movie.subtitles_url) bits.push("subtitles on");
  $("movie-meta").textContent = bits.join(" · ");
}

/* Shots: the run's steps grouped by scene (picture, narration, QA of its visuals). */
function groupShots(steps) {
  const groups = new Map();
  for (const step of steps) {
    if (step.type === "assemble") continue;
    const key = step.scene || step.step_id;
    if (!groups.has(key)) groups.set(key, { scene: key, visuals: [], lines: [] });
    const g = groups.get(key);
    if (step.type === "tts") g.lines.push(step);
    else g.visuals.push(step);
  }
  return [...groups.values()];
}

function scoreChips(scores) {
  const chips = [];
  for (const attempt of scores || []) {
    for (const [name, value] of Object.entries(attempt || {})) {
      if (typeof value !== "number") continue;
      const label = name.replace(/_confidence$/, "");
      chips.push(el("span", { class: "score" + (value >= 0.5 ? " high" : ""), text: `${label} ${value.toFixed(2)}` }));
    }
  }
  return chips;
}

function qaRows(group) {
  const shots = (state.run.scorecard && state.run.scorecard.shots) || [];
  const rows = [];
  for (const step of group.visuals) {
    const shot = shots.find((s) => s.step_id === step.step_id);
    const attempts = shot ? shot.attempts : step.attempts;
    const decision = shot ? shot.decision : null;
    rows.push(el("div", { class: "qa-row", "data-testid": "qa-row", "data-step-id": step.step_id },
      el("span", { class: "sid", text: STEP_WORDS[step.type] || step.type }),
      decision ? el("span", { class: `badge ${decision}`, text: decision }) : null,
      attempts ? el("span", { text: `${attempts} attempt${attempts === 1 ? "" : "s"}` }) : null,
      shot ? scoreChips(shot.scores) : null,
      shot && shot.flags && shot.flags.length ? el("span", { class: "score high", text: shot.flags.join(", ") }) : null));
  }
  return rows;
}

function shotPicture(group) {
  const image = group.visuals.find((s) => s.type === "image" && s.artifact && s.artifact.url);
  const clip = group.visuals.find((s) => s.artifact && s.artifact.url && (s.artifact.media_type || "").startsWith("video"));
  if (image) return el("img", { src: withToken(image.artifact.url), alt: image.prompt || image.step_id, loading: "lazy" });
  if (clip) return el("video", { src: withToken(clip.artifact.url), muted: true, preload: "metadata", controls: true });
  const busy = group.visuals.some((s) => s.status === "running");
  return el("span", { text: busy ? "rendering…" : "no picture yet" });
}

function renderShots() {
  if (!state.run) return;
  const box = $("shots");
  const groups = groupShots(state.run.steps || []);
  if (state.editing) {
    // keep an open editor (and what was typed) while progress refreshes the run
    return;
  }
  if (!groups.length) {
    box.replaceChildren(el("p", { class: "empty-note", text: "No shots yet." }));
    return;
  }
  box.replaceChildren(...groups.map((g) => el("div", { class: "shot", "data-testid": "shot", "data-scene": g.scene },
    el("div", { class: "pic" }, shotPicture(g)),
    el("div", { class: "body" },
      el("div", { class: "scene-name" }, el("span", { text: sceneLabel(g.scene) })),
      g.lines.map((line) => narrationRow(line)),
      el("div", { class: "qa" }, qaRows(g))))));
}

function narrationRow(step) {
  const canEdit = state.run && !LIVE.has(state.run.status);
  return el("div", { class: "line-row", "data-testid": "narration", "data-step-id": step.step_id },
    el("p", { class: "line", "data-testid": "narration-text", text: narrationText(step) }),
    el("button", {
      type: "button", class: "small", "data-testid": "edit-line", disabled: !canEdit,
      title: canEdit ? "Edit this line and re-run" : "Wait for the run to finish",
      onclick: (e) => editLine(step, e.currentTarget.closest(".line-row")),
    }, "Edit"));
}

async function editLine(step, row) {
  let plan;
  try {
    plan = state.plan && state.plan._run === state.runId ? state.plan.body : null;
    if (!plan) {
      plan = await api(`/runs/${encodeURIComponent(state.runId)}/plan`);
      state.plan = { _run: state.runId, body: plan };
    }
  } catch (e) {
    toast(e.sentence(), true);
    return;
  }
  const planStep = (plan.steps || []).find((s) => s.id === step.step_id);
  if (!planStep) { toast(`The plan has no step ${step.step_id}.`, true); return; }
  state.editing = step.step_id;
  const fields = [];
  if (Array.isArray(planStep.lines) && planStep.lines.length) {
    planStep.lines.forEach((line, i) => {
      fields.push(el("label", { class: "line" },
        line.speaker ? el("span", { class: "who", text: line.speaker }) : null,
        el("textarea", { rows: 3, "data-testid": "line-input", "data-line": i, text: line.text || "" })));
    });
  } else {
    fields.push(el("textarea", { rows: 3, "data-testid": "line-input", "data-line": "text", text: planStep.text || narrationText(step) }));
  }
  const box = el("div", { class: "edit-box", "data-testid": "edit-box", "data-step-id": step.step_id },
    fields,
    el("div", { class: "btns" },
      el("button", { type: "button", class: "primary small", "data-testid": "rerun-btn", onclick: () => rerun(step.step_id, box) }, "Re-run"),
      el("button", { type: "button", class: "small", onclick: () => { state.editing = null; renderShots(); } }, "Cancel")),
    el("p", { class: "hint", text: "Only this line and what depends on it are made again; the rest comes from the cache." }));
  row.replaceWith(box);
  box.querySelector("textarea").focus();
}

async function rerun(stepId, box) {
  const plan = JSON.parse(JSON.stringify(state.plan.body));
  const planStep = plan.steps.find((s) => s.id === stepId);
  let changed = false;
  for (const area of box.querySelectorAll("textarea")) {
    const value = area.value.trim();
    if (!value) { toast("A narration line cannot be empty.", true); return; }
    if (area.dataset.line === "text") {
      changed = changed || planStep.text !== value;
      planStep.text = value;
    } else {
      const line = planStep.lines[Number(area.dataset.line)];
      changed = changed || line.text !== value;
      line.text = value;
    }
  }
  if (!changed) { toast("Nothing changed in this line."); return; }
  const button = box.querySelector("[data-testid=rerun-btn]");
  button.disabled = true;
  try {
    const answer = await api(`/runs/${encodeURIComponent(state.runId)}/plan`, { method: "PUT", json: plan });
    state.editing = null;
    toast(`Re-running as ${answer.id}: only what changed is redone.`);
    await openRun(answer.id);
    loadRuns();
  } catch (e) {
    button.disabled = false;
    toast(e.sentence(), true);
  }
}

/* ------------------------------------------------------------------ cancel / resume */

async function runAction(action) {
  const id = state.runId;
  if (!id) return;
  try {
    const answer = await api(`/runs/${encodeURIComponent(id)}/${action}`, { method: "POST" });
    toast(action === "cancel" ? "Run cancelled." : "Resuming: finished steps are kept.");
    if (answer && answer.id && answer.id !== id) await openRun(answer.id);
    else {
      await refreshRun();
      if (state.run && !TERMINAL.has(state.run.status)) follow(id);
    }
    loadRuns();
  } catch (e) {
    toast(e.sentence(), true);
  }
}

/* ------------------------------------------------------------------ reviews */

async function loadReviews() {
  const list = $("reviews-list");
  let reviews;
  try {
    reviews = (await api("/reviews?status=pending")).reviews || [];
  } catch (e) {
    list.replaceChildren(el("li", { class: "empty-note", text: e.sentence() }));
    return;
  }
  $("reviews-count").textContent = reviews.length ? `(${reviews.length})` : "";
  if (!reviews.length) {
    list.replaceChildren(el("li", { class: "empty-note", text: "Nothing is waiting for review." }));
    return;
  }
  list.replaceChildren(...reviews.map(reviewItem));
}

function reviewMedia(artifact) {
  if (!artifact || !artifact.url) return null;
  const url = withToken(artifact.url);
  const media = (artifact.media_type || "").startsWith("video")
    ? el("video", { src: url, controls: true, muted: true, preload: "metadata" })
    : el("img", { src: url, alt: "held shot", loading: "lazy" });
  return el("div", { class: "media" }, media);
}

function reviewItem(review) {
  const note = el("textarea", { rows: 2, placeholder: "Note (optional)", "data-testid": "review-note", "aria-label": "Review note" });
  const decide = async (decision, button) => {
    button.disabled = true;
    try {
      await api(`/reviews/${encodeURIComponent(review.id)}`, {
        method: "POST", json: { decision, note: note.value.trim() || undefined },
      });
      toast(decision === "approve"
        ? "Approved: the shot joins the movie on the run's next resume or re-run."
        : "Rejected.");
      loadReviews();
      if (review.run_id && review.run_id === state.runId) refreshRun();
    } catch (e) {
      button.disabled = false;
      toast(e.sentence(), true);
    }
  };
  return el("li", { class: "review", "data-testid": "review", "data-review-id": review.id },
    reviewMedia(review.artifact),
    el("div", { class: "what" },
      el("strong", { text: review.step_id || "shot" }), " ",
      review.run_id ? el("a", { class: "mono", onclick: () => openRun(review.run_id), text: review.run_id }) : null),
    el("p", { class: "reason", "data-testid": "review-reason", text: review.reason || "" }),
    note,
    el("div", { class: "btns" },
      el("button", { type: "button", class: "ok", "data-testid": "approve-btn", onclick: (e) => decide("approve", e.currentTarget) }, "Approve"),
      el("button", { type: "button", class: "bad", "data-testid": "reject-btn", onclick: (e) => decide("reject", e.currentTarget) }, "Reject")));
}

/* ------------------------------------------------------------------ start */

function init() {
  $("tab-idea").addEventListener("click", () => setMode("idea"));
  $("tab-plan").addEventListener("click", () => setMode("plan"));
  $("submit-form").addEventListener("submit", submitRun);
  $("plan-file").addEventListener("change", readPlanFile);
  $("cancel-btn").addEventListener("click", () => runAction("cancel"));
  $("resume-btn").addEventListener("click", () => runAction("resume"));
  $("reviews-refresh").addEventListener("click", loadReviews);
  $("runs-refresh").addEventListener("click", loadRuns);
  $("idea-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("submit-form").requestSubmit();
  });
  $("token-input").value = token();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    try { localStorage.setItem("sparkleToken", $("token-input").value.trim()); } catch (err) { /* private mode */ }
    $("token-box").open = false;
    loadHealth(); loadRuns(); loadReviews();
    if (state.runId) openRun(state.runId);
  });
  loadHealth();
  loadRuns();
  loadReviews();
  const match = /run=([^&]+)/.exec(location.hash);
  if (match) openRun(decodeURIComponent(match[1]));
  setInterval(() => {
    if (document.hidden) return;
    loadRuns();
    loadHealth();
  }, 15000);
}

document.addEventListener("DOMContentLoaded", init);
