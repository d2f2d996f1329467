// The stats view: counts of the scope (memories, turns, sessions), the LLM mode and the
// embedder, a chart of what was stored per day (and, for admin keys, LLM calls and
// failures), and the recent failures with their reasons.

import { $, api, el, getMe, plural, query, scope, stamp } from "./api.js";
import { barChart, fillDays } from "./chart.js";

function card(value, label) {
  const box = el("div", null, "stat");
  box.append(el("span", String(value), "value"), el("span", label, "label"));
  return box;
}

function failureLine(f) {
  const li = el("li", null, "failure");
  li.append(el("b", f.where + " "), el("span", f.message));
  li.append(el("div", [stamp(f.at, 19), f.ref ? "ref " + f.ref : "", f.attempts ? plural(f.attempts, "attempt") : ""]
    .filter(Boolean).join(" · "), "meta"));
  return li;
}

export async function showStats() {
  const s = scope();
  const [stats, activity] = await Promise.all([
    api("GET", "/v1/stats?" + query(s)), api("GET", "/v1/stats/activity?" + query(s)),
  ]);
  const admin = getMe().admin;
  const usage = stats.usage;
  const cards = [
    card(stats.memories, "memories"), card(stats.deleted_memories, "deleted"),
    card(activity.turns, "turns"), card(stats.llm_mode, "LLM mode"),
  ];
  if (usage) {
    cards.push(card(usage.total.calls, "LLM calls"), card(usage.total.tokens_in + usage.total.tokens_out, "tokens"),
      card(usage.failed_batches, "failed batches"));
  }
  cards.push(card(stats.embedder, "embedder"));
  $("cards").replaceChildren(...cards);
  const series = [
    { key: "turns", label: "turns", cls: "s-turns" },
    { key: "memories", label: "memories", cls: "s-memories" },
  ];
  if (admin) {
    series.push({ key: "llm_calls", label: "LLM calls", cls: "s-calls" },
      { key: "failed_calls", label: "failed calls", cls: "s-failed" });
  }
  const days = fillDays(activity.days);
  $("chart").replaceChildren(days.length ? barChart(days, series, "Stored per day")
    : el("p", "Nothing stored yet.", "meta"));
  $("chart-legend").replaceChildren(...series.map((x) => {
    const item = el("span", null, "key");
    item.append(el("span", null, "swatch " + x.cls), x.label);
    return item;
  }));
  if (!admin) $("chart-legend").append(el("span", "LLM calls: admin keys only", "meta"));
  const failures = usage ? usage.failures : [];
  $("failures").replaceChildren(...(failures.length ? failures.map(failureLine)
    : [el("li", usage ? "none" : "Failures are store-wide: admin keys see them.", "meta")]));
}
