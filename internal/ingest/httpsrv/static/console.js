// event-grpc status page: polls /admin/status for the current state and
// /admin/history for the charts (kept by the server: the last hour per
// second, the last day per minute), and draws them. No libraries, no
// build step.
"use strict";
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (x) => Number.isInteger(x) ? x.toLocaleString("en") : x >= 1000 ? Math.round(x).toLocaleString("en") : x >= 10 ? x.toFixed(0) : x.toFixed(x === 0 ? 0 : 1);
const age = (ns) => ns < 0 ? "?" : ns === 0 ? "–" : ns < 1e9 ? (ns / 1e6).toFixed(0) + " ms" : ns < 60e9 ? (ns / 1e9).toFixed(1) + " s" : (ns / 60e9).toFixed(1) + " min";
const fmtB = (b) => { if (!(b >= 0)) return "?"; const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; } return (i ? b.toFixed(b >= 100 ? 0 : 1) : b) + " " + u[i]; };
const CHARTS = ["received", "accepted", "rejected", "refused", "lag", "dead"];
const RANGE = { "1s": 3600, "1m": 1440 };
// The server's history: series of equal length, oldest first, one point
// per step from start (unix seconds); null where there was no sample.
const hist = { res: "1s", start: 0, end: 0, step: 1, series: null, error: "" };
let prev = null;
const dlSamples = {}; // queue → {count, html, at}
const replaying = {};
const accGaps = []; // received minus its right side, last polls

// spark draws values (null: no sample, drawn as 0) as a filled line in an
// SVG element, scaled to its max; the element's data-max and data-points
// say what it shows.
function spark(svg, raw, color) {
  const w = 100, h = 40, n = raw.length;
  const values = raw.map((v) => v || 0);
  const max = values.reduce((m, v) => Math.max(m, v), 1e-9);
  svg.dataset.max = String(values.reduce((m, v) => Math.max(m, v), 0));
  svg.dataset.points = String(raw.filter((v) => v !== null).length);
  const x = (i) => (i * w) / Math.max(1, n - 1);
  const pts = values.map((v, i) => `${x(i).toFixed(2)},${(h - 2 - (v / max) * (h - 6)).toFixed(2)}`);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const line = pts.join(" ");
  const first = n ? x(0).toFixed(2) : w;
  svg.innerHTML = n ? `<polygon points="${first},${h} ${line} ${w},${h}" fill="${color}" fill-opacity="0.18"/>` +
    `<polyline points="${line}" fill="none" stroke="${color}" stroke-width="1.5" vector-effect="non-scaling-stroke"/>` +
    `<text x="1" y="9" font-size="8" fill="#8b98a5">max ${fmt(max)}</text>` : "";
}

function group(ingest, what, keyf) {
  const out = {};
  for (const c of ingest) if (c.what === what) { const k = keyf(c); out[k] = (out[k] || 0) + c.value; }
  return out;
}
const total = (ingest, what) => ingest.filter((c) => c.what === what).reduce((s, c) => s + c.value, 0);

function rows(tbody, list) { tbody.innerHTML = list.length ? list.join("") : `<tr><td colspan="9" class="note">nothing yet</td></tr>`; }

