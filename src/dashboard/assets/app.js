// Dusk dashboard: one script for every page. The status page draws the frames the
// scheduler pushes over /api/live; the other pages poll their /api/ endpoint.
// What was drawn last is kept in window.duskView, for people debugging and for tests.
"use strict";

const page = document.body.dataset.page;
const view = (window.duskView = {
  page, frames: 0, workers: [], groups: [], streamBars: 0, streamRows: 0,
  assignments: 0, transfers: 0, errors: [], lastUpdate: 0,
});
window.addEventListener("error", (e) => view.errors.push(String(e.message)));

// ----- helpers -------------------------------------------------------------------------

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}
function fmtNum(n) { return Math.round(n).toLocaleString("en-US"); }
function fmtMs(ms) {
  if (ms < 1) return (ms * 1000).toFixed(0) + " µs";
  if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + " ms";
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
}
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
const colors = new Map();
function colorFor(group) {
  let c = colors.get(group);
  if (!c) {
    let h = 2166136261;
    for (let i = 0; i < group.length; i++) { h ^= group.charCodeAt(i); h = Math.imul(h, 16777619); }
    c = `hsl(${(h >>> 0) % 360}, 62%, 52%)`;
    colors.set(group, c);
  }
  return c;
}
async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}
function setConnection(text, live) {
  const el = document.getElementById("connection");
  el.textContent = text;
  el.classList.toggle("live", live);
}
function fitCanvas(canvas, height) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = height + "px";
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}
function bar(segments, total) {
  const parts = segments
    .filter(([, n]) => n > 0 && total > 0)
    .map(([cls, n, title]) => `<span class="seg-${cls}" style="width:${(100 * n / total).toFixed(2)}%" title="${esc(title || cls)}: ${fmtNum(n)}"></span>`);
  return `<div class="bar">${parts.join("")}</div>`;
}
function poll(load, everyMs) {
  const run = async () => {
    try {
      await load();
      setConnection("updated " + new Date().toLocaleTimeString(), true);
      view.lastUpdate = Date.now();
    } catch (e) {
      setConnection("scheduler unreachable, retrying", false);
    }
    setTimeout(run, everyMs);
  };
  run();
}
function summary(tasks, workers) {
  const threads = workers.reduce((n, w) => n + w.threads, 0);
  document.getElementById("summary").textContent =
    `${workers.length} workers · ${threads} threads · processing ${fmtNum(tasks.processing)} · ` +
    `waiting ${fmtNum(tasks.waiting + tasks.queued + tasks.no_worker)} · in memory ${fmtNum(tasks.memory)} · erred ${fmtNum(tasks.erred)}`;
}

// ----- status page ---------------------------------------------------------------------

const STREAM_WINDOW_MS = 20000;
const ROW_HEIGHT = 14;
const status = {
  frame: null, clockOffset: 0, runs: [], lanes: new Map(), rates: [], prev: null,
  pulses: [], positions: new Map(),
};

