// The operator's console in a real browser (Debian's chromium driven by playwright-core)
// against the relay in wrangler dev with real receivers: sign-in, every page, the buttons
// that change things, and where the admin token goes. Screenshots land in target/console/.
import assert from "node:assert/strict";
import { execSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { ROOT, Receiver, Relay, callback, eventId, sleep, waitFor } from "./harness.mjs";
import { MockBigCommerce } from "./mock-bigcommerce.mjs";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "console-admin-7c21e9";
const SHOTS = path.join(ROOT, "target/console");
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** With a D1 history in wrangler.toml, its schema in the relay's local state (as an operator would). */
async function historySchema() {
  if (!/^\[\[d1_databases\]\]/m.test(fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"))) return;
  execSync(`${path.join(ROOT, "node_modules/.bin/wrangler")} d1 migrations apply HISTORY --local --persist-to ${JSON.stringify(relay.state)}`, {
    cwd: ROOT,
    stdio: "ignore",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" },
  });
}

/** CI's machine is fresh: install Debian's chromium when it is missing (root, apt-get). */
function ensureChromium() {
  if (fs.existsSync(CHROMIUM)) return;
  execSync("apt-get update -qq && apt-get install -y -qq chromium >/dev/null", {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

// Receivers. flaky: the first two requests of each event fail. dead: always 500.
// later: 500 until the test brings it back. hold: for pause and resume.
const good = new Receiver("good");
const flaky = new Receiver("flaky", (r, all) => (all.filter((x) => x.headers["webhook-id"] === r.headers["webhook-id"]).length <= 2 ? { status: 503 } : { status: 200 }));
const dead = new Receiver("dead", () => ({ status: 500, body: '{"error":"down"}' }));
let laterUp = false;
const later = new Receiver("later", () => (laterUp ? { status: 200 } : { status: 500 }));
const hold = new Receiver("hold");
const bc = new MockBigCommerce({ storeHash: "abc123", token: "bc-access-token" });

let relay, browser, context, page;
const requests = []; // every request the browser made
const problems = []; // page errors and CSP violations

const admin = (method, p, body) => relay.call(method, p, { token: ADMIN, body });

before(async () => {
  ensureChromium();
  fs.mkdirSync(SHOTS, { recursive: true });
  await Promise.all([good, flaky, dead, later, hold].map((r) => r.start()));
  await bc.start();
  relay = await new Relay(
    {
      INGEST_TOKENS: "console-ingest-token",
      ADMIN_TOKEN: ADMIN,
      RETRY_SCHEDULE_SECONDS: "1",
      REQUEUE_SECONDS: "1",
      BC_STORE_HASH: "abc123",
      BC_ACCESS_TOKEN: "bc-access-token",
      PUBLIC_URL: "https://relay.example.com",
      BC_API_BASE: bc.base,
      TARGETS: JSON.stringify([
        { name: "good", url: good.url },
        { name: "flaky", url: flaky.url, events: ["company.user.*"], max_attempts: 5 },
        { name: "dead", url: dead.url, events: ["quote.*"], max_attempts: 50, timeout_ms: 2000 },
        { name: "later", url: later.url, events: ["company.address.*"], max_attempts: 1 },
        { name: "hold", url: hold.url, events: ["superadmin.*"] },
      ]),
    },
    { build: false },
  ).start();
  await historySchema();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on("request", (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
  page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  await Promise.all([good, flaky, dead, later, hold].map((r) => r.stop()));
  await bc.stop();
});

const shot = (name, p = page) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

async function signIn(p = page) {
  await p.goto(relay.url + "/console/");
  await p.getByLabel("Admin token").fill(ADMIN);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
}

/** Loads `hash` (e.g. `#/overview`) afresh, even when it is the page on screen, until rendered. */
async function visit(hash) {
  const url = relay.url + "/console/" + hash;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await page.locator(`main[data-rendered="${hash}"]`).waitFor();
}

/** Opens a page from the navigation bar. */
async function open(name) {
  await page.getByRole("navigation").getByRole("link", { name, exact: true }).click();
  await page.getByRole("heading", { level: 1, name: name === "Event" ? "Event" : name, exact: true }).waitFor();
}

test("the console is static at /console/ with the strict CSP; every other path reaches the worker", async () => {
  for (const p of ["/console/", "/console/app.js", "/console/app.css"]) {
    const res = await fetch(relay.url + p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get("content-security-policy"), CSP, p);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", p);
    assert.equal(res.headers.get("set-cookie"), null, p);
  }
  const html = await (await fetch(relay.url + "/console/")).text();
  assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|style=/i, "no inline script, handler or style");
  assert.doesNotMatch(html, /https?:\/\//, "no third-party origin");
  const bare = await fetch(relay.url + "/console", { redirect: "manual" });
  assert.equal(bare.status, 307);
  assert.equal(bare.headers.get("location"), "/console/");
  // The worker still answers everything else, and the console's files hold no datum.
  assert.equal((await fetch(relay.url + "/health")).headers.get("content-type"), "application/json");
  assert.equal((await relay.call("GET", "/admin/targets")).status, 401);
  assert.equal((await relay.call("GET", "/nothing-here")).json.error.code, "not_found");
});

test("sign-in: a wrong token is refused and said so; the right one opens the overview with every target", async () => {
  await page.goto(relay.url + "/console/");
  await page.getByLabel("Admin token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), /refused this admin token/);
  assert.match(await alert.innerText(), /missing or invalid bearer token/, "the API's own message");
  await shot("sign-in-refused");
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");

  await page.getByLabel("Admin token").fill(ADMIN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("b2b-relay.admin-token")), ADMIN);
  assert.deepEqual(await context.cookies(), [], "no cookies");
  const nav = page.getByRole("navigation");
  for (const name of ["Overview", "Events", "Event", "Dead letters", "Targets", "BigCommerce"]) {
    assert.equal(await nav.getByRole("link", { name, exact: true }).count(), 1, name);
  }
  for (const name of ["good", "flaky", "dead", "later", "hold"]) {
    const card = page.getByRole("article", { name });
    await card.waitFor();
    assert.match(await card.locator(".badge").innerText(), /\S/, `${name} has a mode`);
  }
});

test("the overview's first render takes under a second on the local relay", async () => {
  await visit("#/overview");
  await page.reload();
  await page.waitForFunction(() => performance.getEntriesByName("console:overview").length > 0, null, { timeout: 10_000 });
  const ms = await page.evaluate(() => performance.getEntriesByName("console:overview")[0].startTime);
  console.log(`# overview first render: ${Math.round(ms)} ms after navigation start`);
  assert.ok(ms < 1000, `first render took ${ms} ms`);
});

test("the overview shows a dead target as open", async () => {
  for (let i = 0; i < 6; i++) await relay.post(callback("store/quote/created", { quote_id: 9000 + i, quote_uuid: "q" + i }));
  await waitFor(async () => {
    const t = (await admin("GET", "/admin/targets")).json.targets.find((x) => x.name === "dead");
    return (t.lane?.mode ?? t.mode) === "open";
  }, { timeoutMs: 60_000, what: "dead's lane to open" });
  await visit("#/overview");
  const card = page.getByRole("article", { name: "dead" });
  await card.locator(".badge", { hasText: "open" }).waitFor();
  assert.equal(await page.getByRole("article", { name: "good" }).locator(".badge").innerText(), "healthy");
});

// One company user event, delivered to good at once and to flaky at the third attempt.
const userEvent = callback("store/company/user/created", { company_id: 770011, user_id: 42 });
const userId = eventId(userEvent);

test("Events: searching companies/<id> finds the company's user event", async () => {
  assert.equal((await relay.post(userEvent)).json.status, "accepted");
  await relay.settled(userId, ["good", "flaky"]);
  await visit("#/overview");
  await open("Events");
  await page.getByRole("searchbox", { name: "Search events" }).fill("companies/770011");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const link = page.getByRole("link", { name: userId.slice(0, 12) + "…" });
  await link.waitFor();
  const row = page.getByRole("row").filter({ has: link });
  assert.match(await row.innerText(), /com\.bigcommerce\.company\.user\.created/);
  assert.match(await row.innerText(), /companies\/770011\/users\/42/);
  // A type glob and a filter narrow the same table.
  await page.getByRole("searchbox", { name: "Search events" }).fill("company.user.*");
  await page.getByLabel("Target", { exact: true }).selectOption("flaky");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.waitForURL(/target=flaky/);
  await link.waitFor();
  await shot("events-search");
  await link.click();
  await page.getByRole("heading", { name: "Event", level: 1 }).waitFor();
});

test("Event: a flaky delivery's failed attempts, then its success; Replay makes the receiver get it again", async () => {
  await visit("#/events/" + userId);
  const section = page.getByRole("region", { name: "flaky" });
  const attempts = section.getByRole("table", { name: "Attempts at flaky" });
  await attempts.getByRole("row").nth(3).waitFor();
  const rows = await attempts.getByRole("row").allInnerTexts();
  assert.equal(rows.length, 4, rows.join("\n")); // header + 3
  assert.match(rows[1], /retry[\s\S]*503/);
  assert.match(rows[2], /retry[\s\S]*503/);
  assert.match(rows[3], /delivered[\s\S]*200/);
  assert.match(await section.locator(".badge").first().innerText(), /delivered/);
  assert.match(await page.getByLabel("CloudEvent JSON").innerText(), /"subject": "companies\/770011\/users\/42"/);
  await shot("event-timeline");

  const before = flaky.byId(userId).length;
  await section.getByRole("button", { name: "Replay", exact: true }).click();
  await waitFor(() => flaky.byId(userId).length > before, { what: "flaky to get the replayed event" });
  assert.equal(good.byId(userId).length, 1, "a replay to flaky does not reach good");
  // The timeline shows the replay's attempt once the page reloads it.
  await waitFor(async () => {
    await page.reload();
    await attempts.getByRole("row").first().waitFor();
    return (await attempts.getByRole("row").count()) > 4;
  }, { timeoutMs: 20_000, intervalMs: 1000, what: "the replay's attempt on the event page" });
});

test("Dead letters: Replay one, Delete one, Replay all (confirmed) delivers to the recovered target", async () => {
  const cbs = [0, 1, 2].map((i) => callback("store/company/address/created", { company_id: 770011, address_id: 500 + i }));
  const ids = cbs.map(eventId);
  for (const cb of cbs) assert.equal((await relay.post(cb)).json.status, "accepted");
  await waitFor(async () => (await admin("GET", "/admin/dead-letters?target=later")).json.records.length === 3, { what: "three dead letters at later" });

  await visit("#/overview");
  await open("Dead letters");
  await page.getByLabel("Target", { exact: true }).selectOption("later");
  await page.waitForURL(/target=later/);
  const table = page.getByRole("table", { name: "Dead letters of later" });
  const rowOf = (id) => table.getByRole("row").filter({ has: page.getByRole("link", { name: id.slice(0, 12) + "…" }) });
  for (const id of ids) await rowOf(id).waitFor();
  assert.match(await rowOf(ids[0]).innerText(), /500/);
  await shot("dead-letters-rows");

  laterUp = true;
  await rowOf(ids[0]).getByRole("button", { name: "Replay", exact: true }).click();
  await waitFor(() => later.byId(ids[0]).length === 2, { what: "the replayed dead letter" });
  await rowOf(ids[0]).waitFor({ state: "detached" });

  await rowOf(ids[1]).getByRole("button", { name: "Delete", exact: true }).click();
  await rowOf(ids[1]).waitFor({ state: "detached" });

  await page.getByRole("button", { name: "Replay all" }).click();
  const dialog = page.getByRole("dialog", { name: "Replay all dead letters?" });
  await dialog.waitFor();
  await shot("dead-letters-confirm");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await waitFor(() => later.byId(ids[2]).length === 2, { what: "Replay all to deliver the last one" });
  await table.getByText("No dead letters.").waitFor();
  assert.equal(later.byId(ids[1]).length, 1, "the deleted one is never delivered again");
  assert.equal(later.requests.filter((r) => ids.includes(r.headers["webhook-id"])).length, 5);
});

test("Targets: Pause holds deliveries, Resume delivers them", async () => {
  await visit("#/overview");
  await open("Targets");
  const card = page.getByRole("region", { name: "hold" });
  await card.getByRole("button", { name: "Pause", exact: true }).click();
  await card.locator(".badge", { hasText: "paused" }).waitFor();
  const cb = callback("store/superadmin/created", { user_id: 880001 });
  const id = eventId(cb);
  assert.equal((await relay.post(cb)).json.status, "accepted");
  await sleep(4000);
  assert.equal(hold.byId(id).length, 0, "nothing reaches a paused target");
  await shot("targets-paused");
  await card.getByRole("button", { name: "Resume", exact: true }).click();
  await card.locator(".badge", { hasText: "healthy" }).waitFor();
  await waitFor(() => hold.byId(id).length === 1, { timeoutMs: 90_000, what: "the held event after Resume" });
});

test("Targets: Send test event reaches that target only", async () => {
  await visit("#/overview");
  await open("Targets");
  const card = page.getByRole("region", { name: "hold" });
  const before = hold.requests.length;
  await card.getByRole("button", { name: "Send test event" }).click();
  const status = card.getByRole("status");
  await status.filter({ hasText: "Test event store/superadmin/created sent to hold" }).waitFor();
  await waitFor(() => hold.requests.length > before, { what: "the test event at hold" });
  const got = JSON.parse(hold.requests.at(-1).body);
  assert.equal(got.bctest, true);
  assert.equal(got.type, "com.bigcommerce.superadmin.created");
  await shot("targets-test-event");
});

test("BigCommerce: subscription status per scope, Dry run writes nothing, Sync now creates the hooks", async () => {
  await visit("#/overview");
  await open("BigCommerce");
  const status = page.getByRole("table", { name: "Subscription status per scope" });
  // The 19 B2B scopes and BigCommerce's delivery-exception hook, each its own row.
  await status.getByRole("row").nth(20).waitFor();
  assert.equal(await status.getByRole("row").count(), 21, "a header row, 19 scopes and the exceptions hook");
  assert.match(await status.getByRole("row").nth(1).innerText(), /store\/company\/created[\s\S]*missing/);
  await status.getByRole("row").filter({ hasText: "store/hook/deliveryException" }).waitFor();

  await page.getByRole("button", { name: "Dry run" }).click();
  const dry = page.getByRole("table", { name: "Dry run (nothing written)" });
  await dry.getByRole("row").nth(20).waitFor();
  assert.match(await dry.getByRole("row").nth(1).innerText(), /created/);
  assert.equal(bc.list().length, 0, "a dry run writes nothing");

  await page.getByRole("button", { name: "Sync now" }).click();
  const done = page.getByRole("table", { name: "Sync", exact: true });
  await done.getByRole("row").nth(20).waitFor();
  assert.equal(bc.list().length, 20);
  await status.getByRole("row").filter({ hasText: "store/quote/deleted" }).filter({ hasText: "active" }).waitFor();
  await shot("bigcommerce-sync");
});

test("BigCommerce: a quarantined request can be re-processed", async () => {
  const res = await relay.post('{"scope":"store/company/created","store_id":"1001","data":[]}');
  assert.equal(res.json.status, "quarantined");
  await visit("#/bigcommerce");
  const table = page.getByRole("table", { name: "Quarantined requests (kept 14 days)" });
  const row = table.getByRole("row").filter({ hasText: res.json.id.slice(0, 12) });
  await row.waitFor();
  await row.getByRole("button", { name: "Re-process" }).click();
  // Its data is still no object: the current parser keeps it, and the page says so.
  await page.getByRole("status").filter({ hasText: `Re-processed ${res.json.id.slice(0, 12)}…: quarantined` }).waitFor();
  await row.waitFor();
  await shot("bigcommerce-quarantine");
  // The overview counts what is kept and lists the latest ones.
  await visit("#/overview");
  const fromBc = page.locator("section.problems");
  await fromBc.getByText(res.json.id.slice(0, 12)).first().waitFor();
  assert.match(await fromBc.locator(".count").first().innerText(), /^[1-9]\d*\+? kept$/);
});

test("an API error is shown as the API's message", async () => {
  const missing = "0".repeat(64);
  const expected = (await admin("GET", `/admin/events/${missing}`)).json.error.message;
  await visit(`#/events/${missing}`);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), new RegExp(expected.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
});

test("every page, every table with a header row, readable at 390 px; screenshots in target/console/", async () => {
  const pages = [
    ["overview", "#/overview"],
    ["events", "#/events"],
    ["event", "#/events/" + userId],
    ["dead-letters", "#/dead-letters"],
    ["targets", "#/targets"],
    ["bigcommerce", "#/bigcommerce"],
  ];
  for (const [width, suffix] of [[1280, ""], [390, "-390"]]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    for (const [name, hash] of pages) {
      await visit(hash);
      for (const t of await page.getByRole("table").all()) {
        assert.ok((await t.locator("thead th").count()) > 0, `${name}: a table without a header row`);
      }
      if (width === 390) {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 1, `${name} scrolls sideways at 390 px by ${overflow} px`);
      }
      await shot(name + suffix);
      if (suffix && name === "overview") await page.screenshot({ path: path.join(SHOTS, "overview-390-screen.png") });
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("the browser sent the admin token only to the relay's own /admin/ routes, and nothing to any other origin", async () => {
  assert.ok(requests.length > 20, `saw ${requests.length} requests`);
  const origin = new URL(relay.url).origin;
  for (const r of requests) {
    const u = new URL(r.url);
    if (u.protocol === "data:") continue;
    assert.equal(u.origin, origin, `a request left the relay: ${r.url}`);
    assert.ok(!r.url.includes(ADMIN), `the token in a URL: ${r.url}`);
    if (r.headers.authorization !== undefined) {
      assert.ok(u.pathname.startsWith("/admin/"), `a token sent to ${u.pathname}`);
    }
    assert.equal(r.headers.cookie, undefined, `a cookie sent to ${r.url}`);
  }
  assert.ok(requests.some((r) => r.headers.authorization === `Bearer ${ADMIN}`), "the admin calls carry the bearer token");
  assert.deepEqual(problems, [], "no page errors, no CSP violations");
});