function render(st) {
  const dt = prev ? Math.max(0.001, (new Date(st.time) - new Date(prev.time)) / 1000) : 0;
  const rate = (cur, old) => (dt && old !== undefined ? Math.max(0, (cur - old) / dt) : 0);
  $("version").textContent = st.version;
  $("updated").textContent = new Date(st.time).toLocaleTimeString();
  const rd = $("ready");
  rd.textContent = st.ready ? "READY" : "NOT READY";
  rd.className = "badge " + (st.ready ? "ok" : "bad");
  $("why").textContent = st.ready ? "" : st.why;

  for (const what of ["received", "accepted", "rejected", "refused"]) {
    const r = rate(total(st.ingest, what), prev ? total(prev.ingest, what) : undefined);
    $("r-" + what).textContent = fmt(r);
  }
  const work = st.queues.filter((q) => !q.error_queue);
  const lag = Math.max(0, ...work.map((q) => (q.oldest_age_ns > 0 ? q.oldest_age_ns / 1e9 : 0)));
  const dead = st.queues.filter((q) => q.error_queue).reduce((s, q) => s + Math.max(0, q.messages), 0);
  $("r-lag").textContent = lag.toFixed(1);
  $("r-dead").textContent = fmt(dead);
  $("logout").hidden = !st.session;
  renderDisk(st.disk);
  renderRejections(st.rejections || []);

  // Sources.
  const per = {};
  for (const what of ["received", "accepted", "rejected", "refused"]) {
    const cur = group(st.ingest, what, (c) => c.source), old = prev ? group(prev.ingest, what, (c) => c.source) : {};
    for (const s in cur) { per[s] = per[s] || {}; per[s][what] = rate(cur[s], prev ? old[s] || 0 : undefined); per[s][what + "_t"] = cur[s]; }
  }
  rows($("t-sources").tBodies[0], Object.keys(per).sort().map((s) => { const p = per[s];
    return `<tr><td>${esc(s)}</td><td class="n">${fmt(p.received || 0)}</td><td class="n">${fmt(p.accepted || 0)}</td><td class="n">${fmt(p.rejected || 0)}</td><td class="n">${fmt(p.refused || 0)}</td><td class="n">${fmt(p.accepted_t || 0)}</td></tr>`; }));
  const byType = group(st.ingest, "accepted", (c) => c.type + "\u0000" + c.source), oldType = prev ? group(prev.ingest, "accepted", (c) => c.type + "\u0000" + c.source) : {};
  rows($("t-types").tBodies[0], Object.keys(byType).sort((a, b) => byType[b] - byType[a]).slice(0, 15).map((k) => { const [t, s] = k.split("\u0000");
    return `<tr><td>${esc(t)}</td><td>${esc(s)}</td><td class="n">${fmt(rate(byType[k], prev ? oldType[k] || 0 : undefined))}</td><td class="n">${fmt(byType[k])}</td></tr>`; }));
  const reasons = {}, oldReasons = {};
  for (const what of ["rejected", "refused"]) {
    Object.assign(reasons, group(st.ingest, what, (c) => what + ": " + c.reason + "\u0000" + c.source));
    if (prev) Object.assign(oldReasons, group(prev.ingest, what, (c) => what + ": " + c.reason + "\u0000" + c.source));
  }
  rows($("t-reasons").tBodies[0], Object.keys(reasons).filter((k) => reasons[k] > 0).sort((a, b) => reasons[b] - reasons[a]).map((k) => { const [r, s] = k.split("\u0000");
    return `<tr><td>${esc(r)}</td><td>${esc(s)}</td><td class="n">${fmt(rate(reasons[k], prev ? oldReasons[k] || 0 : undefined))}</td><td class="n">${fmt(reasons[k])}</td></tr>`; }));

  // Accounting. Under load, requests in flight make received run ahead of
  // its right side for a moment; the books are out of balance only when the
  // gap never closes for 30 s (15 polls), or the right side runs ahead.
  const t = st.accounting.totals, okAcc = t.accepted_equals_stored_plus_dead_lettered_plus_in_flight;
  const gap = t.received - (t.accepted + t.duplicate + t.rejected);
  accGaps.push(gap); if (accGaps.length > 15) accGaps.shift();
  const okRecv = gap === 0, stuck = gap < 0 || (accGaps.length === 15 && Math.min(...accGaps) > 0);
  const mark = $("acc-mark");
  mark.textContent = !okAcc || stuck ? "OUT OF BALANCE" : okRecv ? "BALANCED" : `IN FLIGHT (${fmt(gap)})`;
  mark.className = "badge " + (!okAcc || stuck ? "bad" : okRecv ? "ok" : "warn");
  const id = (ok, text, l, r) => `<tr class="${ok ? "" : "alert"}"><td>${ok ? "✔" : "✘"} ${text}</td><td class="n">${fmt(l)}</td><td class="n">${fmt(r)}</td></tr>`;
  $("t-acc").tBodies[0].innerHTML =
    `<tr><th>identity</th><th class="n">left</th><th class="n">right</th></tr>` +
    id(!stuck, "received = accepted + duplicate + rejected" + (okRecv || stuck ? "" : " (requests in flight)"), t.received, t.accepted + t.duplicate + t.rejected) +
    id(okAcc, "accepted = stored + dead-lettered + in flight", t.accepted, t.stored + t.dead_lettered + t.in_flight) +
    `<tr><td class="note" colspan="3">catch-all queue ${esc(st.accounting.queue || "none")} · stored ${fmt(t.stored)} · dead-lettered ${fmt(t.dead_lettered)} · in flight ${fmt(t.in_flight)} · retried ${fmt(t.retried)}</td></tr>`;

  // Tables.
  const oldTab = {};
  if (prev) for (const x of prev.tables) oldTab[x.table] = x;
  rows($("t-tables").tBodies[0], st.tables.map((x) => { const o = oldTab[x.table];
    const dw = o ? x.writes - o.writes : 0, ms = dw > 0 ? ((x.write_seconds - o.write_seconds) / dw) * 1000 : x.writes ? (x.write_seconds / x.writes) * 1000 : 0;
    const bad = x.rows_failed > 0 || x.sink_errors > 0;
    return `<tr class="${bad ? "alert" : ""}"><td>${esc(x.table)}</td><td class="n">${fmt(rate(x.rows_stored, o ? o.rows_stored : undefined))}</td><td class="n">${ms.toFixed(1)}</td><td class="n">${fmt(rate(x.held, o ? o.held : undefined))}</td><td class="n">${fmt(x.rows_failed)}</td><td class="n">${fmt(x.sink_errors)}</td></tr>`; }));

  // Queues: the work queues, with their error queue's count beside them.
  $("queues-error").textContent = st.queues_error || "";
  const errOf = {};
  for (const q of st.queues) if (q.error_queue) errOf[q.of] = q;
  const weight = (q) => (errOf[q.queue] ? Math.max(0, errOf[q.queue].messages) : 0) * 1e9 + Math.max(0, q.messages);
  rows($("t-queues").tBodies[0], work.slice().sort((a, b) => weight(b) - weight(a)).map((q) => {
    const e = errOf[q.queue], dl = e ? e.messages : 0;
    const full = q.bytes >= 0 && q.max_bytes > 0 ? q.bytes / q.max_bytes : -1;
    const bytes = q.max_bytes > 0 ? `<span class="qb">${fmtB(q.bytes)} / ${fmtB(q.max_bytes)}</span>` +
      (full >= 0 ? ` <span class="pct">${(100 * full).toFixed(1)}%</span><div class="bar${full >= 0.8 ? " hot" : ""}"><div style="width:${Math.min(100, 100 * full).toFixed(1)}%"></div></div>` : "") : "?";
    return `<tr class="${dl > 0 || full >= 0.8 ? "alert" : ""}"><td>${esc(q.queue)}</td><td class="n">${fmt(Math.max(0, q.messages))}</td><td class="n qbytes"${q.bytes < 0 ? ` title="the broker does not report this queue's bytes (RabbitMQ over AMQP): only its cap is shown"` : ""}>${bytes}</td><td class="n">${q.unacked < 0 ? "?" : fmt(q.unacked)}</td><td class="n">${q.consumers}</td><td class="n">${age(q.oldest_age_ns)}</td><td class="n">${fmt((st.consumed[q.queue] || {}).failed || 0)}</td><td class="n">${fmt(dl)}</td></tr>`; }));
  renderDead(st);
  prev = st;
}

