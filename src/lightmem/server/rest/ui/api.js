// The REST calls of the memory browser and the little DOM helpers every view shares.
// The API key lives in this module's memory only: no sessionStorage, localStorage or
// cookie, so no other page of this origin (/docs) can read it. User data is only ever
// set as textContent.

let apiKey = null;
let onRefused = () => {};

export const $ = (id) => document.getElementById(id);

export function setKey(key, refused) {
  apiKey = key;
  if (refused) onRefused = refused;
}

export function hasKey() { return apiKey !== null; }

export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

export function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

export async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + apiKey };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    onRefused("the key was refused (unknown or revoked)");
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

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q.toString();
}

export function when(item) { return item.timestamp || item.created_at || ""; }

// "2024-01-07T10:00:00" -> "2024-01-07 10:00"
export function stamp(value, length = 16) { return (value || "").slice(0, length).replace("T", " "); }

export function plural(n, one, many) { return n + " " + (n === 1 ? one : many || one + "s"); }

export function who(turn) { return turn.speaker || turn.role; }

// A memory that only repeats its one source turn (no-LLM mode: "speaker: content").
export function repeats(memory, turn) {
  return memory.text === turn.content || memory.text === who(turn) + ": " + turn.content ||
    memory.text === turn.role + ": " + turn.content;
}

// A 0-1 relevance as a small bar and its value, for search results.
export function relevanceBar(value) {
  const box = el("span", null, "relevance");
  box.title = "relevance " + value.toFixed(2);
  const bar = el("span", null, "bar");
  const fill = el("span", null, "fill");
  fill.style.width = Math.round(Math.max(0, Math.min(1, value)) * 100) + "%";
  bar.append(fill);
  box.append(bar, el("span", value.toFixed(2), "value"));
  return box;
}

// Images by reference: shown as links with their caption (the page loads nothing from
// elsewhere; the CSP allows no remote image). Only http(s) references become links: a
// stored "javascript:" or "data:" URL is text.
export function imageLink(image, parent, br) {
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

// Who the key is (GET /v1/me) and the scope the page shows: the chosen one of the key's
// scopes or shared pools, or for an admin key the user/agent typed in.
let me = null;

export function setMe(value) { me = value; }

export function getMe() { return me; }

export function scope() {
  if (me && me.admin) {
    const out = {};
    if ($("user-id").value.trim()) out.user_id = $("user-id").value.trim();
    if ($("agent-id").value.trim()) out.agent_id = $("agent-id").value.trim();
    return out;
  }
  return JSON.parse($("scope").value || "{}");
}
