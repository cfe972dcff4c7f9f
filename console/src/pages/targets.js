// Targets: each target's configuration as the API shows it (secrets, header values and URL
// query strings redacted), its lane mode and rate limit; Pause, Resume, Send test event.

import { api } from "../api.js";
import { h, badge, when, notice, errorBox, button } from "../dom.js";
import { modeOf, laneOf, scopeOf } from "./shared.js";

export async function render(view, _params, { current }) {
  view.append(h("h1", {}, "Targets"));
  const list = h("div", { class: "targets" }, notice("Loading…"));
  view.append(list);
  const load = async () => {
    const a = await api("targets");
    if (!current()) return;
    list.replaceChildren(...(a.targets.length ? a.targets.map((t) => target(t, load)) : [notice("No targets are configured.")]));
  };
  try {
    await load();
  } catch (e) {
    if (current()) list.replaceChildren(errorBox(e));
  }
}

const row = (k, v) => (v === undefined || v === null || v === "" ? null : h("div", { class: "kv" }, h("dt", {}, k), h("dd", {}, v)));
const list = (xs) => (xs && xs.length ? xs.join(", ") : null);

function target(t, reload) {
  const lane = laneOf(t);
  const result = h("div", { class: "result", "aria-live": "polite" });
  const op = (name) => async () => {
    try {
      const a = await api(`targets/${encodeURIComponent(t.name)}/${name}`, { method: "POST" });
      const mode = a && a.lane ? a.lane.mode : undefined;
      result.replaceChildren(notice(`${t.name}: ${name === "pause" ? "paused" : "resumed"}${a && a.changed === false ? " (no change)" : ""}${mode ? `, now ${mode}` : ""}.`));
      await reload();
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  };
  const test = async () => {
    const scope = scopeOf((t.matches && t.matches[0]) || "company.created");
    try {
      const a = await api("test-event", { method: "POST", body: { scope, target: t.name } });
      result.replaceChildren(h("p", { class: "notice", role: "status" }, `Test event ${scope} sent to ${(a.targets || []).join(", ") || "no target"}: `, h("a", { href: "#/events/" + a.id }, a.id.slice(0, 12) + "…")));
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  };
  const headers = (t.headers || []).map(([k, v]) => `${k}: ${v}`);
  return h(
    "section",
    { class: "card target", "aria-label": t.name, "data-target": t.name },
    h("header", {}, h("h2", {}, t.name), badge(modeOf(t))),
    h(
      "div",
      { class: "actions" },
      button("Pause", op("pause")),
      button("Resume", op("resume")),
      button("Send test event", test),
    ),
    result,
    h(
      "div",
      { class: "columns" },
      h(
        "div",
        {},
        h("h3", {}, "Configuration"),
        h(
          "dl",
          {},
          row("URL", h("code", {}, t.url)),
          row("Events", list(t.events) || "*"),
          row("Matches", t.matches && t.matches.length > 4 ? h("details", {}, h("summary", {}, `${t.matches.length} B2B types`), list(t.matches)) : list(t.matches) || "no B2B type"),
          row("Stores", list(t.stores) || "all"),
          row("Format", t.format),
          row("Signing secret", t.signing_secret ? h("code", {}, t.signing_secret) : "unsigned"),
          row("Headers", headers.length ? h("code", {}, headers.join("\n")) : null),
          row("Timeout", t.timeout_ms !== undefined ? `${t.timeout_ms} ms` : null),
          row("Max attempts", t.max_attempts !== undefined ? String(t.max_attempts) : null),
          row("Enrich", t.enrich ? (t.enrich_required ? "required" : "yes") : "no"),
          row("Where", t.where ? h("code", {}, JSON.stringify(t.where)) : null),
          row("Template", t.template ? h("code", {}, JSON.stringify(t.template)) : null),
        ),
      ),
      h(
        "div",
        {},
        h("h3", {}, "Lane"),
        h(
          "dl",
          {},
          row("Rate limit", t.rate_limit || lane.rate_limit || "none"),
          row("Max in flight", t.max_in_flight ?? lane.max_in_flight),
          row("Breaker", t.breaker_failures ? `opens after ${t.breaker_failures} failures for ${t.breaker_seconds} s` : null),
          row("Consecutive failures", lane.consecutive_failures !== undefined ? String(lane.consecutive_failures) : null),
          row("Success rate (recent)", lane.success_rate_percent !== undefined ? `${lane.success_rate_percent} % of ${lane.recent_attempts}` : null),
          row("Last success", lane.last_success_at ? when(lane.last_success_at) : null),
          row("Last failure", lane.last_failure_at ? `${when(lane.last_failure_at)}${lane.last_error ? " · " + lane.last_error : ""}` : null),
          row("Open until", lane.opened_until ? when(lane.opened_until) : null),
          row("Held backlog", lane.held_backlog !== undefined ? String(lane.held_backlog) : null),
          t.lane_error ? row("Lane", h("span", { class: "error" }, t.lane_error)) : null,
        ),
      ),
    ),
  );
}
