// The LightMem memory browser: plain JS modules over the REST API (no CDN, no framework).
// Three views behind the tabs (#timeline, #memories, #stats), one key kept in memory.

import { $, api, el, getMe, hasKey, scope, setKey, setMe, showError } from "./api.js";
import { closeMemory, showMemories, wireMemories } from "./memories.js";
import { showStats } from "./stats.js";
import { showTimeline } from "./timeline.js";

const VIEWS = { timeline: showTimeline, memories: showMemories, stats: showStats };

function current() {
  const name = location.hash.slice(1);
  return name in VIEWS ? name : "timeline";
}

async function render() {
  if (!getMe()) return;
  const name = current();
  for (const view of Object.keys(VIEWS)) $(view + "-view").hidden = view !== name;
  for (const a of $("tabs").querySelectorAll("a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const s = scope();
  if (getMe().admin && !s.user_id && !s.agent_id && name !== "stats") {
    showError("an admin key sees every scope: type a user or agent id above and press Show");
    return;
  }
  await VIEWS[name]();
}

function scopeOption(value, label) {
  const option = el("option", label);
  option.value = JSON.stringify(value);
  return option;
}

function ids(g) {
  const value = {};
  if (g.user_id !== null) value.user_id = g.user_id;
  if (g.agent_id !== null) value.agent_id = g.agent_id;
  const label = [g.user_id && "user " + g.user_id, g.agent_id && "agent " + g.agent_id].filter(Boolean).join(", ");
  return [value, label];
}

async function start() {
  let me;
  try { me = await api("GET", "/v1/me"); } catch (_) { return; }
  setMe(me);
  $("login-view").hidden = true;
  $("main-view").hidden = false;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  $("whoami").textContent = "key " + me.name + (me.admin ? " (admin)" : "");
  $("admin-scope").hidden = !me.admin;
  $("scope-label").hidden = me.admin;
  $("scope").replaceChildren(...me.scopes.map((g) => scopeOption(...ids(g))));
  // pools shared with the key, by their owners' grants
  const received = me.admin ? [] : (await api("GET", "/v1/grants")).received;
  for (const g of received) {
    const [value, label] = ids(g.pool);
    const option = scopeOption(value, "shared: " + label + " (" + g.level + ")");
    if (![...$("scope").options].some((o) => o.value === option.value)) $("scope").append(option);
  }
  if (!location.hash) location.hash = "#timeline";
  await render();
}

function logout(message) {
  setKey(null);
  setMe(null);
  closeMemory();
  $("main-view").hidden = true;
  $("tabs").hidden = true;
  $("login-view").hidden = false;
  $("logout").hidden = true;
  $("whoami").textContent = "";
  $("list").replaceChildren();
  $("timeline").replaceChildren();
  showError(message || "");
  $("key").focus();
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  setKey($("key").value.trim(), logout);
  $("key").value = "";
  await start();
});
$("logout").addEventListener("click", () => logout());
$("scope").addEventListener("change", () => { closeMemory(); render(); });
$("admin-show").addEventListener("click", () => { closeMemory(); render(); });
window.addEventListener("hashchange", render);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("detail").hidden) closeMemory();
});
wireMemories();
if (hasKey()) start();
else $("key").focus();
