// Operator routes: auth, the redacted configuration, dead-letter paging, replay, delete and
// test events, against the real worker in wrangler dev.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Receiver, Relay, callback, eventId, waitFor } from "./harness.mjs";

const ADMIN = "admin-token-0f3c9a";
const API_KEY = "literal-api-key-9b1e";
let healthy = false;
// Fails until the test "fixes" it, like a downstream during an outage.
const crm = new Receiver("crm", () => (healthy ? { status: 200 } : { status: 500 }));
const erp = new Receiver("erp");
let relay;

const admin = (method, path, opts = {}) => relay.call(method, path, { token: ADMIN, ...opts });

before(async () => {
  await crm.start();
  await erp.start();
  relay = await new Relay({
    INGEST_TOKENS: "ingest-token-77aa",
    ADMIN_TOKEN: ADMIN,
    BC_STORE_HASH: "abc123",
    ERP_KEY: API_KEY,
    CRM_SIGNING: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    RETRY_SCHEDULE_SECONDS: "1",
    TARGETS: JSON.stringify([
      { name: "crm", url: crm.url + "?key=in-query", events: ["company.*"], max_attempts: 1, signing_secret: "CRM_SIGNING" },
      { name: "erp", url: erp.url, events: ["quote.*"], headers: { "X-Api-Key": "secret:ERP_KEY", "X-Literal": API_KEY } },
    ]),
  }).start();
});

after(async () => {
  await relay?.stop();
  await crm.stop();
  await erp.stop();
});

const ROUTES = [
  ["GET", "/admin/targets"],
  ["GET", "/admin/dead-letters"],
  ["GET", "/admin/dead-letters/crm/abc"],
  ["DELETE", "/admin/dead-letters/crm/abc"],
  ["POST", "/admin/dead-letters/replay"],
  ["POST", "/admin/test-event"],
];

describe("auth", () => {
  test("every admin route answers 401 without a token and with a wrong one", async () => {
    for (const [method, path] of ROUTES) {
      for (const token of [null, "wrong", ADMIN + "x", "ingest-token-77aa"]) {
        const res = await admin(method, path, { token, body: method === "POST" ? {} : undefined });
        assert.equal(res.status, 401, `${method} ${path} with ${token}`);
        assert.equal(res.json.error.code, "unauthorized");
      }
    }
  });
});

describe("configuration view", () => {
  test("shows every target with its matching types and no secret", async () => {
    const res = await admin("GET", "/admin/targets");
    assert.equal(res.status, 200);
    const [c, e] = res.json.targets;
    assert.equal(c.name, "crm");
    assert.equal(c.url, crm.url + "?…");
    assert.equal(c.signing_secret, "CRM_SIGNING");
    assert.deepEqual(c.matches, ["company.created", "company.updated", "company.deleted", "company.statusUpdated", "company.superadmin.assignmentUpdated", "company.user.created", "company.user.updated", "company.user.deleted", "company.address.created", "company.address.updated", "company.address.deleted"]);
    assert.deepEqual(e.headers, [["x-api-key", "secret:ERP_KEY"], ["x-literal", "static"]]);
    for (const secret of [API_KEY, "in-query", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ADMIN]) assert.ok(!res.text.includes(secret), secret);
  });
});