function startStatus() {
  document.getElementById("status-page").hidden = false;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/live?interval=250`);
    socket.onopen = () => setConnection("live", true);
    socket.onmessage = (message) => onFrame(JSON.parse(message.data));
    socket.onclose = () => {
      setConnection("disconnected, reconnecting…", false);
      setTimeout(connect, 1000);
    };
  };
  connect();
  const stream = document.getElementById("task-stream");
  stream.addEventListener("mousemove", (e) => hoverStream(e, stream));
  stream.addEventListener("mouseleave", () => { document.getElementById("tooltip").hidden = true; });
  const draw = () => {
    if (status.frame) { drawMap(); drawStream(); }
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
}

function onFrame(frame) {
  const now = Date.now();
  status.clockOffset = frame.now_ms - now;
  const prev = status.prev;
  if (prev) {
    const dt = (frame.now_ms - prev.now_ms) / 1000;
    if (dt > 0) status.rates.push({ t: frame.now_ms, rate: (frame.finished_total - prev.finished_total) / dt });
    while (status.rates.length > 240) status.rates.shift();
    queuePulses(prev, frame);
  }
  status.prev = frame;
  status.frame = frame;
  for (const run of frame.runs) placeRun(run, frame.workers);
  const cutoff = frame.now_ms - STREAM_WINDOW_MS;
  status.runs = status.runs.filter((r) => r.start_ms + r.duration_ms >= cutoff);
  view.frames++;
  view.lastUpdate = now;
  view.workers = frame.workers.map((w) => w.name);
  summary(frame.tasks, frame.workers);
  drawProgress(frame.groups);
  drawMemory(frame.workers);
  drawThroughput();
}

// Each run goes to the first of its worker's thread lanes that is free at its start.
function placeRun(run, workers) {
  const worker = workers.find((w) => w.name === run.worker);
  const threads = worker ? worker.threads : 1;
  let lanes = status.lanes.get(run.worker);
  if (!lanes || lanes.length !== threads) { lanes = new Array(threads).fill(0); status.lanes.set(run.worker, lanes); }
  let lane = lanes.findIndex((end) => end <= run.start_ms + 0.05);
  if (lane < 0) lane = lanes.indexOf(Math.min(...lanes));
  lanes[lane] = run.start_ms + run.duration_ms;
  run.lane = lane;
  status.runs.push(run);
  if (status.runs.length > 50000) status.runs.splice(0, status.runs.length - 50000);
}

function streamRows() {
  const rows = [];
  for (const w of [...status.frame.workers].sort((a, b) => a.name.localeCompare(b.name))) {
    for (let t = 0; t < w.threads; t++) rows.push({ worker: w.name, lane: t });
  }
  return rows;
}

function drawStream() {
  const canvas = document.getElementById("task-stream");
  const rows = streamRows();
  const height = Math.max(60, rows.length * ROW_HEIGHT + 24);
  const { ctx, width } = fitCanvas(canvas, height);
  const left = 110;
  const end = Date.now() + status.clockOffset;
  const start = end - STREAM_WINDOW_MS;
  const x = (t) => left + ((t - start) / STREAM_WINDOW_MS) * (width - left);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  const rowOf = new Map();
  rows.forEach((r, i) => {
    rowOf.set(r.worker + "#" + r.lane, i);
    if (i % 2 === 0) { ctx.fillStyle = "#f7f8fa"; ctx.fillRect(left, i * ROW_HEIGHT, width - left, ROW_HEIGHT); }
    if (r.lane === 0) { ctx.fillStyle = "#6b7383"; ctx.fillText(r.worker, 4, i * ROW_HEIGHT + 11); }
  });
  let drawn = 0;
  for (const run of status.runs) {
    const row = rowOf.get(run.worker + "#" + run.lane);
    if (row === undefined || run.start_ms + run.duration_ms < start) continue;
    const x0 = Math.max(left, x(run.start_ms));
    const w = Math.max(1, x(run.start_ms + run.duration_ms) - x0);
    ctx.fillStyle = colorFor(run.group);
    ctx.fillRect(x0, row * ROW_HEIGHT + 1, w, ROW_HEIGHT - 2);
    drawn++;
  }
  ctx.fillStyle = "#6b7383";
  const axis = rows.length * ROW_HEIGHT + 16;
  for (let s = 0; s <= STREAM_WINDOW_MS / 1000; s += 5) {
    const t = end - s * 1000;
    ctx.fillText(s === 0 ? "now" : `-${s}s`, x(t) - 10, axis);
  }
  view.streamBars = drawn;
  view.streamRows = rows.length;
  document.getElementById("stream-hint").textContent = `${fmtNum(drawn)} tasks in the last ${STREAM_WINDOW_MS / 1000} s · one row per worker thread`;
}

function hoverStream(e, canvas) {
  const tip = document.getElementById("tooltip");
  if (!status.frame) return;
  const rect = canvas.getBoundingClientRect();
  const px = e.clientX - rect.left, py = e.clientY - rect.top;
  const rows = streamRows();
  const row = rows[Math.floor(py / ROW_HEIGHT)];
  const left = 110, width = rect.width;
  const end = Date.now() + status.clockOffset;
  const t = end - STREAM_WINDOW_MS + ((px - left) / (width - left)) * STREAM_WINDOW_MS;
  const slack = (2 / (width - left)) * STREAM_WINDOW_MS;
  const run = row && status.runs.find((r) => r.worker === row.worker && r.lane === row.lane &&
    r.start_ms - slack <= t && t <= r.start_ms + r.duration_ms + slack);
  if (!run) { tip.hidden = true; return; }
  tip.textContent = `${run.key}\n${fmtMs(run.duration_ms)} on ${run.worker}\n${fmtBytes(run.nbytes)}`;
  tip.style.left = (px + 20) + "px";
  tip.style.top = (canvas.offsetTop + py + 10) + "px";
  tip.hidden = false;
}

function drawProgress(groups) {
  const shown = groups.filter((g) => g.total > 0).slice(-40);
  view.groups = shown.map((g) => g.name);
  document.getElementById("progress").innerHTML = shown.length === 0
    ? '<p class="hint">No tasks yet.</p>'
    : shown.map((g) => {
      const waiting = g.waiting + g.queued + g.no_worker + g.released;
      const done = Math.min(g.memory + g.forgotten_done, g.total);
      return `<div class="bar-row" data-group="${esc(g.name)}" data-total="${g.total}" data-done="${done}" data-processing="${g.processing}">` +
        `<span class="name" title="${esc(g.name)}">${esc(g.name)}</span>` +
        bar([["done", done, "done"], ["processing", g.processing], ["waiting", waiting], ["erred", g.erred]], g.total) +
        `<span class="counts">${fmtNum(done)} / ${fmtNum(g.total)}${g.erred ? ` · ${fmtNum(g.erred)} erred` : ""}</span></div>`;
    }).join("");
}

function drawMemory(workers) {
  const limit = Math.max(1, ...workers.map((w) => Math.max(w.memory_limit_bytes, w.rss_bytes + w.spilled_bytes)));
  document.getElementById("memory").innerHTML = workers.map((w) => {
    const managed = Math.min(w.managed_bytes, w.rss_bytes || w.managed_bytes);
    const html = bar([["managed", managed], ["unmanaged", w.unmanaged_bytes], ["spilled", w.spilled_bytes]], limit);
    return `<div class="bar-row" data-worker="${esc(w.name)}"><span class="name">${esc(w.name)}</span>` +
      html.replace('class="bar"', `class="bar${w.paused ? " paused" : ""}"`) +
      `<span class="counts">${fmtBytes(w.rss_bytes)} / ${fmtBytes(w.memory_limit_bytes)}</span></div>`;
  }).join("");
}

function drawThroughput() {
  const canvas = document.getElementById("throughput");
  const { ctx, width, height } = fitCanvas(canvas, 140);
  ctx.clearRect(0, 0, width, height);
  const rates = status.rates;
  const latest = rates.length ? rates[rates.length - 1].rate : 0;
  document.getElementById("rate").textContent = `${fmtNum(latest)} tasks/s`;
  if (rates.length < 2) return;
  const max = Math.max(1, ...rates.map((r) => r.rate));
  ctx.strokeStyle = "#3a7bd5";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  rates.forEach((r, i) => {
    const px = (i / (rates.length - 1)) * width, py = height - 14 - (r.rate / max) * (height - 24);
    if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  });
  ctx.stroke();
  ctx.fillStyle = "#6b7383";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(`max ${fmtNum(max)}/s`, 4, 11);
}

// New assignments and transfers since the last frame become dots travelling the map.
function queuePulses(prev, frame) {
  const now = performance.now();
  const before = new Map(prev.workers.map((w) => [w.name, w.assigned_total]));
  for (const w of frame.workers) {
    const n = w.assigned_total - (before.get(w.name) ?? w.assigned_total);
    if (n > 0) {
      view.assignments += n;
      for (let i = 0; i < Math.min(n, 6); i++) status.pulses.push({ from: null, to: w.name, born: now + i * 40, kind: "assign" });
    }
  }
  const flows = new Map(prev.transfers.map((t) => [t.from + ">" + t.to, t.count]));
  for (const t of frame.transfers) {
    const n = t.count - (flows.get(t.from + ">" + t.to) ?? 0);
    if (n > 0) {
      view.transfers += n;
      for (let i = 0; i < Math.min(n, 4); i++) status.pulses.push({ from: t.from, to: t.to, born: now + i * 60, kind: "transfer" });
    }
  }
  if (status.pulses.length > 400) status.pulses.splice(0, status.pulses.length - 400);
}

function drawMap() {
  const canvas = document.getElementById("cluster-map");
  const { ctx, width, height } = fitCanvas(canvas, 360);
  const workers = [...status.frame.workers].sort((a, b) => a.name.localeCompare(b.name));
  const cx = width / 2, cy = height / 2, radius = Math.min(width, height) / 2 - 50;
  status.positions.clear();
  workers.forEach((w, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, workers.length);
    status.positions.set(w.name, { x: cx + radius * Math.cos(angle), y: cy + radius * Math.sin(angle), w });
  });
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#e2e5ea";
  for (const { x, y } of status.positions.values()) { ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(x, y); ctx.stroke(); }
  const now = performance.now();
  status.pulses = status.pulses.filter((p) => now - p.born < 900);
  for (const p of status.pulses) {
    const t = (now - p.born) / 900;
    if (t < 0) continue;
    const to = status.positions.get(p.to);
    const from = p.from ? status.positions.get(p.from) : { x: cx, y: cy };
    if (!to || !from) continue;
    if (p.kind === "transfer") {
      ctx.strokeStyle = "rgba(232,159,60,0.35)";
      ctx.beginPath(); ctx.moveTo(from.x, from.y); ctx.lineTo(to.x, to.y); ctx.stroke();
    }
    ctx.fillStyle = p.kind === "transfer" ? "#e89f3c" : "#2bb673";
    ctx.beginPath();
    ctx.arc(from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t, 3, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.fillStyle = "#1d2330";
  ctx.beginPath(); ctx.arc(cx, cy, 30, 0, 2 * Math.PI); ctx.fill();
  ctx.fillStyle = "#fff"; ctx.font = "11px system-ui, sans-serif"; ctx.fillText("scheduler", cx, cy + 4);
  ctx.font = "12px system-ui, sans-serif";
  for (const { x, y, w } of status.positions.values()) {
    const busy = w.threads ? Math.min(1, w.executing / w.threads) : 0;
    ctx.fillStyle = "#fff"; ctx.strokeStyle = "#3a7bd5"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 18, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    ctx.fillStyle = "#2bb673";
    ctx.beginPath(); ctx.moveTo(x, y); ctx.arc(x, y, 16, -Math.PI / 2, -Math.PI / 2 + busy * 2 * Math.PI); ctx.fill();
    ctx.fillStyle = "#1d2330";
    ctx.fillText(w.name, x, y + 32);
    ctx.fillStyle = "#6b7383";
    ctx.fillText(`${w.processing} tasks · ${w.cpu_percent.toFixed(0)}% cpu`, x, y + 45);
  }
  ctx.textAlign = "start";
  view.mapWorkers = workers.length;
}

// ----- workers ----------------------------------------------------------------------------

function startWorkers() {
  document.getElementById("workers-page").hidden = false;
  poll(async () => {
    const workers = await getJson("/api/workers");
    view.workers = workers.map((w) => w.name);
    document.getElementById("workers-table").innerHTML =
      "<tr><th>Worker</th><th>Address</th><th class=num>Threads</th><th class=num>Memory</th><th class=num>Limit</th>" +
      "<th class=num>Tasks</th><th class=num>Held</th><th class=num>CPU</th><th class=num>Spilled</th><th class=num>Last heartbeat</th></tr>" +
      workers.map((w) => `<tr data-worker="${esc(w.name)}"><td><a href="/workers/${encodeURIComponent(w.name)}">${esc(w.name)}</a></td>` +
        `<td>${esc(w.address)}</td><td class=num>${w.threads}</td><td class=num>${fmtBytes(w.rss_bytes)}</td>` +
        `<td class=num>${fmtBytes(w.memory_limit_bytes)}</td><td class=num>${fmtNum(w.processing)}</td><td class=num>${fmtNum(w.holding)}</td>` +
        `<td class=num>${w.cpu_percent.toFixed(0)}%</td><td class=num>${fmtBytes(w.spilled_bytes)}</td><td class=num>${fmtMs(w.last_seen_ms)} ago</td></tr>`).join("");
  }, 2000);
}

function startWorker() {
  document.getElementById("worker-page").hidden = false;
  const name = document.body.dataset.title;
  document.getElementById("worker-title").textContent = name;
  poll(async () => {
    const d = await getJson("/api/workers/" + encodeURIComponent(name));
    const w = d.worker;
    const facts = [["Address", w.address], ["Process", w.pid], ["Threads", w.threads], ["Executing", w.executing],
      ["Assigned, not done", fmtNum(w.processing)], ["Results held", fmtNum(w.holding)],
      ["Memory (resident)", fmtBytes(w.rss_bytes)], ["Managed", fmtBytes(w.managed_bytes)], ["Spilled", fmtBytes(w.spilled_bytes)],
      ["Limit", fmtBytes(w.memory_limit_bytes)], ["CPU", w.cpu_percent.toFixed(0) + "%"], ["Fetched from peers", fmtBytes(w.fetched_bytes)],
      ["Paused", w.paused ? "yes (memory)" : "no"], ["Last heartbeat", fmtMs(w.last_seen_ms) + " ago"]];
    document.getElementById("worker-facts").innerHTML = facts.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join("");
    document.getElementById("worker-tasks").innerHTML = runsTable(d.recent, false);
  }, 2000);
}

function runsTable(runs, withWorker) {
  return `<tr><th>Key</th>${withWorker ? "<th>Worker</th>" : ""}<th>Started</th><th class=num>Duration</th><th class=num>Result</th></tr>` +
    runs.map((r) => `<tr><td class=key><i class="sw" style="background:${colorFor(r.group)}"></i>${esc(r.key)}</td>` +
      (withWorker ? `<td><a href="/workers/${encodeURIComponent(r.worker)}">${esc(r.worker)}</a></td>` : "") +
      `<td>${new Date(r.start_ms).toLocaleTimeString()}</td><td class=num>${fmtMs(r.duration_ms)}</td><td class=num>${fmtBytes(r.nbytes)}</td></tr>`).join("");
}

// ----- tasks ------------------------------------------------------------------------------

function startTasks() {
  document.getElementById("tasks-page").hidden = false;
  const input = document.getElementById("tasks-prefix");
  input.value = new URLSearchParams(location.search).get("prefix") || "";
  document.getElementById("tasks-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    location.search = "?prefix=" + encodeURIComponent(input.value);
  });
  poll(async () => {
    const runs = await getJson("/api/tasks?limit=500&prefix=" + encodeURIComponent(input.value));
    view.tasks = runs.length;
    document.getElementById("tasks-table").innerHTML = runsTable(runs, true);
  }, 3000);
}

// ----- queries ----------------------------------------------------------------------------

function startQueries() {
  document.getElementById("queries-page").hidden = false;
  poll(async () => {
    const queries = await getJson("/api/queries");
    view.queries = queries.map((q) => q.id);
    document.getElementById("queries").innerHTML = queries.length === 0
      ? '<p class="hint">No SQL queries yet.</p>'
      : queries.map(queryHtml).join("");
  }, 1000);
}

function queryHtml(q) {
  const depth = [];
  for (const s of q.stages) depth[s.id] = s.inputs.length ? 1 + Math.max(...s.inputs.map((i) => depth[i] || 0)) : 0;
  const stages = q.stages.map((s) => {
    const g = q.progress[s.prefix];
    const done = q.state === "finished" ? s.partitions : g ? Math.min(s.partitions, g.memory + g.forgotten_done) : 0;
    const processing = g ? g.processing : 0;
    const erred = g ? g.erred : 0;
    const reads = s.inputs.length ? `reads ${s.inputs.map((i) => "stage " + i).join(", ")}` : "reads files";
    return `<div class="stage" data-stage="${s.id}" data-done="${done}" data-tasks="${s.partitions}" style="order:${depth[s.id]}" title="${esc(s.plan)}">` +
      `<b>stage ${s.id}</b> ${esc(s.name)}<br><span class="hint">${s.partitions} tasks · ${reads}` +
      (g ? ` · ${fmtMs(g.compute_ms)} compute · ${fmtBytes(g.nbytes)} out` : "") + `</span>` +
      bar([["done", done], ["processing", processing], ["erred", erred], ["waiting", Math.max(0, s.partitions - done - processing - erred)]], s.partitions) +
      `</div>`;
  }).join("");
  return `<div class="query" data-query="${esc(q.id)}" data-state="${q.state}">` +
    `<span class="state ${q.state}">${q.state}</span> <b>${esc(q.id)}</b> · ${fmtMs(q.duration_ms)} · started ${new Date(q.started_unix_ms).toLocaleTimeString()}` +
    `<pre>${esc(q.text)}</pre>` + (q.error ? `<div class="error">${esc(q.error)}</div>` : "") +
    (stages ? `<div class="stages">${stages}</div>` : '<span class="hint">ran on the scheduler</span>') + `</div>`;
}

// ----- graph ------------------------------------------------------------------------------

const STATE_COLORS = { released: "#c9ced6", waiting: "#c9ced6", queued: "#9fb8de", "no-worker": "#e0474c",
  processing: "#2bb673", memory: "#3a7bd5", erred: "#e0474c" };

function startGraph() {
  document.getElementById("graph-page").hidden = false;
  poll(async () => {
    const graph = await getJson("/api/graph");
    view.graphTasks = graph.tasks;
    if (graph.detailed) drawTaskGraph(graph); else drawGroupGraph(graph);
  }, 2000);
}

function layers(count, depsOf) {
  const depth = new Array(count).fill(-1);
  const visit = (i, guard) => {
    if (depth[i] >= 0) return depth[i];
    if (guard > count) return 0;
    const deps = depsOf(i);
    depth[i] = deps.length ? 1 + Math.max(...deps.map((d) => visit(d, guard + 1))) : 0;
    return depth[i];
  };
  for (let i = 0; i < count; i++) visit(i, 0);
  return depth;
}

function drawLayered(items, depsOf, label, color, hint) {
  const canvas = document.getElementById("graph");
  const depth = layers(items.length, depsOf);
  const columns = [];
  depth.forEach((d, i) => (columns[d] = columns[d] || []).push(i));
  const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const height = Math.min(4000, Math.max(200, tallest * 26 + 40));
  const { ctx, width } = fitCanvas(canvas, height);
  ctx.clearRect(0, 0, width, height);
  const pos = [];
  const colWidth = width / Math.max(1, columns.length);
  columns.forEach((col, d) => (col || []).forEach((i, row) => {
    pos[i] = { x: colWidth * d + colWidth / 2, y: 20 + (row + 0.5) * ((height - 40) / col.length) };
  }));
  ctx.strokeStyle = "rgba(100,110,130,0.35)";
  items.forEach((_, i) => depsOf(i).forEach((d) => {
    if (!pos[d] || !pos[i]) return;
    ctx.beginPath(); ctx.moveTo(pos[d].x, pos[d].y); ctx.lineTo(pos[i].x, pos[i].y); ctx.stroke();
  }));
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  items.forEach((item, i) => {
    ctx.fillStyle = color(item);
    ctx.beginPath(); ctx.arc(pos[i].x, pos[i].y, 6, 0, 2 * Math.PI); ctx.fill();
    if (items.length <= 60 || columns[depth[i]].length <= 12) { ctx.fillStyle = "#1d2330"; ctx.fillText(label(item), pos[i].x, pos[i].y - 9); }
  });
  ctx.textAlign = "start";
  document.getElementById("graph-hint").textContent = hint;
}

function drawTaskGraph(graph) {
  view.graphNodes = graph.nodes.length;
  drawLayered(graph.nodes, (i) => graph.nodes[i].deps, (n) => n.key, (n) => STATE_COLORS[n.state] || "#999",
    `${fmtNum(graph.tasks)} tasks, each drawn · colour: state`);
}

function drawGroupGraph(graph) {
  const index = new Map(graph.groups.map((g, i) => [g.name, i]));
  const deps = graph.groups.map(() => []);
  for (const e of graph.edges) {
    const from = index.get(e.from), to = index.get(e.to);
    if (from !== undefined && to !== undefined && from !== to) deps[to].push(from);
  }
  view.graphNodes = graph.groups.length;
  drawLayered(graph.groups, (i) => deps[i], (g) => `${g.name} (${fmtNum(g.total)})`, (g) => colorFor(g.name),
    `${fmtNum(graph.tasks)} tasks, summarised as ${graph.groups.length} groups`);
}

// ----- start --------------------------------------------------------------------------------

({ status: startStatus, workers: startWorkers, worker: startWorker, tasks: startTasks, queries: startQueries, graph: startGraph }[page] || startStatus)();
