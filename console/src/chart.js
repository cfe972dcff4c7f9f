// Deliveries per minute by outcome, as stacked bars in a hand-drawn SVG. Labels are HTML
// around it, so they stay readable however narrow the chart is drawn.

import { h } from "./dom.js";

export const OUTCOMES = [
  ["delivered", "delivered"],
  ["failed", "failed, will retry"],
  ["dead_letters", "dead letter"],
];

const pad = (n) => String(n).padStart(2, "0");
const hm = (t) => {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

/**
 * `buckets`: the stats buckets of one target ({start, attempts, delivered, failed,
 * dead_letters}); `since`/`until`: the window (unix ms), `step` the bucket length in ms.
 */
export function deliveriesChart(name, buckets, since, until, step) {
  const W = 600, H = 100;
  const first = Math.floor(since / step) * step;
  const n = Math.max(1, Math.ceil((until - first) / step));
  let max = 1;
  for (const b of buckets) max = Math.max(max, b.delivered + b.failed + b.dead_letters);
  const bw = W / n;
  const y = (v) => H * (1 - v / max);
  const bars = [];
  for (const b of buckets) {
    const i = Math.round((b.start - first) / step);
    if (i < 0 || i >= n) continue;
    let base = 0;
    for (const [key, label] of OUTCOMES) {
      const v = b[key] || 0;
      if (!v) continue;
      bars.push(
        h(
          "svg:rect",
          { x: (i * bw).toFixed(2), y: y(base + v).toFixed(2), width: Math.max(bw - 0.6, 1).toFixed(2), height: (y(base) - y(base + v)).toFixed(2), class: "bar-" + key },
          h("svg:title", {}, `${hm(b.start)}: ${v} ${label}`),
        ),
      );
      base += v;
    }
  }
  const total = buckets.reduce((s, b) => s + b.attempts, 0);
  return h(
    "figure",
    { class: "chart" },
    h(
      "div",
      { class: "plot" },
      h("span", { class: "ymax" }, `${max}/min`),
      h(
        "svg:svg",
        { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Deliveries per minute to ${name}: ${total} attempts`, preserveAspectRatio: "none" },
        h("svg:line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }),
        bars,
      ),
    ),
    h("div", { class: "xaxis" }, [0, 0.5, 1].map((f) => h("span", {}, hm(first + f * n * step)))),
    h(
      "figcaption",
      { class: "legend" },
      OUTCOMES.map(([key, label]) => h("span", {}, h("i", { class: "swatch bar-" + key }), label)),
    ),
  );
}
