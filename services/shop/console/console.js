// Shop console: one page per hash (#broker, #messages, #dlq, #shop, #order/<id>),
// each refreshed every 2 s while shown. Everything comes from the console server's
// /api routes (the broker's admin API, the services, the audit); nothing else is
// fetched.
"use strict";

const REFRESH_MS = 2000;
const LANES = ["order-svc", "goods-svc", "coupon-svc", "user-svc", "pay-svc", "mq-broker"];
const BAD = ["cancelled", "refused", "unavailable", "dead_letter", "failed", "order_cancelled"];
const COMP = ["compensated", "null_compensation", "compensation", "balance_refunded", "stock_cancelled", "payment_refunded", "revoked"];

const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const time = (ms) => (ms ? new Date(ms).toLocaleString() : "");
const dur = (ms) => (ms == null ? "" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
const enc = encodeURIComponent;

async function api(path, options) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = { message: text }; }
  if (!response.ok) throw new Error(`${response.status} ${body.code ?? ""} ${body.message ?? ""}`.trim());
  return body;
}

function rows(table, html) { $(`${table} tbody`).innerHTML = html.join("") || `<tr><td colspan="9" class="muted">none</td></tr>`; }

// ---- broker -------------------------------------------------------------------
let previous = null;

async function broker() {
  const [topics, groups, halves, delayed] = await Promise.all([
    api("/api/broker/topics"), api("/api/broker/groups"), api("/api/broker/transactions"), api("/api/broker/delayed"),
  ]);
  const now = Date.now();
  const stored = {}, consumed = {};
  for (const t of topics.topics) stored[t.topic] = t.queues.reduce((s, q) => s + q.max_offset, 0);
  for (const g of groups) for (const q of g.queues) consumed[q.topic] = (consumed[q.topic] ?? 0) + q.committed;
  const rate = (now_, before, key) => {
    if (!previous || before[key] == null) return "–";
    const secs = (now - previous.at) / 1000;
    return secs > 0 ? Math.max(0, ((now_[key] ?? 0) - before[key]) / secs).toFixed(1) : "–";
  };
  $("#broker-summary").innerHTML = [
    ["topics", topics.topics.filter((t) => t.kind === "normal").length],
    ["groups", groups.length],
    ["log", `${(topics.log_bytes / 1048576).toFixed(1)} MiB`],
    ["half pending", topics.half_pending],
    ["delayed pending", topics.delayed_pending],
    ["dead letters", groups.reduce((s, g) => s + g.dead_letters, 0)],
  ].map(([k, v]) => `<div class="card"><span class="muted">${k}</span><b>${esc(v)}</b></div>`).join("");
  rows("#topics-table", topics.topics.map((t) => `<tr><td>${esc(t.topic)}</td><td>${esc(t.kind)}</td><td class="num">${t.queues.length}</td>
    <td class="num">${t.messages}</td><td class="num">${rate(stored, previous?.stored ?? {}, t.topic)}</td>
    <td class="num">${rate(consumed, previous?.consumed ?? {}, t.topic)}</td></tr>`));
  previous = { at: now, stored, consumed };
  rows("#groups-table", groups.map((g) => {
    const subs = g.subscriptions.map((s) => `${esc(s.topic)} <span class="muted">${esc(s.tag_expr)}</span>`).join("<br>");
    const members = g.subscriptions.flatMap((s) => s.members).map((m) => `<span class="mono">${esc(m.peer)}</span> (${esc((m.queues || []).join(","))})`).join("<br>");
    const perQueue = g.queues.map((q) => `${esc(q.topic)}#${q.queue}: <b class="${q.lag ? "warn" : ""}">${q.lag}</b>`).join(" · ");
    const dead = g.dead_letters ? `<a class="bad" href="#dlq/${enc(g.group)}">${g.dead_letters}</a>` : "0";
    return `<tr><td>${esc(g.group)}</td><td>${subs}</td><td>${members || '<span class="muted">offline</span>'}</td>
      <td class="num ${g.lag ? "warn" : ""}">${g.lag}</td><td>${perQueue}</td><td class="num">${dead}</td></tr>`;
  }));
  rows("#half-table", halves.halves.map((h) => `<tr><td class="mono">${esc(h.id)}</td><td>${esc(h.producer_group)}</td>
    <td>${dur(h.age_ms)}</td><td class="num">${h.checks}</td><td>${dur(h.next_check_in_ms)}</td></tr>`));
  rows("#delayed-table", delayed.soonest.map((d) => `<tr><td class="mono">${esc(d.id)}</td><td>${esc(d.topic)} / ${esc(d.tag)}</td>
    <td>${esc(d.keys.join(","))}</td><td>${dur(d.due_in_ms)}</td></tr>`));
}

