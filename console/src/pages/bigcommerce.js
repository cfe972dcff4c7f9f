// BigCommerce: the store's hooks per wanted scope, a dry run and a sync with their result
// table, quarantined requests (authentic bodies that could not become events) to re-process.

import { api } from "../api.js";
import { h, table, badge, when, shortId, notice, errorBox, button } from "../dom.js";
import { section } from "./shared.js";

const scopes = (a, caption) => [
  h("p", {}, "Destination: ", h("code", {}, a.destination)),
  table(
    [
      ["Scope", (r) => h("code", {}, r.scope)],
      ["Outcome", (r) => badge(r.outcome)],
      ["Hook", (r) => (r.hook_id ? String(r.hook_id) : "—")],
      ["Message", (r) => r.message || ""],
    ],
    a.scopes,
    { caption },
  ),
];

export async function render(view, _params, { current }) {
  view.append(h("h1", {}, "BigCommerce"));
  const status = h("div", {}, notice("Loading…"));
  const result = h("div", { class: "result", "aria-live": "polite" });
  const sync = (dry) => async () => {
    result.replaceChildren(notice(dry ? "Planning…" : "Syncing…"));
    try {
      const a = await api("bigcommerce/subscriptions/sync", { method: "POST", query: { dry_run: dry ? "true" : "false" } });
      result.replaceChildren(h("h3", {}, dry ? "Dry run: what a sync would do" : "Sync result"), ...scopes(a, dry ? "Dry run (nothing written)" : "Sync"));
      if (!dry) loadStatus();
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  };
  const loadStatus = () => section(status, () => api("bigcommerce/subscriptions"), (a) => scopes(a, "Subscription status per scope"));

  const quarantine = h("div", {}, notice("Loading…"));
  const qResult = h("div", { class: "result", "aria-live": "polite" });
  const loadQuarantine = () =>
    section(quarantine, () => api("quarantine", { query: { limit: 50 } }), (a) =>
      table(
        [
          ["Received", (r) => when(r.received_at)],
          ["Reason", (r) => [r.code ? h("code", {}, r.code) : null, " ", r.message || ""]],
          ["Size", (r) => (r.size !== undefined ? `${r.size} B` : "—")],
          ["Id", (r) => shortId(r.id)],
          ["Actions", (r) => button("Re-process", async () => {
            try {
              const x = await api("quarantine/replay", { method: "POST", body: { ids: [r.id] } });
              qResult.replaceChildren(notice(reprocessText(x)));
              await loadQuarantine();
            } catch (e) {
              qResult.replaceChildren(errorBox(e));
            }
          })],
        ],
        a.records || [],
        { empty: "No quarantined requests.", caption: "Quarantined requests (kept 14 days)" },
      ),
    );

  view.append(
    h("section", { "aria-labelledby": "subs-h" }, h("h2", { id: "subs-h" }, "Subscriptions"), h("div", { class: "actions" }, button("Dry run", sync(true)), button("Sync now", sync(false), { kind: "primary" })), result, status),
    h("section", { "aria-labelledby": "q-h" }, h("h2", { id: "q-h" }, "Quarantined requests"), qResult, quarantine),
  );
  if (!current()) return;
  await Promise.all([loadStatus(), loadQuarantine()]);
}

/** `{"results":[{id,outcome,event_id?,error?}]}`: what became of each record. */
function reprocessText(x) {
  const results = (x && x.results) || [];
  if (!results.length) return "Re-processed: nothing to do.";
  const said = results.map((r) => {
    const what = r.outcome === "accepted" ? `accepted as event ${(r.event_id || "").slice(0, 12)}…` : r.outcome.replace("_", " ");
    return `${r.id.slice(0, 12)}…: ${what}${r.error ? ` (${r.error})` : ""}`;
  });
  return "Re-processed " + said.join("; ") + ".";
}