function renderDisk(d) {
  const box = $("disk");
  if (!d) { box.innerHTML = `<p class="note">not measured</p>`; return; }
  const pct = d.used + d.free > 0 ? d.used / (d.used + d.free) : 0;
  box.innerHTML = `<div>${esc(d.path)} · used <b id="disk-used">${fmtB(d.used)}</b> · free <b id="disk-free">${fmtB(d.free)}</b> of ${fmtB(d.size)} · <b id="disk-pct" class="${pct >= 0.85 ? "why" : ""}">${(100 * pct).toFixed(1)}%</b> used</div>` +
    `<div class="bar${pct >= 0.85 ? " hot" : ""}"><div style="width:${(100 * pct).toFixed(1)}%"></div></div>`;
}

function renderRejections(list) {
  const box = $("rejections");
  if (!list.length) { box.innerHTML = `<p class="note">no rejected events since the start</p>`; return; }
  box.innerHTML = list.slice(0, 10).map((r) => `<div class="rej"><div><span class="note">${new Date(r.time).toLocaleTimeString()} · ${esc(r.source)}</span> <span class="reason">${esc(r.reason)}</span></div><pre>${esc(r.body)}${r.truncated ? "…" : ""}</pre></div>`).join("");
}

// History: the whole ring on load and when the range changes, then the
// last few points at each poll (the newest step may have been incomplete).
async function loadHistory(full) {
  const since = !full && hist.series ? hist.end - 5 * hist.step : 0;
  try {
    const r = await fetch(`/admin/history?res=${hist.res}` + (since > 0 ? `&since=${since}` : ""), { cache: "no-store" });
    if (r.status === 401) { location.href = "/login"; return; }
    const h = await r.json();
    if (!r.ok) throw new Error(h.error || r.status);
    if (full || !hist.series || h.step !== hist.step) {
      Object.assign(hist, { start: h.start, end: h.end, step: h.step, series: h.series });
    } else {
      const n = RANGE[hist.res];
      for (const k in hist.series) {
        const a = hist.series[k];
        for (let t = hist.end + hist.step; t <= h.end; t += hist.step) a.push(null);
      }
      hist.end = Math.max(hist.end, h.end);
      const drop = Math.max(0, hist.series.received.length - n);
      for (const k in hist.series) { hist.series[k].splice(0, drop); }
      hist.start = hist.end - (hist.series.received.length - 1) * hist.step;
      for (const k in h.series) {
        const a = hist.series[k];
        if (!a) continue;
        h.series[k].forEach((v, i) => { const j = (h.start + i * h.step - hist.start) / hist.step; if (j >= 0 && j < a.length) a[j] = v; });
      }
    }
    hist.error = h.error || "";
  } catch (e) { hist.error = "history: " + e.message; }
  drawCharts();
}

