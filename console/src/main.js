// The console's shell: sign-in, navigation bar, hash routes (#/events/{id} is also the link
// the chat presets put in messages), one page at a time.

import { api, token, whenUnauthorized } from "./api.js";
import { h, fill, errorBox } from "./dom.js";
import * as overview from "./pages/overview.js";
import * as events from "./pages/events.js";
import * as event from "./pages/event.js";
import * as deadLetters from "./pages/dead-letters.js";
import * as targets from "./pages/targets.js";
import * as bigcommerce from "./pages/bigcommerce.js";

const NAV = [
  ["Overview", "#/overview", overview],
  ["Events", "#/events", events],
  ["Event", "#/event", event],
  ["Dead letters", "#/dead-letters", deadLetters],
  ["Targets", "#/targets", targets],
  ["BigCommerce", "#/bigcommerce", bigcommerce],
];

const root = document.getElementById("app");
let generation = 0;

/** `#/events/abc?x=1` → { page, params: {id, query} } */
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, qs] = hash.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(qs || ""));
  if (parts[0] === "events" && parts[1]) return { nav: "Event", page: event, params: { id: parts[1], query } };
  const found = NAV.find(([, href]) => href === "#/" + (parts[0] || "overview"));
  const [nav, , page] = found || NAV[0];
  return { nav, page, params: { id: parts[1], query } };
}

function signIn(message) {
  generation++;
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "current-password", required: true, spellcheck: "false" });
  const status = h("div", { class: "signin-status" }, message ? errorBox(message) : null);
  const form = h(
    "form",
    { class: "signin", action: "#", onsubmit: async (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      submit.disabled = true;
      fill(status, h("p", { role: "status" }, "Checking…"));
      try {
        await api("health", { bearer: t });
        token.set(t);
        input.value = "";
        shell();
      } catch (e) {
        const why =
          e.status === 401 ? "Sign-in failed: the relay refused this admin token." :
          e.status === 404 ? "Sign-in failed: the admin API is off on this relay (ADMIN_TOKEN is not set)." :
          "Sign-in failed.";
        fill(status, errorBox({ message: `${why} (${e.message})`, code: e.code }));
        submit.disabled = false;
        input.focus();
      }
    } },
    h("h1", {}, "b2b-relay console"),
    h("p", {}, "Sign in with the relay's admin token (the ADMIN_TOKEN secret). It is kept in this tab only and sent to this relay's /admin/ routes."),
    h("label", { for: "token" }, "Admin token"),
    input,
  );
  const submit = h("button", { type: "submit" }, "Sign in");
  form.append(submit, status);
  fill(root, h("main", { class: "signin-main" }, form));
  input.focus();
}

function shell() {
  const nav = h(
    "nav",
    { "aria-label": "Console" },
    h("ul", {}, NAV.map(([label, href]) => h("li", {}, h("a", { href }, label)))),
  );
  const out = h("button", { type: "button", class: "link", onclick: () => { token.clear(); signIn(); } }, "Sign out");
  const main = h("main", { id: "main", tabindex: "-1" });
  fill(root, h("header", {}, h("a", { class: "brand", href: "#/overview" }, "b2b-relay"), nav, out), main);
  show();
}

async function show() {
  if (!token.get()) return signIn();
  const main = document.getElementById("main");
  if (!main) return shell();
  const { nav, page, params } = route();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.textContent === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const mine = ++generation;
  const view = h("div", { class: "page" });
  fill(main, view);
  main.setAttribute("aria-busy", "true");
  delete main.dataset.rendered;
  document.title = `${nav} · b2b-relay`;
  try {
    await page.render(view, params, { current: () => mine === generation });
  } catch (e) {
    if (mine === generation) view.append(errorBox(e));
  }
  if (mine !== generation) return;
  main.setAttribute("aria-busy", "false");
  // What is on screen, for tests and screenshots: every section of this route has answered.
  main.dataset.rendered = location.hash || "#/overview";
}

whenUnauthorized((e) => {
  token.clear();
  signIn({ code: e.code, message: `Signed out: the relay refused the admin token (${e.message}).` });
});
addEventListener("hashchange", show);
show();