// ---- message search -------------------------------------------------------------
async function search(event) {
  event?.preventDefault();
  const id = $("#search-id").value.trim(), topic = $("#search-topic").value.trim(), key = $("#search-key").value.trim();
  let found;
  try {
    if (id) found = [await api(`/api/broker/messages/${enc(id)}`)];
    else if (topic && key) found = await api(`/api/broker/messages?topic=${enc(topic)}&key=${enc(key)}`);
    else if (topic) {
      const ms = (input) => (input.value ? new Date(input.value).getTime() : null);
      const since = ms($("#search-since")), until = ms($("#search-until"));
      found = await api(`/api/broker/messages?topic=${enc(topic)}${since ? `&since_ms=${since}` : ""}${until ? `&until_ms=${until}` : ""}&limit=100`);
    } else throw new Error("give an id, a topic and key, or a topic (and a time range)");
  } catch (e) {
    rows("#results-table", [`<tr><td colspan="6" class="bad">${esc(e.message)}</td></tr>`]);
    $("#history").innerHTML = "";
    return;
  }
  rows("#results-table", found.map((m) => `<tr><td><a href="#" class="mono history-link" data-id="${esc(m.id)}">${esc(m.id)}</a></td>
    <td>${esc(m.topic)} / ${esc(m.tag)}</td><td>${esc(m.keys.join(","))}</td><td>${time(m.stored_at_ms)}</td>
    <td class="num">${m.attempt}</td><td class="body" title="${esc(m.body)}">${esc(m.body)}</td></tr>`));
  document.querySelectorAll(".history-link").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); history(a.dataset.id); }));
  if (found.length === 1) history(found[0].id); else $("#history").innerHTML = "";
}

