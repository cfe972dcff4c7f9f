// Overview: one card per target (mode, success rate and p95 latency over the last hour and
// day, held backlog), deliveries per minute by outcome, quarantined requests and BigCommerce's
// delivery exceptions.

import { api } from "../api.js";
import { h, fill, table, badge, percent, ms, when, shortId, notice } from "../dom.js";
import { deliveriesChart } from "../chart.js";
import { modeOf, laneOf, section } from "./shared.js";

const HOUR = 3_600_000;
const CHART_HOURS = 3;
const EXCEPTION_DAYS = 7;

/** Totals and percentiles of one window, per target: `bucket=all` gives one bucket. */
async function windowStats(since, until) {
  const a = await api("stats", { query: { since, until, bucket: "all" } });
  return new Map(a.targets.map((t) => [t.target, { totals: t.totals, bucket: t.buckets[0] }]));
}

/** Last hour and last day side by side: share delivered, attempts, p95 latency. */
function windows(hour, day) {
  const cell = (w, f) => h("td", {}, w ? f(w) : "—");
  const rows = [
    ["Delivered", (w) => percent(w.totals.delivered, w.totals.attempts)],
    ["Attempts", (w) => String(w.totals.attempts)],
    ["p95 latency", (w) => ms(w.bucket && w.bucket.latency_ms ? w.bucket.latency_ms.p95 : null)],
  ];
  return h(
    "table",
    { class: "mini" },
    h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col" }, "Last hour"), h("th", { scope: "col" }, "Last day"))),
    h("tbody", {}, rows.map(([label, f]) => h("tr", {}, h("th", { scope: "row" }, label), cell(hour, f), cell(day, f)))),
  );
}

export async function render(view, _params, { current }) {
  const now = Date.now();
  view.append(h("h1", {}, "Overview"));
  const statsNote = h("div", {});
  const cards = h("section", { class: "cards", "aria-label": "Targets" }, notice("Loading targets…"));
  const charts = h("section", { class: "charts", "aria-labelledby": "charts-h" });
  const problems = h("section", { class: "problems", "aria-labelledby": "problems-h" });
  view.append(statsNote, cards, h("h2", { id: "charts-h" }, `Deliveries per minute, last ${CHART_HOURS} hours`), charts, h("h2", { id: "problems-h" }, "From BigCommerce"), problems);

  const targets = api("targets");
  const hour = windowStats(now - HOUR, now).catch((e) => e);
  const day = windowStats(now - 24 * HOUR, now).catch((e) => e);
  const perMinute = api("stats", { query: { since: now - CHART_HOURS * HOUR, until: now, bucket: "minute" } });
  const quarantine = api("quarantine", { query: { limit: 100 } });
  // BigCommerce's store/hook/deliveryException callbacks are events like any other: the
  // history finds them by type; the latest ones' codes and messages are in their data.
  const exceptions = api("events", { query: { type: "hook.deliveryException", since: now - EXCEPTION_DAYS * 24 * HOUR, limit: 100 } }).then(async (a) => {
    const latest = await Promise.all(a.events.slice(0, 3).map((e) => api("events/" + encodeURIComponent(e.id)).then((d) => ({ ...e, data: (d.event && d.event.data) || {} }), (err) => ({ ...e, data: { message: err.message } }))));
    return { records: latest, count: a.events.length + (a.next_cursor ? "+" : "") };
  });

  // Started together; each is awaited by its section, later: mark them handled now.
  for (const p of [targets, perMinute, quarantine, exceptions]) p.catch(() => {});
  await Promise.all([
    section(cards, async () => [await targets, await hour, await day], ([t, hr, dy]) => {
      if (!current()) return [];
      if (!t.targets.length) return notice("No targets are configured: events are accepted and not forwarded.");
      // A target the history has no attempt of in the window: zero, not unknown.
      const none = { totals: { attempts: 0, delivered: 0 } };
      const of = (m, name) => (m instanceof Map ? m.get(name) || none : null);
      const out = t.targets.map((target) => card(target, of(hr, target.name), of(dy, target.name)));
      const statsError = [hr, dy].find((x) => x instanceof Error);
      if (statsError) statsNote.replaceChildren(h("p", { class: "error", role: "alert" }, `Delivery history: ${statsError.message}`));
      return out;
    }),
    section(charts, async () => [await targets, await perMinute], ([t, s]) => {
      const byName = new Map(s.targets.map((x) => [x.target, x.buckets]));
      return t.targets.map((target) =>
        h("div", { class: "chart-card" }, h("h3", {}, target.name), deliveriesChart(target.name, byName.get(target.name) || [], s.since, s.until, 60_000)),
      );
    }),
    problemsSection(problems, quarantine, exceptions),
  ]);
  if (current()) performance.mark("console:overview");
}

function card(t, hour, day) {
  const lane = laneOf(t);
  const mode = modeOf(t);
  const held = lane.held_backlog ?? lane.held_for_rate;
  return h(
    "article",
    { class: "card", "aria-label": t.name, "data-target": t.name },
    h("header", {}, h("h2", {}, t.name), badge(mode)),
    windows(hour, day),
    h(
      "dl",
      {},
      lane.success_rate_percent !== undefined
        ? h("div", { class: "kv" }, h("dt", {}, "Recent"), h("dd", {}, `${lane.success_rate_percent} % of the last ${lane.recent_attempts} attempts delivered`))
        : null,
      h("div", { class: "kv" }, h("dt", {}, "Held backlog"), h("dd", {}, held === undefined ? "—" : String(held))),
      lane.last_error ? h("div", { class: "kv" }, h("dt", {}, "Last error"), h("dd", {}, lane.last_error)) : null,
      lane.opened_until ? h("div", { class: "kv" }, h("dt", {}, "Open until"), h("dd", {}, when(lane.opened_until))) : null,
      t.lane_error ? h("div", { class: "kv" }, h("dt", {}, "Lane"), h("dd", { class: "error" }, t.lane_error)) : null,
    ),
  );
}

async function problemsSection(el, quarantine, exceptions) {
  const q = h("div", {}, notice("Loading…"));
  const x = h("div", {}, notice("Loading…"));
  fill(el, h("div", { class: "two" }, h("div", {}, h("h3", {}, "Quarantined requests"), q), h("div", {}, h("h3", {}, "Delivery exceptions"), x)));
  await Promise.all([
    section(q, () => quarantine, (a) => [
      h("p", { class: "count" }, `${countOf(a)} kept`),
      table(
        [
          ["Received", (r) => when(r.received_at)],
          ["Reason", (r) => r.message || r.code || (r.reason && r.reason.message) || "—"],
          ["Id", (r) => shortId(r.id)],
        ],
        (a.records || []).slice(0, 3),
        { empty: "None." },
      ),
    ]),
    section(x, () => exceptions, (a) => [
      h("p", { class: "count" }, `${a.count} in ${EXCEPTION_DAYS} days`),
      table(
        [
          ["Received", (r) => h("a", { href: "#/events/" + encodeURIComponent(r.id) }, when(r.received_at))],
          ["Code", (r) => String(r.data.error_code ?? "—")],
          ["Message", (r) => String(r.data.message ?? "—")],
        ],
        a.records,
        { empty: "None." },
      ),
    ]),
  ]);
}

/** A listing's total when it has one, else what this page holds ("5+" when there are more). */
const countOf = (a) => (typeof a.count === "number" ? a.count : (a.records || []).length + (a.cursor ? "+" : ""));
