// Subscribing the store: the relay's one-call sync of BigCommerce hooks against a mock of the
// store webhooks API, its status view, its admin guard, and the daily reactivating cron; the
// delivery-exception hook (its own destination) and what the relay does with its callbacks.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Receiver, Relay, SCOPES, sleep, waitFor } from "./harness.mjs";
import { MockBigCommerce } from "./mock-bigcommerce.mjs";

const ADMIN = "admin-token-e2e-0123456789";
const ACCESS_TOKEN = "bc-access-token-e2e-abcdef";
const INGEST = ["ingest-first-token-e2e", "ingest-second-token-e2e"];
const DEST = "https://relay.example.com/webhooks/bigcommerce";
const EXCEPTIONS = "store/hook/deliveryException";
const DEST_EX = `${DEST}/exceptions`;
const destOf = (scope) => (scope === EXCEPTIONS ? DEST_EX : DEST);
const HEADERS = { Authorization: `Bearer ${INGEST[0]}` };
const SYNC = "/admin/bigcommerce/subscriptions/sync";
const STATUS = "/admin/bigcommerce/subscriptions";
const CRON = "17 3 * * *";
// The 19 B2B scopes, then BigCommerce's delivery exceptions (its own row and hook).
const ALL = [...SCOPES.map(([s]) => s), EXCEPTIONS];

const mock = new MockBigCommerce({ storeHash: "abc123", token: ACCESS_TOKEN, pageSize: 5 });
const rx = { hooks: new Receiver("hooks"), companies: new Receiver("companies") };
let relay; // fully configured
let bare; // no ADMIN_TOKEN, no BigCommerce settings

before(async () => {
  await mock.start();
  for (const r of Object.values(rx)) await r.start();
  // Both serve build/ as `make build` left it (make e2e builds first).
  relay = await new Relay(
    {
      INGEST_TOKENS: INGEST.join(","),
      ADMIN_TOKEN: ADMIN,
      BC_STORE_HASH: "abc123",
      BC_ACCESS_TOKEN: ACCESS_TOKEN,
      PUBLIC_URL: "https://relay.example.com/",
      BC_API_BASE: mock.base,
      TARGETS: JSON.stringify([
        { name: "hooks", url: rx.hooks.url, events: ["hook.*"] },
        { name: "companies", url: rx.companies.url, events: ["company.*"] },
      ]),
    },
    { args: ["--test-scheduled"], build: false },
  ).start();
  bare = await new Relay({ INGEST_TOKENS: "t" }, { args: ["--test-scheduled"], build: false }).start();
});

after(async () => {
  await relay?.stop();
  await bare?.stop();
  await mock.stop();
  for (const r of Object.values(rx)) await r.stop();
});

const admin = (r, method, path, { token = ADMIN } = {}) => r.call(method, path, { token });

const sync = (query = "") => admin(relay, "POST", SYNC + query);
const status = () => admin(relay, "GET", STATUS);
/** scope → outcome */
const table = (report) => Object.fromEntries(report.scopes.map((r) => [r.scope, r.outcome]));
const row = (report, scope) => report.scopes.find((r) => r.scope === scope);
const writes = () => mock.count("POST") + mock.count("PUT") + mock.count("DELETE");
/** Every scope `outcome` but the ones named in `except`. */
const expectTable = (report, outcome, except = {}) =>
  assert.deepEqual(table(report), Object.fromEntries(ALL.map((s) => [s, except[s] ?? outcome])));

test("the subscription routes need the admin token", async () => {
  for (const [method, path] of [["POST", SYNC], ["POST", `${SYNC}?dry_run=true`], ["GET", STATUS]]) {
    for (const token of [null, "wrong-token", `${ADMIN}x`]) {
      const res = await admin(relay, method, path, { token });
      assert.equal(res.status, 401, `${method} ${path} with ${token}`);
      assert.equal(res.json.error.code, "unauthorized");
    }
  }
  assert.equal((await admin(relay, "GET", SYNC)).status, 405);
  assert.equal((await admin(relay, "DELETE", STATUS)).status, 405);
  assert.equal(mock.calls.length, 0, "an unauthorized call reached BigCommerce");
});

test("without ADMIN_TOKEN the subscription routes do not exist", async () => {
  for (const [method, path] of [["POST", SYNC], ["GET", STATUS]]) {
    for (const token of [null, ADMIN]) {
      const res = await admin(bare, method, path, { token });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.json.error.code, "not_found");
    }
  }
});

