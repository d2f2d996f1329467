// The timeline: the scope's sessions in conversation order, each headed by its date and its
// summary (when consolidation has written one), with what was said and the memories drawn
// from each turn. A memory that only repeats its turn (no-LLM mode) is a "remembered" mark
// on the turn, not a second copy of the text.

import { $, api, el, plural, query, repeats, scope, stamp, who } from "./api.js";
import { openMemory } from "./memories.js";

const TURN_LIMIT = 2000;

function bySession(turns) {
  const sessions = new Map();
  for (const t of turns) {
    const key = t.session_id || "(no session)";
    if (!sessions.has(key)) sessions.set(key, []);
    sessions.get(key).push(t);
  }
  return sessions;
}

function memoryButton(memory, label, cls) {
  const b = el("button", label, cls);
  b.type = "button";
  b.dataset.id = memory.id;
  b.addEventListener("click", () => openMemory(memory.id));
  return b;
}

function turnItem(turn, drawn) {
  const li = el("li", null, "turn");
  li.dataset.id = turn.id;
  li.append(el("time", stamp(turn.timestamp).slice(11) || "", "meta"), " ");
  li.append(el("b", who(turn) + ": "), el("span", turn.content, "said"));
  for (const m of drawn) {
    if (repeats(m, turn)) {
      li.append(" ", memoryButton(m, "remembered", "badge remembered"));
    } else {
      const fact = el("div", null, "fact");
      fact.append(memoryButton(m, m.text, "link fact-text"));
      li.append(fact);
    }
  }
  return li;
}

// An extractive summary quotes turns listed right below it: the timeline shows its first
// sentence (who talked about what); the memory itself holds the whole text.
function headline(summary) {
  if (summary.meta.method !== "extractive" || summary.version !== 1) return summary.text;
  const cut = summary.text.indexOf(". ", summary.text.indexOf(" talked about "));
  return cut > 0 ? summary.text.slice(0, cut + 1) : summary.text;
}

function sessionSection(id, turns, summary, drawnFrom) {
  const section = el("section", null, "session");
  const first = turns.find((t) => t.timestamp);
  const head = el("h2", null, "session-head");
  head.append(el("time", stamp(first && first.timestamp, 10), "day"), " ", el("span", "session " + id, "meta"));
  section.append(head);
  if (summary) {
    const p = el("p", null, "summary");
    p.append(memoryButton(summary, headline(summary), "link"));
    section.append(p);
  }
  const list = el("ol", null, "turns");
  for (const t of turns) list.append(turnItem(t, drawnFrom.get(t.id) || []));
  section.append(list);
  return section;
}

export async function showTimeline() {
  const s = scope();
  const [turnsOut, memoriesOut] = await Promise.all([
    api("GET", "/v1/turns?" + query({ ...s, limit: TURN_LIMIT })),
    api("GET", "/v1/memories?" + query(s)),
  ]);
  const summaries = new Map();
  const drawnFrom = new Map();
  for (const m of memoriesOut.memories) {
    if (m.memory_kind === "summary") { summaries.set(m.meta.session_id, m); continue; }
    for (const t of m.sources) {
      if (!drawnFrom.has(t)) drawnFrom.set(t, []);
      drawnFrom.get(t).push(m);
    }
  }
  const sessions = bySession(turnsOut.turns);
  const shown = turnsOut.turns.length < turnsOut.total
    ? " (the first " + turnsOut.turns.length + " shown)" : "";
  $("timeline-counts").textContent = [plural(sessions.size, "session"),
    plural(turnsOut.total, "turn") + shown, plural(memoriesOut.total, "memory", "memories")].join(" · ");
  const parts = [];
  for (const [id, turns] of sessions) parts.push(sessionSection(id, turns, summaries.get(id), drawnFrom));
  if (!parts.length) parts.push(el("p", "Nothing said yet in this scope.", "meta"));
  $("timeline").replaceChildren(...parts);
}
