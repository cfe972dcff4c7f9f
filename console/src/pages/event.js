// Event: one event — the CloudEvent, per target its state and a timeline of attempts, a
// Replay button per target, and the event's log (replays, dead letters…).

import { api } from "../api.js";
import { h, table, badge, when, ms, seconds, notice, errorBox, button, labelled } from "../dom.js";

const LAST = "b2b-relay.last-event";

export async function render(view, { id }, { current }) {
  view.append(h("h1", {}, "Event"));
  // The navigation bar's Event (#/event): the event last opened in this tab.
  id = id || sessionStorage.getItem(LAST);
  const input = h("input", { type: "text", name: "id", value: id || "", autocomplete: "off", spellcheck: "false", placeholder: "64 hex characters" });
  view.append(
    h(
      "form",
      { class: "filters", action: "#", onsubmit: (ev) => {
        ev.preventDefault();
        if (input.value.trim()) location.hash = "#/events/" + encodeURIComponent(input.value.trim());
      } },
      h("div", { class: "search-row" }, labelled("Event id", input), h("button", { type: "submit" }, "Open")),
    ),
  );
  if (!id) {
    view.append(notice("Open an event from the Events page, or paste its id (the webhook-id its targets received)."));
    return;
  }
  sessionStorage.setItem(LAST, id);
  const body = h("div", {}, notice("Loading…"));
  view.append(body);
  const load = async () => {
    const d = await api("events/" + encodeURIComponent(id));
    if (!current()) return;
    body.replaceChildren(...detail(d, id, load));
  };
  try {
    await load();
  } catch (e) {
    if (current()) body.replaceChildren(errorBox(e));
  }
}

function detail(d, id, reload) {
  const ev = d.event || {};
  const out = [];
  out.push(
    h(
      "dl",
      { class: "summary" },
      row("Id", h("code", { class: "id" }, id)),
      row("Type", ev.type),
      row("Subject", ev.subject || "—"),
      row("Store", ev.storehash || "—"),
      row("Received", when(d.received_at)),
      row("Duplicates", d.duplicates ? `${d.duplicates} (last ${when(d.last_duplicate_at)})` : "0"),
      d.truncated ? row("Stored", "truncated: the event was too large to keep whole") : null,
    ),
  );
  out.push(h("h2", {}, "Targets"));
  const targets = d.targets || [];
  if (!targets.length) out.push(notice("No target wanted this event."));
  for (const t of targets) out.push(targetSection(t, id, reload));
  out.push(h("h2", {}, "CloudEvent"), h("pre", { class: "json", tabindex: "0", "aria-label": "CloudEvent JSON" }, JSON.stringify(ev, null, 2)));
  if (d.log && d.log.length) {
    out.push(
      h("h2", {}, "Log"),
      table(
        [
          ["Time", (l) => when(l.at)],
          ["Kind", (l) => l.kind],
          ["Target", (l) => l.target || "—"],
          ["Detail", (l) => h("code", {}, JSON.stringify(l.detail))],
        ],
        d.log,
      ),
    );
  }
  return out;
}

const row = (k, v) => h("div", { class: "kv" }, h("dt", {}, k), h("dd", {}, v));

function targetSection(t, id, reload) {
  const result = h("div", { class: "result", "aria-live": "polite" });
  const replay = button("Replay", async () => {
    result.replaceChildren(notice("Replaying…"));
    try {
      const a = await api("events/" + encodeURIComponent(id) + "/replay", { method: "POST", body: { targets: [t.target] } });
      result.replaceChildren(notice(replayText(a, t.target)));
      setTimeout(() => reload().catch((e) => result.replaceChildren(errorBox(e))), 1500);
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  });
  const attempts = (t.attempts || []).slice().sort((a, b) => a.at - b.at || a.run - b.run || a.attempt - b.attempt);
  return h(
    "section",
    { class: "target", "aria-label": t.target, "data-target": t.target },
    h("header", {}, h("h3", {}, t.target), badge(t.state || "unknown"), replay),
    h(
      "dl",
      {},
      t.last_status ? row("Last status", String(t.last_status)) : null,
      t.last_error ? row("Last error", t.last_error) : null,
      t.reason ? row("Reason", t.reason) : null,
      t.delivered_at ? row("Delivered", `${when(t.delivered_at)} (${ms(t.latency_ms)} after receipt)`) : null,
    ),
    table(
      [
        ["Time", (a) => when(a.at)],
        ["Attempt", (a) => (a.run && attempts.some((b) => b.run !== a.run) ? `${a.attempt} (run ${runLabel(attempts, a.run)})` : String(a.attempt))],
        ["Outcome", (a) => badge(a.outcome)],
        ["Status or error", (a) => [a.status ? String(a.status) : null, a.status && a.error ? " · " : null, a.error || (a.status ? null : "—")]],
        ["Duration", (a) => ms(a.duration_ms)],
        ["Next retry", (a) => (a.next_retry_seconds ? "in " + seconds(a.next_retry_seconds) : "—")],
      ],
      attempts,
      { caption: `Attempts at ${t.target}`, empty: "No attempt yet." },
    ),
    result,
  );
}

/** Runs in order of first appearance: 1 is the original delivery, 2 the first replay… */
function runLabel(attempts, run) {
  const runs = [...new Set(attempts.map((a) => a.run))].sort((a, b) => a - b);
  return runs.indexOf(run) + 1;
}

function replayText(a, target) {
  const names = a && Array.isArray(a.targets) && a.targets.length ? a.targets.join(", ") : target;
  return `Replay queued for ${names}: it is delivered as a fresh run with the same webhook-id.`;
}
