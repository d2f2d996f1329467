// A small bar chart in plain SVG (no library, nothing fetched): one group of bars per day,
// one bar per series, each with a <title> for its value. Pure: data in, an element out.

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 220, PAD = { left: 40, right: 8, top: 12, bottom: 28 };

function node(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// Every day from the first to the last given (at most `span`, the latest), zero-filled.
export function fillDays(days, span = 60) {
  if (!days.length) return [];
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out = [];
  const last = new Date(days[days.length - 1].day + "T00:00:00Z");
  let at = new Date(days[0].day + "T00:00:00Z");
  const earliest = new Date(last.getTime() - (span - 1) * 86400000);
  if (at < earliest) at = earliest;
  for (; at <= last; at = new Date(at.getTime() + 86400000)) {
    const day = at.toISOString().slice(0, 10);
    out.push(byDay.get(day) || { day });
  }
  return out;
}

// series: [{key, label, cls}]; days: [{day, [key]: number}]
export function barChart(days, series, title) {
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart" });
  svg.append(node("title", {}, title));
  const max = Math.max(1, ...days.flatMap((d) => series.map((s) => d[s.key] || 0)));
  const plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
  const group = plotW / Math.max(1, days.length);
  const bar = Math.max(1, Math.min(24, (group * 0.8) / series.length));
  svg.append(node("line", { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: "axis" }));
  svg.append(node("text", { x: PAD.left - 6, y: PAD.top + 10, class: "tick", "text-anchor": "end" }, String(max)));
  svg.append(node("text", { x: PAD.left - 6, y: H - PAD.bottom, class: "tick", "text-anchor": "end" }, "0"));
  days.forEach((d, i) => {
    const x0 = PAD.left + i * group + (group - bar * series.length) / 2;
    series.forEach((s, j) => {
      const v = d[s.key] || 0;
      const h = (v / max) * plotH;
      const rect = node("rect", { x: x0 + j * bar, y: H - PAD.bottom - h, width: bar - 1, height: h, class: "bar " + s.cls });
      rect.append(node("title", {}, `${d.day}: ${v} ${s.label}`));
      svg.append(rect);
    });
  });
  const labels = days.length > 1 ? [0, days.length - 1] : [0];
  for (const i of labels) {
    const x = PAD.left + i * group + group / 2;
    const anchor = days.length === 1 ? "middle" : i === 0 ? "start" : "end";
    svg.append(node("text", { x: days.length === 1 ? x : i === 0 ? PAD.left : W - PAD.right, y: H - 8, class: "tick", "text-anchor": anchor }, days[i].day));
  }
  return svg;
}
