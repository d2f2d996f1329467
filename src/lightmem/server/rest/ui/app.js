// The LightMem memory browser: plain JS over the REST API. The API key lives in
// sessionStorage (this tab only). User data is only ever set as textContent.
"use strict";

const KEY = "lightmem.key";
const $ = (id) => document.getElementById(id);
let me = null;
let selected = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    logout("the key was refused (unknown or revoked)");
    throw new Error("unauthorized");
  }
  if (!response.ok) {
    let message = response.status + "";
    try { const e = (await response.json()).error; message = e.code + ": " + e.message; } catch (_) {}
    showError(message);
    throw new Error(message);
  }
  showError("");
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") && !type.includes("ndjson") ? response.json() : response.text();
}

function scope() {
  if (me.admin) {
    const out = {};
    if ($("user-id").value.trim()) out.user_id = $("user-id").value.trim();
    if ($("agent-id").value.trim()) out.agent_id = $("agent-id").value.trim();
    return out;
  }
  return JSON.parse($("scope").value || "{}");
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q.toString();
}

function when(memory) { return memory.timestamp || memory.created_at || ""; }

function filtered(memories) {
  const start = $("start").value, end = $("end").value;
  const origin = $("origin").value, status = $("status").value;
  return memories.filter((m) => {
    const t = when(m).slice(0, 10);
    if (start && t && t < start) return false;
    if (end && t && t > end) return false;
    if (origin && m.origin !== origin) return false;
    if (status === "active" && m.status !== "active") return false;
    if (status === "deleted" && m.status !== "deleted") return false;
    if (status === "pinned" && !m.pinned) return false;
    return true;
  });
}

function renderList(memories) {
  const list = $("list");
  list.replaceChildren();
  for (const m of memories) {
    const li = el("li");
    li.dataset.id = m.id;
    li.className = "memory" + (selected === m.id ? " selected" : "");
    li.append(el("span", m.text, "text"));
    if (m.pinned) li.append(el("span", "pinned", "badge pinned"));
    if (m.status !== "active") li.append(el("span", m.status, "badge deleted"));
    li.append(el("div", [when(m).slice(0, 16), m.origin, m.run_id ? "session " + m.run_id : ""]
      .filter(Boolean).join(" · "), "meta"));
    li.addEventListener("click", () => openMemory(m.id));
    list.append(li);
  }
  $("count").textContent = "(" + memories.length + ")";
}

let refreshes = 0; // only the latest refresh renders: an older, slower answer is dropped

async function refresh() {
  const mine = ++refreshes;
  const s = scope();
  const text = $("q").value.trim();
  let memories;
  if (text) {
    const body = { ...s, query: text, limit: 50 };
    if ($("session").value.trim()) body.run_id = $("session").value.trim();
    if ($("start").value) body.start = $("start").value + "T00:00:00";
    if ($("end").value) body.end = $("end").value + "T23:59:59";
    const out = await api("POST", "/v1/search", body);
    memories = out.results.filter((h) => h.kind === "memory").map((h) => h.memory);
  } else {
    const params = { ...s, run_id: $("session").value.trim(), include_deleted: $("status").value !== "active" };
    memories = (await api("GET", "/v1/memories?" + query(params))).memories;
  }
  if (mine === refreshes) renderList(filtered(memories));
}