test("/health and /admin/health report the sync's state", async () => {
  const configured = await (await fetch(`${relay.url}/health`)).json();
  assert.equal(configured.status, "ok");
  assert.equal(configured.sync, "configured");
  const operator = await admin(relay, "GET", "/admin/health");
  assert.equal(operator.status, 200, operator.text);
  assert.equal(operator.json.sync, "configured");
  const none = await (await fetch(`${bare.url}/health`)).json();
  assert.equal(none.status, "ok", "a relay without the sync is configured correctly");
  assert.equal(none.sync, "not configured: set BC_STORE_HASH, the secret BC_ACCESS_TOKEN and PUBLIC_URL");
});

test("the cron without BigCommerce settings only logs that it is not configured", async () => {
  const res = await bare.scheduled(CRON);
  assert.equal(res.status, 200, res.text);
  await waitFor(() => bare.logs.includes("sync not configured"), { timeoutMs: 10_000, what: "the not-configured log line" });
  assert.equal(mock.calls.length, 0);
});

test("a dry run on an empty store plans 20 creations and sends none", async () => {
  mock.resetCalls();
  const res = await sync("?dry_run=true");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.dry_run, true);
  assert.equal(res.json.destination, DEST);
  assert.equal(res.json.exceptions_destination, DEST_EX);
  assert.deepEqual(res.json.scopes.map((r) => r.scope), ALL, "one row per B2B scope in catalog order, then the exceptions hook");
  expectTable(res.json, "created");
  assert.ok(res.json.scopes.every((r) => r.hook_id === null));
  assert.equal(writes(), 0, "a dry run wrote to BigCommerce");
  assert.equal(mock.list().length, 0);
  const get = mock.calls.find((c) => c.method === "GET");
  assert.equal(get.path, "/stores/abc123/v3/hooks");
  assert.equal(get.headers["x-auth-token"], ACCESS_TOKEN);
  assert.equal(get.headers.accept, "application/json");

  const st = await status();
  assert.equal(st.status, 200, st.text);
  expectTable(st.json, "missing");
});

test("sync creates one active hook per scope, carrying the first ingest token", async () => {
  mock.resetCalls();
  const res = await sync();
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.dry_run, false);
  expectTable(res.json, "created");
  const hooks = mock.list();
  assert.equal(hooks.length, 20);
  assert.equal(mock.count("POST"), 20);
  // BigCommerce's rule, which the mock enforces too: no other hook shares its destination.
  assert.deepEqual(hooks.filter((h) => h.destination === DEST_EX).map((h) => h.scope), [EXCEPTIONS]);
  for (const scope of ALL) {
    const [h, ...more] = mock.byScope(scope);
    assert.equal(more.length, 0, `duplicate hook for ${scope}`);
    assert.equal(h.destination, destOf(scope));
    assert.equal(h.is_active, true);
    assert.deepEqual(h.headers, HEADERS);
    assert.equal(row(res.json, scope).hook_id, h.id);
  }
  for (const post of mock.calls.filter((c) => c.method === "POST")) {
    assert.equal(post.headers["content-type"], "application/json");
    assert.equal(post.headers["x-auth-token"], ACCESS_TOKEN);
    assert.deepEqual(Object.keys(JSON.parse(post.body)).sort(), ["destination", "headers", "is_active", "scope"]);
  }
});

test("a second sync reads every page and changes nothing", async () => {
  mock.resetCalls();
  const res = await sync();
  assert.equal(res.status, 200, res.text);
  expectTable(res.json, "unchanged");
  assert.equal(writes(), 0, "second sync wrote to BigCommerce");
  // 20 hooks at 5 per page: pages 1 to 4, each once.
  assert.deepEqual(mock.calls.map((c) => c.query.page), ["1", "2", "3", "4"]);
  const st = await status();
  expectTable(st.json, "active");
  assert.ok(st.json.scopes.every((r) => Number.isInteger(r.hook_id)));
});