async function history(id) {
  const d = await api(`/api/broker/messages/${enc(id)}/deliveries`);
  const cls = (s) => ({ consumed: "ok", dead_letter: "bad", retrying: "warn", pending: "warn" })[s] ?? "muted";
  const groups = d.groups.map((g) => `<tr><td>${esc(g.group)}</td><td>${esc(g.tag_expr ?? "")}</td><td class="${cls(g.state)}">${esc(g.state)}</td>
    <td class="num">${g.attempts}</td><td>${g.retries.map((r) => `#${r.attempt} ${time(r.stored_at_ms)}`).join("<br>")}</td>
    <td>${time(g.dead_letter_at_ms)}</td></tr>`);
  $("#history").innerHTML = `<h2>Delivery history of <span class="mono">${esc(id)}</span></h2>
    <p>${d.deliverable ? `stored ${time(d.stored_at_ms)} in ${esc(d.topic)} queue ${d.queue} at offset ${d.offset}` : `not yet deliverable (held in ${esc(d.store_topic)})`}</p>
    <table id="history-table"><thead><tr><th>group</th><th>tags</th><th>state</th><th>attempts</th><th>retries</th><th>dead letter</th></tr></thead>
    <tbody>${groups.join("") || '<tr><td colspan="6" class="muted">no group consumes this topic</td></tr>'}</tbody></table>`;
}

// ---- dead letters ---------------------------------------------------------------
let dlqGroup = null;

async function dlq(arg) {
  if (arg) dlqGroup = decodeURIComponent(arg);
  const groups = await api("/api/broker/groups");
  groups.sort((a, b) => b.dead_letters - a.dead_letters || a.group.localeCompare(b.group));
  if (!dlqGroup && groups.length) dlqGroup = groups[0].group;
  const select = $("#dlq-group");
  select.innerHTML = groups.map((g) => `<option value="${esc(g.group)}" ${g.group === dlqGroup ? "selected" : ""}>${esc(g.group)} (${g.dead_letters})</option>`).join("");
  if (!dlqGroup) return rows("#dlq-table", []);
  const dead = await api(`/api/broker/dlq/${enc(dlqGroup)}`);
  rows("#dlq-table", dead.map((m) => `<tr><td class="mono">${esc(m.id)}</td><td>${esc(m.topic)} / ${esc(m.tag)}</td><td>${esc(m.keys.join(","))}</td>
    <td class="num">${m.attempt}</td><td>${time(m.stored_at_ms)}</td><td class="body" title="${esc(m.body)}">${esc(m.body)}</td>
    <td><button type="button" class="resend" data-id="${esc(m.id)}">Resend</button></td></tr>`));
  document.querySelectorAll(".resend").forEach((b) => b.addEventListener("click", () => resend(b.dataset.id)));
}

async function resend(id) {
  try {
    const r = await api(`/api/broker/dlq/${enc(dlqGroup)}/${enc(id)}/resend`, { method: "POST" });
    $("#dlq-note").innerHTML = `<span class="ok">resent ${esc(id)} to ${esc(r.group)} (queue ${r.queue}, offset ${r.offset})</span>`;
  } catch (e) {
    $("#dlq-note").innerHTML = `<span class="bad">resend failed: ${esc(e.message)}</span>`;
  }
}

// ---- shop -----------------------------------------------------------------------
let auditShown = false;

async function shop() {
  const [services, orders] = await Promise.all([api("/api/services"), api("/api/orders").catch((e) => ({ error: e.message }))]);
  rows("#services-table", services.map((s) => `<tr><td>${esc(s.service)}</td><td class="mono">${esc(s.url)}</td>
    <td class="${s.healthy ? "ok" : "bad"}">${s.healthy ? "up" : "down"}</td><td class="mono">${esc(s.detail)}</td></tr>`));
  if (orders.error) rows("#orders-table", [`<tr><td colspan="7" class="bad">${esc(orders.error)}</td></tr>`]);
  else rows("#orders-table", orders.map((o) => `<tr><td><a href="#order/${enc(o.order_id)}">${esc(o.order_id)}</a></td><td>${new Date(o.created_at).toLocaleString()}</td>
    <td class="${o.status === "cancelled" ? "bad" : o.status === "confirmed" ? "ok" : "warn"}">${esc(o.status)}</td><td>${esc(o.pay_status)}</td>
    <td class="num">${esc(o.order_amount)}</td><td class="num">${esc(o.pay_amount)}</td><td>${esc(o.cancel_reason ?? "")}</td></tr>`));
  if (!auditShown) { auditShown = true; audit(); }
}

async function audit() {
  $("#audit").innerHTML = '<p class="muted">auditing…</p>';
  try {
    const a = await api("/api/audit");
    $("#audit").innerHTML = `<p class="${a.passed ? "ok" : "bad"}">${a.passed ? "every invariant holds" : `${a.invariants.filter((i) => !i.passed).length} invariant(s) failed`} <span class="muted">(${time(a.at_ms)})</span></p>
      <table id="audit-table"><thead><tr><th></th><th>invariant</th><th>detail</th></tr></thead><tbody>${a.invariants.map((i) =>
        `<tr><td class="${i.passed ? "ok" : "bad"}">${i.passed ? "✓" : "✗"}</td><td>${esc(i.name)}</td><td>${esc(i.detail)}</td></tr>`).join("")}</tbody></table>`;
  } catch (e) {
    $("#audit").innerHTML = `<p class="bad">${esc(e.message)}</p>`;
  }
}

// ---- order timeline -------------------------------------------------------------
let orderId = null;

function eventClass(e) {
  if (COMP.includes(e.outcome) || COMP.includes(e.kind)) return "comp";
  if (BAD.includes(e.outcome) || BAD.includes(e.kind)) return "bad";
  if (e.kind === "order_paid" || e.kind === "payment_paid") return "good";
  return "";
}

function label(e) {
  const d = e.detail || {};
  if (e.kind === "message") return `${d.topic}/${d.tag}`;
  if (e.kind === "call") return `${d.step} ${d.duration_ms} ms`;
  if (e.kind === "consumed") return d.group;
  return e.kind.replaceAll("_", " ");
}

async function order(arg) {
  if (arg) { orderId = decodeURIComponent(arg); $("#order-id").value = orderId; }
  if (!orderId) { $("#timeline-head").innerHTML = '<p class="muted">Pick an order on the Shop page, or type its id.</p>'; return; }
  let t;
  try { t = await api(`/api/orders/${enc(orderId)}/timeline`); } catch (e) {
    $("#timeline-head").innerHTML = `<p class="bad">${esc(e.message)}</p>`; $("#lanes").innerHTML = ""; rows("#events-table", []); return;
  }
  const missing = t.missing.map((m) => `<span class="bad">${esc(m.service)} missing</span> <span class="muted">${esc(m.reason)}</span>`).join("<br>");
  $("#timeline-head").innerHTML = `<p>order <b>${esc(t.order_id)}</b>: ${t.events.length} events,
    ${t.complete ? '<span class="ok">complete</span>' : '<span class="bad">partial</span>'}</p>${missing}`;
  const step = 92;
  const lanes = LANES.map((lane) => {
    const boxes = t.events.map((e, i) => [e, i]).filter(([e]) => e.service === lane).map(([e, i]) =>
      `<div class="ev ${eventClass(e)}" style="left:${i * step + 4}px" title="${esc(JSON.stringify(e.detail, null, 1))}">${esc(label(e))}<small>${esc(e.outcome)} · ${new Date(e.at).toLocaleTimeString()}</small></div>`);
    return `<div class="lane" data-lane="${lane}"><div class="lane-name">${lane}</div><div class="lane-track" style="width:${t.events.length * step + 20}px">${boxes.join("")}</div></div>`;
  });
  $("#lanes").innerHTML = lanes.join("");
  rows("#events-table", t.events.map((e) => `<tr class="${eventClass(e)}"><td>${new Date(e.at).toLocaleTimeString()}.${String(new Date(e.at).getMilliseconds()).padStart(3, "0")}</td>
    <td>${esc(e.service)}</td><td>${esc(e.kind)}</td><td class="${eventClass(e) === "bad" ? "bad" : eventClass(e) === "comp" ? "warn" : ""}">${esc(e.outcome)}</td>
    <td class="mono">${esc(e.request_id ?? "")}</td><td class="body" title="${esc(JSON.stringify(e.detail))}">${esc(JSON.stringify(e.detail))}</td></tr>`));
}

// ---- routing and refresh --------------------------------------------------------
const PAGES = { broker, messages: null, dlq, shop, order };
let timer = null;

function route() {
  const [page, arg] = (location.hash.slice(1) || "broker").split("/");
  const name = page in PAGES ? page : "broker";
  document.querySelectorAll(".page").forEach((p) => p.classList.toggle("active", p.id === `page-${name}`));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  clearInterval(timer);
  const render = PAGES[name];
  if (!render) return;
  const tick = (first) => render(first ? arg : undefined)
    .then(() => { $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`; })
    .catch((e) => { $("#updated").textContent = `update failed: ${e.message}`; });
  tick(true);
  timer = setInterval(() => tick(false), REFRESH_MS);
}

$("#search-form").addEventListener("submit", search);
$("#dlq-group").addEventListener("change", (e) => { location.hash = `#dlq/${enc(e.target.value)}`; });
$("#audit-btn").addEventListener("click", audit);
$("#order-form").addEventListener("submit", (e) => { e.preventDefault(); location.hash = `#order/${enc($("#order-id").value.trim())}`; });
window.addEventListener("hashchange", route);
route();