async function openMemory(id) {
  selected = id;
  const m = await api("GET", "/v1/memories/" + encodeURIComponent(id));
  const [sources, history, decided] = await Promise.all([
    api("GET", "/v1/memories/" + encodeURIComponent(id) + "/sources"),
    api("GET", "/v1/memories/" + encodeURIComponent(id) + "/history"),
    api("GET", "/v1/memories/" + encodeURIComponent(id) + "/decisions"),
  ]);
  $("detail").hidden = false;
  $("detail-id").textContent = m.id;
  $("detail-meta").textContent = [m.status, m.pinned ? "pinned" : "", "version " + m.version,
    m.origin, when(m).slice(0, 16), m.expires_at ? "expires " + m.expires_at.slice(0, 16) : ""]
    .filter(Boolean).join(" · ");
  $("detail-text").value = m.text;
  $("pin").textContent = m.pinned ? "Unpin" : "Pin";
  $("pin").dataset.pinned = m.pinned ? "1" : "";
  const active = m.status === "active";
  for (const b of ["save", "pin", "forget"]) $(b).disabled = !active;
  $("images").replaceChildren(...(m.images.length
    ? m.images.map((image) => imageLink(image, el("li", null, "image-ref")))
    : [el("li", "none", "meta")]));
  $("sources").replaceChildren(...sources.turns.map((t) => {
    const li = el("li", (t.speaker || t.role) + ": " + t.content, "turn");
    li.prepend(el("span", (t.timestamp || "").slice(0, 16) + " ", "meta"));
    if (t.author) li.append(el("span", "by " + t.author, "badge"));
    for (const image of t.images || []) imageLink(image, li, true);
    return li;
  }));
  const line = (r) => {
    const li = el("li", null, "event");
    li.append(el("b", r.event + " "), el("span", r.new_text || r.old_text || ""));
    li.append(el("div", [r.created_at.slice(0, 19), "by " + r.actor, r.reason || ""]
      .filter(Boolean).join(" · "), "meta"));
    return li;
  };
  $("history").replaceChildren(...history.history.map(line));
  const decision = (d) => {
    const li = el("li", null, "decision");
    const role = d.target_id === id ? "reconsidered against" : "weighed against";
    li.append(el("b", (d.decision || "decided").toUpperCase() + " "),
      el("span", role + " " + (d.target_id === id ? d.source_id : d.target_id)));
    if (d.other_text) li.append(el("div", "“" + d.other_text + "”", "meta"));
    li.append(el("div", [(d.decided_at || "").slice(0, 19), d.reason || ""]
      .filter(Boolean).join(" · "), "meta"));
    return li;
  };
  $("decisions").replaceChildren(...(decided.decisions.length
    ? decided.decisions.map(decision) : [el("li", "none", "meta")]));
  for (const li of $("list").children) li.classList.toggle("selected", li.dataset.id === id);
}

// Images by reference: shown as links with their caption (the page loads nothing from
// elsewhere; the CSP allows no remote image).
// Only http(s) references become links: a stored "javascript:" or "data:" URL is text.
function imageLink(image, parent, br) {
  const web = /^https?:\/\//i.test(image.url);
  const a = el(web ? "a" : "span", "image: " + (image.caption || image.url), "image");
  if (web) {
    a.href = image.url;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
  }
  if (image.caption) a.title = image.url;
  if (br) parent.append(el("br"));
  parent.append(a);
  return parent;
}

async function forgetIds(ids, purge) {
  const s = scope();
  await api("POST", "/v1/forget", { ...s, ids, purge, confirm: true });
  selected = null;
  $("detail").hidden = true;
  await refresh();
}

let pendingForget = null;

async function previewForget(event) {
  event.preventDefault();
  const q = $("forget-query").value.trim();
  const out = await api("POST", "/v1/forget", { ...scope(), query: q, confirm: false });
  // Confirming applies exactly what is shown: these ids, not the query run again (a
  // memory added since the preview must not go with it).
  pendingForget = { ids: out.memories.map((m) => m.id), turn_ids: out.turns.map((t) => t.id) };
  $("forget-preview").hidden = false;
  $("forget-summary").textContent = out.memories.length + " memories and " + out.turns.length +
    " conversation turns match \u201c" + q + "\u201d.";
  $("forget-memories").replaceChildren(...out.memories.map((m) => el("li", m.text, "memory")));
  $("forget-turns").replaceChildren(...out.turns.map((t) => el("li", (t.speaker || t.role) + ": " + t.content, "turn")));
  $("forget-confirm").disabled = $("forget-purge").disabled = !(out.memories.length || out.turns.length);
}

