// The memories view: the list (with its true count) or search results (with their relevance
// and counts), a memory's detail (text, whether a newer memory replaced it and the chain of
// its versions, sources, history, decisions), and "forget everything about ...", which
// previews and then erases exactly the memories and turns it showed.

import {
  $, api, el, imageLink, plural, query, relevanceBar, repeats, scope, stamp, when, who,
} from "./api.js";

const PAGE = 100;
const SEARCH_LIMIT = 50;
let selected = null;
let shown = PAGE;
let refreshes = 0; // only the latest refresh renders: an older, slower answer is dropped

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

function row(item, relevance) {
  const li = el("li", null, item.kind === "turn" ? "hit turn" : "memory");
  const b = el("button", null, "row");
  b.type = "button";
  if (relevance !== undefined) b.append(relevanceBar(relevance));
  const m = item.memory;
  if (m) {
    li.dataset.id = m.id;
    b.append(el("span", m.text, "text"));
    if (m.memory_kind !== "fact") b.append(el("span", m.memory_kind, "badge"));
    if (m.pinned) b.append(el("span", "pinned", "badge pinned"));
    if (m.status !== "active") b.append(el("span", m.status, "badge deleted"));
    if (m.superseded_by) b.append(el("span", "replaced", "badge replaced"));
    b.append(el("span", [stamp(when(m)), m.origin, m.run_id ? "session " + m.run_id : ""]
      .filter(Boolean).join(" · "), "meta"));
    b.addEventListener("click", () => openMemory(m.id));
    if (selected === m.id) li.classList.add("selected");
  } else {
    const t = item.turn;
    b.append(el("span", who(t) + ": " + t.content, "text"), el("span", "turn", "badge"));
    b.append(el("span", [stamp(t.timestamp), t.session_id ? "session " + t.session_id : ""]
      .filter(Boolean).join(" · "), "meta"));
    b.disabled = true;
  }
  li.append(b);
  return li;
}

async function listMemories() {
  const s = scope();
  const params = { ...s, run_id: $("session").value.trim(), include_deleted: $("status").value !== "active" };
  const out = await api("GET", "/v1/memories?" + query(params));
  const kept = filtered(out.memories);
  const narrowed = kept.length < out.total ? " (" + kept.length + " match the filters)" : "";
  const page = kept.slice(0, shown);
  return {
    rows: page.map((m) => row({ memory: m })),
    what: "Memories",
    count: (page.length < kept.length ? "showing " + page.length + " of " : "") +
      plural(out.total, "memory", "memories") + narrowed,
    more: page.length < kept.length,
  };
}

async function searchMemories(text) {
  const body = { ...scope(), query: text, limit: SEARCH_LIMIT };
  if ($("session").value.trim()) body.run_id = $("session").value.trim();
  if ($("start").value) body.start = $("start").value + "T00:00:00";
  if ($("end").value) body.end = $("end").value + "T23:59:59";
  const out = await api("POST", "/v1/search", body);
  const hits = out.results.filter((h) => h.kind === "turn" || filtered([h.memory]).length);
  const memories = hits.filter((h) => h.kind === "memory").length;
  const cap = out.results.length === SEARCH_LIMIT ? " (the best " + SEARCH_LIMIT + ")" : "";
  return {
    rows: hits.map((h) => row(h, h.relevance)),
    what: "Results",
    count: plural(hits.length, "result") + cap + ": " + plural(memories, "memory", "memories") +
      ", " + plural(hits.length - memories, "turn"),
    more: false,
  };
}

export async function showMemories() {
  const mine = ++refreshes;
  const text = $("q").value.trim();
  const out = text ? await searchMemories(text) : await listMemories();
  if (mine !== refreshes) return;
  $("list").replaceChildren(...out.rows);
  $("list-what").textContent = out.what;
  $("count").textContent = out.count;
  $("more").hidden = !out.more;
}