function drawCharts() {
  const colors = { received: "#58a6ff", accepted: "#3fb950", rejected: "#d29922", refused: "#f85149", lag: "#a371f7", dead: "#f85149" };
  if (hist.series) for (const k of CHARTS) spark($("c-" + k), hist.series[k] || [], colors[k]);
  $("hist-note").textContent = hist.error || (hist.series ? `${hist.res === "1s" ? "last hour, per second" : "last 24 hours, per minute"} · kept by the server` : "");
}

for (const b of document.querySelectorAll("#range button")) {
  b.onclick = () => {
    hist.res = b.dataset.res;
    for (const o of document.querySelectorAll("#range button")) o.classList.toggle("on", o === b);
    loadHistory(true);
  };
}
$("logout").onclick = async () => {
  await fetch("/logout", { method: "POST", headers: { "X-Requested-By": "event-grpc-console" } });
  location.href = "/login";
};

function renderDead(st) {
  const box = $("dead");
  const dq = st.queues.filter((q) => q.error_queue && q.messages > 0);
  if (!st.dead_letters) { box.innerHTML = `<p class="note">this broker has no dead-letter API</p>`; return; }
  if (!dq.length) { box.innerHTML = `<p class="note">no dead letters</p>`; return; }
  for (const el of [...box.children]) if (!dq.find((q) => el.dataset.queue === q.of)) el.remove();
  if (box.querySelector("p.note")) box.innerHTML = "";
  for (const q of dq) {
    let el = box.querySelector(`[data-queue="${CSS.escape(q.of)}"]`);
    if (!el) {
      el = document.createElement("div");
      el.className = "dl"; el.dataset.queue = q.of;
      el.innerHTML = `<div><span class="count"></span> dead letters in <b>${esc(q.queue)}</b> (of queue <b>${esc(q.of)}</b>) · oldest <span class="age"></span>
        <button class="replay">Replay</button> <span class="state note"></span></div><div class="progress"><div></div></div><pre class="sample">loading sample…</pre>`;
      el.querySelector(".replay").onclick = () => replay(q.of, el);
      box.appendChild(el);
    }
    el.querySelector(".count").textContent = fmt(q.messages);
    el.querySelector(".age").textContent = age(q.oldest_age_ns);
    const s = dlSamples[q.of];
    if (!s || s.count !== q.messages || Date.now() - s.at > 15000) loadSample(q.of, q.messages, el);
  }
}