describe("dead letters", () => {
  const events = [];

  before(async () => {
    for (let i = 0; i < 7; i++) {
      const cb = callback("store/company/updated", { company_id: 9000 + i });
      assert.equal((await relay.post(cb, { token: "ingest-token-77aa" })).status, 200);
      events.push(eventId(cb));
    }
    await waitFor(async () => (await relay.kvKeys("DEAD_LETTERS", "dlq:crm:")).length === 7, { timeoutMs: 45_000, intervalMs: 1000, what: "7 dead letters" });
  });

  test("pages through more records than one page, newest first within a page", async () => {
    const seen = [];
    let cursor = "";
    let pages = 0;
    do {
      const res = await admin("GET", `/admin/dead-letters?target=crm&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.records.length <= 3);
      for (const r of res.json.records) {
        assert.equal(r.target, "crm");
        assert.equal(r.type, "com.bigcommerce.company.updated");
        assert.equal(r.last_status, 500);
        assert.equal(r.attempts, 1);
      }
      const times = res.json.records.map((r) => r.last_attempt_at);
      assert.deepEqual(times, [...times].sort().reverse());
      seen.push(...res.json.records.map((r) => r.event_id));
      cursor = res.json.cursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual([...seen].sort(), [...events].sort());
    const all = await admin("GET", "/admin/dead-letters");
    assert.equal(all.json.records.length, 7);
    assert.equal(all.json.cursor, null);
    assert.equal((await admin("GET", "/admin/dead-letters?limit=0")).status, 400);
  });

  test("one record, with the full event; 404 for an unknown one", async () => {
    const res = await admin("GET", `/admin/dead-letters/crm/${events[0]}`);
    assert.equal(res.status, 200);
    assert.equal(res.json.event.id, events[0]);
    assert.deepEqual(res.json.event.data, { company_id: 9000 });
    assert.equal((await admin("GET", "/admin/dead-letters/crm/nope")).status, 404);
  });

  test("replaying one delivers it to the now-healthy target and removes its record", async () => {
    healthy = true;
    // Seven failures opened crm's breaker: as the README says, resume the fixed target, then
    // replay (otherwise the replays wait for the breaker's probe).
    const resumed = await admin("POST", "/admin/targets/crm/resume");
    assert.equal(resumed.status, 200, resumed.text);
    const res = await admin("POST", "/admin/dead-letters/replay", { body: { target: "crm", ids: [events[0], "missing-id"] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { replayed: 1, failed: 0, not_found: 1, remaining: false });
    const [req] = await waitFor(() => crm.byId(events[0]).find((r) => r.headers["webhook-id"] && crm.byId(events[0]).length === 2) && crm.byId(events[0]).slice(-1), { what: "replayed delivery" });
    assert.equal(JSON.parse(req.body).id, events[0]);
    assert.equal((await admin("GET", `/admin/dead-letters/crm/${events[0]}`)).status, 404);
  });

  test("deleting one removes it without delivering", async () => {
    const res = await admin("DELETE", `/admin/dead-letters/crm/${events[1]}`);
    assert.equal(res.status, 200);
    assert.equal((await admin("DELETE", `/admin/dead-letters/crm/${events[1]}`)).status, 404);
    assert.equal((await relay.kvKeys("DEAD_LETTERS", `dlq:crm:${events[1]}`)).length, 0);
  });

  test("replaying all delivers every remaining record and empties the list", async () => {
    const res = await admin("POST", "/admin/dead-letters/replay", { body: {} });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { replayed: 5, failed: 0, not_found: 0, remaining: false });
    for (const id of events.slice(2)) await waitFor(() => crm.byId(id).length === 2, { what: `replay of ${id}` });
    // The report counted exactly the five remaining records; the deleted one was not among them.
    assert.equal(crm.byId(events[1]).length, 1, "the deleted record was not replayed");
    assert.deepEqual((await admin("GET", "/admin/dead-letters")).json.records, []);
  });

  test("bad replay requests get 400", async () => {
    assert.equal((await admin("POST", "/admin/dead-letters/replay", { body: { ids: ["x"] } })).status, 400);
    assert.equal((await admin("POST", "/admin/dead-letters/replay", { body: { targets: "crm" } })).status, 400);
  });
});

describe("test events", () => {
  test("a test event reaches the named target end to end, marked bctest", async () => {
    const res = await admin("POST", "/admin/test-event", { body: { scope: "store/quote/created", target: "erp" } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.targets, ["erp"]);
    const [req] = await waitFor(() => erp.byId(res.json.id).length && erp.byId(res.json.id), { what: "test event" });
    const ev = JSON.parse(req.body);
    assert.equal(ev.bctest, true);
    assert.equal(ev.type, "com.bigcommerce.quote.created");
    assert.equal(ev.source, "https://api.bigcommerce.com/stores/abc123");
    assert.equal(req.headers["x-api-key"], API_KEY);
  });

  test("without a target it is routed like a real callback; two test events get two ids", async () => {
    const a = await admin("POST", "/admin/test-event", { body: { scope: "store/company/created" } });
    const b = await admin("POST", "/admin/test-event", { body: { scope: "store/company/created" } });
    assert.deepEqual(a.json.targets, ["crm"]);
    assert.notEqual(a.json.id, b.json.id);
    await waitFor(() => crm.byId(a.json.id).length && crm.byId(b.json.id).length, { what: "routed test events" });
  });

  test("an unknown target or a bad scope is a 400", async () => {
    assert.equal((await admin("POST", "/admin/test-event", { body: { scope: "store/company/created", target: "nope" } })).json.error.code, "unknown_target");
    assert.equal((await admin("POST", "/admin/test-event", { body: { scope: "company created" } })).status, 400);
    assert.equal((await admin("POST", "/admin/test-event", { body: {} })).status, 400);
  });
});

describe("logs", () => {
  test("no token, secret or signature appears in the worker's log", () => {
    const secrets = [ADMIN, "ingest-token-77aa", API_KEY, "in-query", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"];
    for (const s of secrets) assert.ok(!relay.logs.includes(s), `log contains ${s}`);
    assert.ok(!/v1,[A-Za-z0-9+/]{40,}={0,2}/.test(relay.logs), "log contains a signature");
    assert.match(relay.logs, /"msg":"deliveries"/);
    assert.match(relay.logs, /"msg":"ingest","outcome":"accepted"/);
  });
});
