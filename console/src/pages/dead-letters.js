// Dead letters: deliveries that gave up, filterable by target; Replay or Delete each,
// Replay all (after a confirmation) once the target is fixed.

import { api } from "../api.js";
import { h, fill, table, when, shortId, labelled, select, notice, errorBox, button } from "../dom.js";
import { confirmDialog } from "../confirm.js";
import { targetNames } from "./shared.js";

const PAGE = 50;

export async function render(view, { query }, { current }) {
  view.append(h("h1", {}, "Dead letters"));
  // Without the names the filter still works ("Any target"); the API's error is shown.
  const names = await targetNames().catch((e) => (view.append(errorBox(e)), []));
  if (!current()) return;
  const filter = select([["", "All targets"], ...names.map((n) => [n, n])], query.target || "");
  filter.addEventListener("change", () => {
    location.hash = "#/dead-letters" + (filter.value ? "?target=" + encodeURIComponent(filter.value) : "");
  });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const list = h("div", {}, notice("Loading…"));
  const target = query.target || undefined;
  let records = [];
  let cursor = null;

  const replayAll = button("Replay all", async () => {
    const scope = target ? `of ${target}` : "of every target";
    if (!(await confirmDialog("Replay all dead letters?", `Every dead letter ${scope} becomes a fresh delivery (attempt 1), and its record is deleted once it is queued.`))) return;
    result.replaceChildren(notice("Replaying…"));
    const sum = { replayed: 0, failed: 0, not_found: 0, errors: [] };
    try {
      for (let round = 0; round < 100; round++) {
        const a = await api("dead-letters/replay", { method: "POST", body: target ? { target } : {} });
        sum.replayed += a.replayed;
        sum.failed += a.failed;
        sum.not_found += a.not_found;
        sum.errors.push(...(a.errors || []));
        if (!a.remaining || (a.replayed === 0 && a.failed > 0)) break;
      }
      result.replaceChildren(report(sum));
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
    await load(true);
  }, { kind: "danger" });

  view.append(h("div", { class: "toolbar" }, labelled("Target", filter), replayAll), result, list);

  const rowActions = (r) =>
    h(
      "span",
      { class: "actions" },
      button("Replay", async () => {
        try {
          const a = await api("dead-letters/replay", { method: "POST", body: { target: r.target, ids: [r.event_id] } });
          result.replaceChildren(report(a));
          await load(true);
        } catch (e) {
          result.replaceChildren(errorBox(e));
        }
      }),
      button("Delete", async () => {
        try {
          await api(`dead-letters/${encodeURIComponent(r.target)}/${encodeURIComponent(r.event_id)}`, { method: "DELETE" });
          result.replaceChildren(notice(`Deleted the dead letter of ${r.event_id.slice(0, 12)}… at ${r.target}.`));
          await load(true);
        } catch (e) {
          result.replaceChildren(errorBox(e));
        }
      }, { kind: "danger" }),
    );

  const draw = () => {
    fill(
      list,
      table(
        [
          ["Target", (r) => r.target],
          ["Event", (r) => h("a", { href: "#/events/" + encodeURIComponent(r.event_id) }, shortId(r.event_id))],
          ["Type", (r) => r.type],
          ["Attempts", (r) => String(r.attempts)],
          ["Last status or error", (r) => [r.last_status ? String(r.last_status) : null, r.last_status && r.last_error ? " · " : null, r.last_error || (r.last_status ? null : "—")]],
          ["Last attempt", (r) => when(r.last_attempt_at)],
          ["Actions", rowActions],
        ],
        records,
        { empty: "No dead letters.", caption: target ? `Dead letters of ${target}` : "Dead letters of every target" },
      ),
      cursor ? button("More", () => load(false)) : null,
    );
  };

  async function load(reset) {
    try {
      const page = await api("dead-letters", { query: { target, limit: PAGE, cursor: reset ? undefined : cursor } });
      if (!current()) return;
      records = reset ? page.records : records.concat(page.records);
      cursor = page.cursor;
      draw();
    } catch (e) {
      if (current()) list.replaceChildren(errorBox(e));
    }
  }
  await load(true);
}

function report(a) {
  const parts = [`${a.replayed} replayed`];
  if (a.failed) parts.push(`${a.failed} failed`);
  if (a.not_found) parts.push(`${a.not_found} not found`);
  return h("div", {}, notice(parts.join(", ") + "."), (a.errors || []).length ? h("ul", { class: "error", role: "alert" }, a.errors.map((e) => h("li", {}, e))) : null);
}