async function loadSample(queue, count, el) {
  dlSamples[queue] = { count, at: Date.now() };
  try {
    const r = await fetch(`/admin/dlq/${encodeURIComponent(queue)}?limit=3`);
    const l = await r.json();
    if (!r.ok) throw new Error(l.error || r.status);
    el.querySelector(".sample").textContent = l.sample.map((d, i) => {
      const h = Object.keys(d.headers).sort().map((k) => `  ${k}: ${d.headers[k]}`).join("\n");
      const body = d.body.length > 300 ? d.body.slice(0, 300) + "…" : d.body;
      return `#${i + 1} reason: ${d.headers["x-error-reason"] || "?"}\n routing key ${d.routing_key} · exchange ${d.exchange}\n${h}\n body: ${body}`;
    }).join("\n\n") || "(empty)";
  } catch (e) { el.querySelector(".sample").textContent = "sample failed: " + e.message; }
}

// replay moves the queue's dead letters back in chunks, so the page can
// show progress; it stops at the count it started with, so poison that
// comes back to the error queue is not replayed round and round.
async function replay(queue, el) {
  if (replaying[queue]) return;
  const count = dlSamples[queue] ? dlSamples[queue].count : 0;
  if (!confirm(`Replay ${count} dead letter(s) of ${queue} back into ${queue}?`)) return;
  replaying[queue] = true;
  const btn = el.querySelector(".replay"), state = el.querySelector(".state"), bar = el.querySelector(".progress > div");
  btn.disabled = true;
  let done = 0;
  try {
    while (done < count) {
      const r = await fetch(`/admin/dlq/${encodeURIComponent(queue)}/replay?limit=${Math.min(50, count - done)}`, { method: "POST", headers: { "X-Requested-By": "event-grpc-console" } });
      const a = await r.json();
      done += a.replayed || 0;
      bar.style.width = `${Math.min(100, (100 * done) / Math.max(1, count))}%`;
      state.textContent = `replayed ${done} of ${count}`;
      if (a.error) throw new Error(a.error);
      if (!a.replayed) break;
    }
    state.textContent = `replayed ${done} of ${count} · done`;
  } catch (e) { state.textContent = `replayed ${done} of ${count} · failed: ${e.message}`; }
  btn.disabled = false;
  replaying[queue] = false;
  poll();
}

async function poll() {
  try {
    const r = await fetch("/admin/status", { cache: "no-store" });
    if (r.status === 401) { location.href = "/login"; return; }
    const st = await r.json();
    if (!r.ok) throw new Error(st.error || r.status);
    render(st);
  } catch (e) {
    $("ready").textContent = "UNREACHABLE"; $("ready").className = "badge bad"; $("why").textContent = e.message;
  }
}

// Live tail over server-sent events.
let es = null;
const tailLines = [];
$("tail-form").onsubmit = (ev) => {
  ev.preventDefault();
  if (es) es.close();
  const f = new FormData(ev.target), p = new URLSearchParams();
  for (const k of ["type", "source", "where", "sample"]) { const v = (f.get(k) || "").trim(); if (v) p.set(k, v); }
  es = new EventSource("/v1/tail?" + p);
  $("tail-start").disabled = true; $("tail-stop").disabled = false; $("tail-state").textContent = "attaching…";
  es.onopen = () => { $("tail-state").textContent = "attached"; };
  es.onerror = () => { $("tail-state").textContent = "disconnected (retrying)"; };
  es.addEventListener("dropped", (m) => { $("tail-state").textContent = `attached · ${m.data} events not shown (reader too slow)`; });
  es.addEventListener("events", (m) => {
    for (const e of JSON.parse(m.data)) {
      tailLines.push(`${new Date(e.time).toLocaleTimeString()} ${e.source} ${e.type} ${e.id} ${JSON.stringify(e.event)}`);
      if (tailLines.length > 200) tailLines.shift();
    }
    $("tail").textContent = tailLines.slice().reverse().join("\n");
  });
};
$("tail-stop").onclick = () => { if (es) es.close(); es = null; $("tail-start").disabled = false; $("tail-stop").disabled = true; $("tail-state").textContent = "stopped"; };

poll();
loadHistory(true);
setInterval(() => { poll(); loadHistory(false); }, POLL_MS);