function turnLine(t) {
  const li = el("li", null, "turn");
  li.append(el("span", stamp(t.timestamp) + " ", "meta"), el("b", who(t) + ": "), el("span", t.content));
  if (t.author) li.append(el("span", "by " + t.author, "badge"));
  for (const image of t.images || []) imageLink(image, li, true);
  return li;
}

function historyLine(r) {
  const li = el("li", null, "event");
  li.append(el("b", r.event + " "), el("span", r.new_text || r.old_text || ""));
  li.append(el("div", [stamp(r.created_at, 19), "by " + r.actor, r.reason || ""]
    .filter(Boolean).join(" · "), "meta"));
  return li;
}

function decisionLine(d, id) {
  const li = el("li", null, "decision");
  const mine = d.target_id === id;
  li.append(el("b", (d.decision || "decided").toUpperCase() + " "),
    el("span", (mine ? "reconsidered against " : "weighed against ") + (mine ? d.source_id : d.target_id)));
  if (d.other_text) li.append(el("div", "\u201c" + d.other_text + "\u201d", "meta"));
  li.append(el("div", [stamp(d.decided_at, 19), d.reason || ""].filter(Boolean).join(" · "), "meta"));
  return li;
}

const none = () => [el("li", "none", "meta")];

// One version in a memory's chain: its date and text; the opened one is highlighted and the
// others open on a click.
function chainLine(v, id) {
  const opened = v.id === id;
  const li = el("li", null, opened ? "version opened" : "version");
  const b = el(opened ? "div" : "button", null, "row");
  if (opened) li.setAttribute("aria-current", "true");
  else {
    b.type = "button";
    b.addEventListener("click", () => openMemory(v.id));
  }
  b.append(el("span", stamp(v.valid_from || when(v)), "meta"), el("span", v.text, "text"));
  if (v.status !== "active") b.append(el("span", v.status, "badge deleted"));
  else if (!v.superseded_by) b.append(el("span", "current", "badge current"));
  li.append(b);
  return li;
}

export async function openMemory(id) {
  if (location.hash !== "#memories") location.hash = "#memories";
  selected = id;
  const path = "/v1/memories/" + encodeURIComponent(id);
  const [m, sources, history, decided, versions] = await Promise.all([
    api("GET", path), api("GET", path + "/sources"), api("GET", path + "/history"),
    api("GET", path + "/decisions"), api("GET", path + "/chain"),
  ]);
  $("detail").hidden = false;
  $("detail-id").textContent = m.id;
  $("detail-meta").textContent = [m.memory_kind, m.status, m.pinned ? "pinned" : "", "version " + m.version,
    m.origin, stamp(when(m)), m.expires_at ? "expires " + stamp(m.expires_at) : ""]
    .filter(Boolean).join(" · ");
  $("replaced").hidden = !m.superseded_by;
  $("replaced").textContent = "Replaced by a newer memory" +
    (m.valid_until ? " on " + stamp(m.valid_until, 10) : "");
  $("detail-text").value = m.text;
  $("pin").textContent = m.pinned ? "Unpin" : "Pin";
  $("pin").dataset.pinned = m.pinned ? "1" : "";
  for (const b of ["save", "pin", "forget"]) $(b).disabled = m.status !== "active";
  $("chain-box").hidden = versions.chain.length < 2;
  $("chain").replaceChildren(...versions.chain.map((v) => chainLine(v, id)));
  $("images").replaceChildren(...(m.images.length
    ? m.images.map((image) => imageLink(image, el("li", null, "image-ref"))) : none()));
  $("sources").replaceChildren(...(sources.turns.length ? sources.turns.map(turnLine) : none()));
  $("history").replaceChildren(...history.history.map(historyLine));
  $("decisions").replaceChildren(...(decided.decisions.length
    ? decided.decisions.map((d) => decisionLine(d, id)) : none()));
  for (const li of $("list").children) li.classList.toggle("selected", li.dataset.id === id);
  $("detail").focus();
}

