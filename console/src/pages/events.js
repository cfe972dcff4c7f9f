// Events: one search box (an event id, a subject such as companies/1234, or a type glob such
// as quote.*), filters for target, status, store and time, a paged table newest first.

import { api } from "../api.js";
import { h, table, badge, when, shortId, labelled, select, notice, errorBox } from "../dom.js";
import { targetNames } from "./shared.js";

export const STATES = ["pending", "delivered", "failed", "dead_letter", "held", "filtered"];
const PAGE = 25;

/** What the search box holds, as the API's filters. */
export function searchTerms(text) {
  const s = text.trim();
  if (!s) return {};
  if (/^[0-9a-f]{64}$/i.test(s)) return { id: s.toLowerCase() };
  if (s.includes("/")) return { subject: s.replace(/^\/+/, "") };
  return { type: s };
}

const toInput = (msText) => {
  if (!msText) return "";
  const d = new Date(Number(msText));
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};
const fromInput = (v) => (v ? String(new Date(v).getTime()) : "");

export async function render(view, { query }, { current }) {
  view.append(h("h1", {}, "Events"));
  // Without the names the filter still works ("Any target"); the API's error is shown.
  const names = await targetNames().catch((e) => (view.append(errorBox(e)), []));
  if (!current()) return;

  const q = h("input", { type: "search", name: "q", value: query.q || "", placeholder: "event id, companies/1234 or quote.*", autocomplete: "off", spellcheck: "false" });
  const target = select([["", "Any target"], ...names.map((n) => [n, n])], query.target || "");
  const status = select([["", "Any status"], ...STATES.map((s) => [s, s.replace("_", " ")])], query.status || "");
  const store = h("input", { type: "text", name: "store", value: query.store || "", placeholder: "store hash", autocomplete: "off" });
  const since = h("input", { type: "datetime-local", name: "since", value: toInput(query.since) });
  const until = h("input", { type: "datetime-local", name: "until", value: toInput(query.until) });
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      action: "#",
      onsubmit: (ev) => {
        ev.preventDefault();
        const next = new URLSearchParams();
        const put = (k, v) => v && next.set(k, v);
        put("q", q.value.trim());
        put("target", target.value);
        put("status", status.value);
        put("store", store.value.trim());
        put("since", fromInput(since.value));
        put("until", fromInput(until.value));
        const hash = "#/events" + (next.toString() ? "?" + next : "");
        if (location.hash === hash) render2();
        else location.hash = hash;
      },
    },
    h("div", { class: "search-row" }, labelled("Search events", q), h("button", { type: "submit" }, "Search")),
    h("div", { class: "filter-row" }, labelled("Target", target), labelled("Status", status), labelled("Store", store), labelled("Since", since), labelled("Until", until)),
  );
  const results = h("div", { class: "results" }, notice("Loading…"));
  view.append(form, results);

  const render2 = async () => {
    const filters = {
      ...searchTerms(query.q || ""),
      target: query.target,
      status: query.status,
      store: query.store,
      since: query.since,
      until: query.until,
      cursor: query.cursor,
      limit: PAGE,
    };
    try {
      const page = await api("events", { query: filters });
      if (!current()) return;
      const rows = page.events || [];
      const more = new URLSearchParams(query);
      if (page.next_cursor) more.set("cursor", page.next_cursor);
      const first = new URLSearchParams(query);
      first.delete("cursor");
      results.replaceChildren(
        table(
          [
            ["Received", (e) => when(e.received_at)],
            ["Type", (e) => e.type],
            ["Subject", (e) => e.subject || "—"],
            ["Store", (e) => e.store],
            ["Targets", (e) => (e.states && e.states.length ? e.states.map((s) => h("span", { class: "state" }, s.target, " ", badge(s.state))) : (e.targets || []).join(", ") || "none")],
            ["Event", (e) => h("a", { href: "#/events/" + encodeURIComponent(e.id) }, shortId(e.id))],
          ],
          rows,
          { empty: "No event matches.", caption: query.cursor ? "Older events" : "Newest first" },
        ),
        h(
          "div",
          { class: "pager" },
          query.cursor ? h("a", { href: "#/events" + (first.toString() ? "?" + first : ""), class: "button" }, "Newest") : null,
          page.next_cursor ? h("a", { href: "#/events?" + more, class: "button" }, "Older") : null,
        ),
      );
    } catch (e) {
      if (current()) results.replaceChildren(errorBox(e));
    }
  };
  await render2();
}