test("drift is repaired: deactivated → reactivated, stale headers → updated, other destinations untouched", async () => {
  const [off] = mock.byScope("store/company/created");
  const [stale] = mock.byScope("store/quote/updated");
  mock.set(off.id, { is_active: false });
  mock.set(stale.id, { headers: { Authorization: "Bearer old-ingest-token" } });
  const theirs = mock.add({
    scope: "store/company/created",
    destination: "https://crm.example.com/bigcommerce",
    is_active: false,
    headers: { "X-Their-Secret": "not-ours" },
  });
  const theirsOnly = mock.add({ scope: "store/order/created", destination: "https://erp.example.com/x", headers: null });
  const drift = { "store/company/created": "reactivated", "store/quote/updated": "updated" };

  let st = await status();
  expectTable(st.json, "active", { "store/company/created": "inactive", "store/quote/updated": "outdated" });
  assert.equal(row(st.json, "store/quote/updated").message, "headers differ");
  assert.ok(!st.text.includes("old-ingest-token") && !st.text.includes("not-ours"), "status echoed hook headers");

  mock.resetCalls();
  const dry = await sync("?dry_run=true");
  expectTable(dry.json, "unchanged", drift);
  assert.equal(writes(), 0);
  assert.equal(mock.get(off.id).is_active, false, "dry run changed a hook");

  mock.resetCalls();
  const res = await sync();
  assert.equal(res.status, 200, res.text);
  expectTable(res.json, "unchanged", drift);
  assert.equal(row(res.json, "store/company/created").hook_id, off.id);
  assert.equal(row(res.json, "store/quote/updated").hook_id, stale.id);
  assert.equal(mock.count("PUT"), 2);
  assert.equal(mock.count("POST"), 0);
  assert.equal(mock.get(off.id).is_active, true);
  assert.deepEqual(mock.get(stale.id).headers, HEADERS);
  assert.deepEqual(mock.get(theirs.id), theirs, "a hook of another destination was changed");
  assert.deepEqual(mock.get(theirsOnly.id), theirsOnly);

  mock.resetCalls();
  expectTable((await sync()).json, "unchanged");
  assert.equal(writes(), 0);
  st = await status();
  expectTable(st.json, "active");
});

test("a write BigCommerce refuses is an error row with BigCommerce's message", async () => {
  const [gone] = mock.byScope("store/quote/deleted");
  mock.remove(gone.id);
  mock.failNext("POST", "store/quote/deleted", 422, {
    status: 422,
    title: "JSON data is missing or invalid",
    type: "/api-docs/getting-started/api-status-codes",
    errors: { destination: "Destination is on the denylist" },
  });
  const res = await sync();
  assert.equal(res.status, 200, res.text);
  expectTable(res.json, "unchanged", { "store/quote/deleted": "error" });
  assert.equal(
    row(res.json, "store/quote/deleted").message,
    "BigCommerce answered 422 to POST /v3/hooks: JSON data is missing or invalid; destination: Destination is on the denylist",
  );
  await waitFor(() => /"outcome":"partial".*store\/quote\/deleted: BigCommerce answered 422/.test(relay.logs), {
    timeoutMs: 10_000,
    what: "the failed scope in the sync's log line",
  });
  // Once BigCommerce accepts again, the next sync creates it.
  const again = await sync();
  expectTable(again.json, "unchanged", { "store/quote/deleted": "created" });
});

test("a wrong access token: 409 with BigCommerce's 401 message, nothing written", async () => {
  mock.token = "rotated-by-the-merchant";
  try {
    mock.resetCalls();
    for (const res of [await sync(), await sync("?dry_run=true"), await status()]) {
      assert.equal(res.status, 409, res.text);
      assert.equal(res.json.error.code, "bigcommerce_rejected");
      assert.match(res.json.error.message, /^BigCommerce answered 401 to GET \/v3\/hooks: Unauthorized - the v3 Auth client ID or token/);
      assert.ok(!res.text.includes(ACCESS_TOKEN), "the access token was echoed");
    }
    assert.equal(writes(), 0);
  } finally {
    mock.token = ACCESS_TOKEN;
  }
});

test("the daily cron reactivates our deactivated hook and creates nothing", async () => {
  const [off] = mock.byScope("store/superadmin/updated");
  const [missing] = mock.byScope("store/company/user/deleted");
  const [stale] = mock.byScope("store/company/address/created");
  mock.set(off.id, { is_active: false });
  mock.set(stale.id, { headers: { Authorization: "Bearer old-ingest-token" } });
  mock.remove(missing.id);
  mock.resetCalls();

  const res = await relay.scheduled(CRON);
  assert.equal(res.status, 200, res.text);
  await waitFor(() => mock.get(off.id).is_active, { timeoutMs: 15_000, what: "the cron to reactivate the hook" });
  assert.equal(mock.count("POST"), 0, "the cron created a hook");
  assert.equal(mock.count("PUT"), 1);
  assert.deepEqual(JSON.parse(mock.calls.find((c) => c.method === "PUT").body), { is_active: true });
  assert.equal(mock.byScope("store/company/user/deleted").length, 0);
  assert.deepEqual(mock.get(stale.id).headers, { Authorization: "Bearer old-ingest-token" }, "the cron rewrote headers");
  await waitFor(() => /"msg":"bigcommerce sync","mode":"reactivate_only","dry_run":false,"outcome":"ok"/.test(relay.logs), {
    timeoutMs: 10_000,
    what: "the cron's log line",
  });
});