async function confirmForget(purge) {
  if (!pendingForget) return;
  await api("POST", "/v1/forget", { ...scope(), ...pendingForget, purge, confirm: true });
  pendingForget = null;
  $("forget-preview").hidden = true;
  $("forget-query").value = "";
  $("detail").hidden = true;
  await refresh();
}

async function exportRecords() {
  const s = scope();
  const text = await api("GET", "/v1/export?" + query(s));
  const blob = new Blob([text], { type: "application/x-ndjson" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = "lightmem-export.jsonl";
  document.body.append(a);
  a.click();
  a.remove();
}

async function start() {
  if (!sessionStorage.getItem(KEY)) return;
  try { me = await api("GET", "/v1/me"); } catch (_) { return; }
  $("login-view").hidden = true;
  $("main-view").hidden = false;
  $("logout").hidden = false;
  $("whoami").textContent = "key " + me.name + (me.admin ? " (admin)" : "");
  $("admin-scope").hidden = !me.admin;
  $("scope").hidden = me.admin;
  $("scope").replaceChildren(...me.scopes.map((g) => {
    const value = {};
    if (g.user_id !== null) value.user_id = g.user_id;
    if (g.agent_id !== null) value.agent_id = g.agent_id;
    const option = el("option", [g.user_id && "user " + g.user_id, g.agent_id && "agent " + g.agent_id]
      .filter(Boolean).join(", "));
    option.value = JSON.stringify(value);
    return option;
  }));
  // pools shared with the key, by their owners' grants
  const received = me.admin ? [] : (await api("GET", "/v1/grants")).received;
  for (const g of received) {
    const value = {};
    if (g.pool.user_id !== null) value.user_id = g.pool.user_id;
    if (g.pool.agent_id !== null) value.agent_id = g.pool.agent_id;
    const label = [g.pool.user_id && "user " + g.pool.user_id, g.pool.agent_id && "agent " + g.pool.agent_id]
      .filter(Boolean).join(", ");
    const option = el("option", "shared: " + label + " (" + g.level + ")");
    option.value = JSON.stringify(value);
    if (![...$("scope").options].some((o) => o.value === option.value)) $("scope").append(option);
  }
  if (!me.admin || $("user-id").value || $("agent-id").value) await refresh();
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  me = null;
  selected = null;
  $("main-view").hidden = true;
  $("login-view").hidden = false;
  $("logout").hidden = true;
  $("whoami").textContent = "";
  $("list").replaceChildren();
  $("detail").hidden = true;
  showError(message || "");
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value.trim());
  $("key").value = "";
  await start();
});
$("logout").addEventListener("click", () => logout());
$("filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
$("scope").addEventListener("change", refresh);
$("save").addEventListener("click", async () => {
  await api("PATCH", "/v1/memories/" + encodeURIComponent(selected), { text: $("detail-text").value, reason: "edited in the browser" });
  const id = selected;
  await refresh();
  await openMemory(id);
});
$("pin").addEventListener("click", async () => {
  const id = selected;
  await api("POST", "/v1/memories/" + encodeURIComponent(id) + "/pin", { pinned: !$("pin").dataset.pinned });
  await refresh();
  await openMemory(id);
});
$("forget").addEventListener("click", () => forgetIds([selected], false));
$("purge").addEventListener("click", () => {
  if (confirm("Erase this memory and its source turns for good?")) forgetIds([selected], true);
});
$("forget-form").addEventListener("submit", previewForget);
$("forget-confirm").addEventListener("click", () => confirmForget(false));
$("forget-purge").addEventListener("click", () => confirmForget(true));
$("forget-cancel").addEventListener("click", () => { pendingForget = null; $("forget-preview").hidden = true; });
$("export").addEventListener("click", exportRecords);
start();