export function closeMemory() {
  selected = null;
  $("detail").hidden = true;
  for (const li of $("list").children) li.classList.remove("selected");
}

async function forgetIds(ids, purge) {
  await api("POST", "/v1/forget", { ...scope(), ids, purge, confirm: true });
  closeMemory();
  await showMemories();
}

// -- forget everything about ... --------------------------------------------------------------
let preview = null; // the ids the person saw: only these are forgotten

async function previewForget(event) {
  event.preventDefault();
  const q = $("forget-query").value.trim();
  const out = await api("POST", "/v1/forget", { ...scope(), query: q, confirm: false });
  preview = { ids: out.memories.map((m) => m.id), turn_ids: out.turns.map((t) => t.id) };
  const byId = new Map(out.turns.map((t) => [t.id, t]));
  const folded = new Set(); // turns a memory only repeats: listed once, under the memory
  const memories = out.memories.map((m) => {
    const li = el("li", m.text, "memory");
    const only = m.sources.length === 1 && byId.get(m.sources[0]);
    if (only && repeats(m, only)) {
      folded.add(only.id);
      li.append(" ", el("span", "and its turn", "badge"));
    }
    return li;
  });
  const turns = out.turns.filter((t) => !folded.has(t.id)).map((t) => {
    const li = el("li", null, "turn");
    li.append(el("span", stamp(t.timestamp) + " ", "meta"), el("b", who(t) + ": "), el("span", t.content));
    return li;
  });
  $("forget-summary").textContent = plural(out.memories.length, "memory", "memories") + " and " +
    plural(out.turns.length, "conversation turn") + " match \u201c" + q + "\u201d.";
  $("forget-memories").replaceChildren(...(memories.length ? memories : none()));
  $("forget-turns").replaceChildren(...(turns.length ? turns : none()));
  $("forget-turns-title").textContent = folded.size ? "Other conversation turns" : "Conversation turns";
  $("forget-preview").hidden = false;
  $("forget-confirm").disabled = $("forget-purge").disabled = !(out.memories.length || out.turns.length);
}

async function confirmForget(purge) {
  if (!preview) return;
  const body = { ...scope(), ...preview, purge, confirm: true };
  preview = null;
  await api("POST", "/v1/forget", body);
  $("forget-preview").hidden = true;
  $("forget-query").value = "";
  closeMemory();
  await showMemories();
}

async function exportRecords() {
  const text = await api("GET", "/v1/export?" + query(scope()));
  const blob = new Blob([text], { type: "application/x-ndjson" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = "lightmem-export.jsonl";
  document.body.append(a);
  a.click();
  a.remove();
}

export function wireMemories() {
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); shown = PAGE; showMemories(); });
  $("more").addEventListener("click", () => { shown += PAGE; showMemories(); });
  $("close").addEventListener("click", closeMemory);
  $("save").addEventListener("click", async () => {
    const id = selected;
    await api("PATCH", "/v1/memories/" + encodeURIComponent(id), { text: $("detail-text").value, reason: "edited in the browser" });
    await showMemories();
    await openMemory(id);
  });
  $("pin").addEventListener("click", async () => {
    const id = selected;
    await api("POST", "/v1/memories/" + encodeURIComponent(id) + "/pin", { pinned: !$("pin").dataset.pinned });
    await showMemories();
    await openMemory(id);
  });
  $("forget").addEventListener("click", () => forgetIds([selected], false));
  $("purge").addEventListener("click", () => {
    if (confirm("Erase this memory and its source turns for good?")) forgetIds([selected], true);
  });
  $("forget-form").addEventListener("submit", previewForget);
  $("forget-confirm").addEventListener("click", () => confirmForget(false));
  $("forget-purge").addEventListener("click", () => confirmForget(true));
  $("forget-cancel").addEventListener("click", () => { preview = null; $("forget-preview").hidden = true; });
  $("export").addEventListener("click", exportRecords);
}