test("the status view shows the exceptions hook as its own row", async () => {
  const st = await status();
  const ex = row(st.json, EXCEPTIONS);
  assert.equal(ex.outcome, "active");
  assert.equal(mock.get(ex.hook_id).destination, DEST_EX);
  mock.set(ex.hook_id, { is_active: false });
  assert.equal(row((await status()).json, EXCEPTIONS).outcome, "inactive");
  assert.equal(row((await sync()).json, EXCEPTIONS).outcome, "reactivated");
});

const exception = (code, hookId, createdAt) => ({
  scope: EXCEPTIONS,
  store_id: "1025646",
  data: { type: "webhook", id: hookId, error_code: code, message: `Non-200 response received when delivering to ${DEST}, will retry` },
  hash: "e0c298b8097a6a2f39d17e593a9b360f5b2fef7d",
  created_at: createdAt,
  producer: "stores/abc123",
});
const postException = (body, token = INGEST[0]) => relay.post(body, { token, path: "/webhooks/bigcommerce/exceptions" });

test("a delivery exception is accepted, logged, counted and forwarded to hook.* targets only", async () => {
  assert.equal((await postException(exception(90001, 1, 1561482670), "wrong")).status, 401, "the same authentication");
  const res = await postException(exception(90001, 123, 1561482670));
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.status, "accepted");
  assert.deepEqual(res.json.targets, ["hooks"]);
  const [req] = await waitFor(() => rx.hooks.byId(res.json.id).length && rx.hooks.byId(res.json.id), { what: "the exception at hooks" });
  const ev = JSON.parse(req.body);
  assert.equal(ev.type, "com.bigcommerce.hook.deliveryException");
  assert.equal(ev.data.error_code, 90001);
  assert.equal(rx.companies.byId(res.json.id).length, 0);
  const line = relay.logLines("bigcommerce delivery exception").find((l) => l.event_id === res.json.id);
  assert.deepEqual(
    { level: line.level, error_code: line.error_code, hook_id: line.hook_id, reactivating: line.reactivating },
    { level: "warn", error_code: 90001, hook_id: 123, reactivating: false },
  );
  assert.match(line.meaning, /will retry/);
  // BigCommerce's retry of it is a duplicate: no second line.
  assert.equal((await postException(exception(90001, 123, 1561482670))).json.status, "duplicate");
  assert.equal(relay.logLines("bigcommerce delivery exception").filter((l) => l.event_id === res.json.id).length, 1);
});

test("90002 (retries exhausted): the relay re-activates that hook shortly after, and only that one", async () => {
  const [ours] = mock.byScope("store/quote/created");
  const [other] = mock.byScope("store/quote/updated");
  const foreign = mock.add({ scope: "store/order/created", destination: "https://erp.example.com/x", is_active: false });
  mock.set(ours.id, { is_active: false });
  mock.set(other.id, { is_active: false });
  mock.resetCalls();
  const res = await postException(exception(90002, ours.id, 1561482700));
  assert.equal(res.json.status, "accepted", res.text);
  assert.equal((await postException(exception(90002, foreign.id, 1561482701))).json.status, "accepted");
  assert.equal((await postException(exception(90003, other.id, 1561482702))).json.status, "accepted");
  assert.equal(mock.get(ours.id).is_active, false, "not before the delay");
  await waitFor(() => mock.get(ours.id).is_active, { timeoutMs: 40_000, intervalMs: 500, what: "the hook re-activated" });
  await waitFor(() => relay.logLines("bigcommerce hook reactivation").some((l) => l.hook_id === foreign.id), { timeoutMs: 20_000, what: "the foreign hook's line" });
  const puts = mock.calls.filter((c) => c.method === "PUT");
  assert.deepEqual(puts.map((c) => [c.path, JSON.parse(c.body)]), [[`/stores/abc123/v3/hooks/${ours.id}`, { is_active: true }]]);
  assert.equal(mock.get(foreign.id).is_active, false, "another destination's hook is never touched");
  assert.equal(mock.get(other.id).is_active, false, "90003 re-activates nothing");
  const lines = relay.logLines("bigcommerce hook reactivation");
  assert.equal(lines.find((l) => l.hook_id === ours.id).outcome, "reactivated");
  assert.equal(lines.find((l) => l.hook_id === foreign.id).outcome, "not_ours");
  assert.ok(relay.logLines("bigcommerce delivery exception").some((l) => l.hook_id === ours.id && l.reactivating));
  mock.set(other.id, { is_active: true });
  mock.remove(foreign.id);
});

test("no token appears in the worker's log", () => {
  for (const secret of [ACCESS_TOKEN, ADMIN, ...INGEST]) {
    assert.ok(!relay.logs.includes(secret), `log contains ${secret}`);
  }
});
