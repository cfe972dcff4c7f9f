// The relay's main path against the real worker in wrangler dev: verified ingest → CloudEvents
// → KV dedup → queued, signed fan-out with retries and dead letters.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { Receiver, Relay, SCOPES, callback, eventId, globMatch, shortType, waitFor } from "./harness.mjs";

const KEY_ALL = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY_COMPANIES = "whsec_" + Buffer.from("companies-signing-key-0123456789").toString("base64");
const API_KEY = "api-key-that-must-never-be-logged";

// Targets: name → filter and behaviour. The receivers are real HTTP servers on 127.0.0.1.
const receivers = {
  all: new Receiver("all"),
  companies: new Receiver("companies"),
  "quotes-bc": new Receiver("quotes-bc"),
  // Fails the first two attempts of every event, then accepts.
  flaky: new Receiver("flaky", (req, all) =>
    all.filter((r) => r.headers["webhook-id"] === req.headers["webhook-id"]).length <= 2 ? { status: 503 } : { status: 204 },
  ),
  // Never accepts.
  broken: new Receiver("broken", () => ({ status: 500 })),
  // Says it will never want this event.
  gone: new Receiver("gone", () => ({ status: 410 })),
};

let relay;
let targets;

before(async () => {
  for (const r of Object.values(receivers)) await r.start();
  targets = [
    { name: "all", url: receivers.all.url, signing_secret: "KEY_ALL", headers: { "X-Api-Key": "secret:ALL_API_KEY", "X-Team": "b2b" } },
    { name: "companies", url: receivers.companies.url, events: ["company.*"], format: "cloudevents-binary", signing_secret: "KEY_COMPANIES" },
    { name: "quotes-bc", url: receivers["quotes-bc"].url, events: ["quote.*"], stores: ["abc123"], format: "bigcommerce" },
    { name: "flaky", url: receivers.flaky.url, events: ["quote.statusUpdated"], max_attempts: 4 },
    { name: "broken", url: receivers.broken.url, events: ["superadmin.deleted"], max_attempts: 3 },
    { name: "gone", url: receivers.gone.url, events: ["superadmin.assignmentUpdated"] },
  ];
  relay = await new Relay({
    INGEST_TOKENS: "token-old,token-new",
    TARGETS: JSON.stringify(targets),
    KEY_ALL,
    KEY_COMPANIES,
    ALL_API_KEY: API_KEY,
    RETRY_SCHEDULE_SECONDS: "1",
  }).start();
});

after(async () => {
  await relay?.stop();
  for (const r of Object.values(receivers)) await r.stop();
});

const expectedTargets = (cb) =>
  targets
    .filter((t) => (t.events ?? ["*"]).some((g) => globMatch(g, shortType(cb.scope))))
    .filter((t) => !t.stores || t.stores.includes(cb.producer.slice(7)))
    .map((t) => t.name);

describe("health", () => {
  test("reports version and target count", async () => {
    const res = await fetch(`${relay.url}/health`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.targets, targets.length);
    assert.match(body.version, /^\d+\.\d+\.\d+/);
    assert.equal(body.errors, undefined, "no problem to name");
    assert.equal(body.problems, undefined);
    assert.match(body.sync, /^not configured: /);
  });
});

describe("every B2B scope reaches exactly the matching targets, in their format, signed", () => {
  const sent = [];

  before(async () => {
    for (const [scope, data, subject] of SCOPES) {
      const cb = callback(scope, data);
      const res = await relay.post(cb);
      sent.push({ cb, subject, res });
    }
  });

  test("each callback is accepted with its id and matching targets", () => {
    for (const { cb, res } of sent) {
      assert.equal(res.status, 200, `${cb.scope}: ${res.text}`);
      assert.equal(res.json.status, "accepted");
      assert.equal(res.json.id, eventId(cb));
      assert.deepEqual(res.json.targets, expectedTargets(cb), cb.scope);
    }
  });

  test("structured CloudEvents with valid Standard Webhooks signatures reach `all`", async () => {
    const wh = new Webhook(KEY_ALL);
    for (const { cb, subject } of sent) {
      const id = eventId(cb);
      const [req] = await waitFor(() => receivers.all.byId(id).length && receivers.all.byId(id), { what: `${cb.scope} at all` });
      assert.equal(req.headers["content-type"], "application/cloudevents+json");
      assert.match(req.headers["user-agent"], /^b2b-relay\/\d/);
      assert.equal(req.headers["x-api-key"], API_KEY);
      assert.equal(req.headers["x-team"], "b2b");
      const ev = wh.verify(req.body, req.headers); // throws on a bad signature
      assert.equal(ev.specversion, "1.0");
      assert.equal(ev.id, id);
      assert.equal(ev.type, `com.bigcommerce.${shortType(cb.scope)}`);
      assert.equal(ev.source, "https://api.bigcommerce.com/stores/abc123");
      assert.equal(ev.subject, subject);
      assert.equal(ev.time, new Date(cb.created_at * 1000).toISOString().replace(".000Z", "Z"));
      assert.equal(ev.datacontenttype, "application/json");
      assert.deepEqual(ev.data, cb.data);
      assert.equal(ev.storehash, "abc123");
      assert.equal(ev.storeid, "1001");
      assert.equal(ev.bcscope, cb.scope);
      assert.equal(ev.bchash, cb.hash);
    }
  });

  test("binary CloudEvents reach `companies`, signed over the data body", async () => {
    const wh = new Webhook(KEY_COMPANIES);
    for (const { cb, subject } of sent.filter((s) => s.cb.scope.startsWith("store/company/"))) {
      const id = eventId(cb);
      const [req] = await waitFor(() => receivers.companies.byId(id).length && receivers.companies.byId(id), { what: `${cb.scope} at companies` });
      assert.equal(req.headers["content-type"], "application/json");
      assert.equal(req.headers["ce-specversion"], "1.0");
      assert.equal(req.headers["ce-id"], id);
      assert.equal(req.headers["ce-type"], `com.bigcommerce.${shortType(cb.scope)}`);
      assert.equal(req.headers["ce-subject"], subject);
      assert.equal(req.headers["ce-bcscope"], cb.scope);
      assert.deepEqual(wh.verify(req.body, req.headers), cb.data);
    }
  });

  test("the original BigCommerce body reaches `quotes-bc` byte for byte, unsigned", async () => {
    for (const { cb } of sent.filter((s) => s.cb.scope.startsWith("store/quote/"))) {
      const id = eventId(cb);
      const [req] = await waitFor(() => receivers["quotes-bc"].byId(id).length && receivers["quotes-bc"].byId(id), { what: `${cb.scope} at quotes-bc` });
      assert.equal(req.body, JSON.stringify(cb));
      assert.equal(req.headers["webhook-signature"], undefined);
    }
  });

  test("no target receives an event its filter does not match", async () => {
    for (const { cb } of sent) {
      const id = eventId(cb);
      const want = expectedTargets(cb);
      // The relay routed it to exactly these, and every one of them is settled.
      assert.deepEqual(relay.ingested(id)[0].targets, want, cb.scope);
      await relay.settled(id, want);
      for (const [name, r] of Object.entries(receivers)) {
        if (!want.includes(name)) assert.equal(r.byId(id).length, 0, `${cb.scope} must not reach ${name}`);
      }
      for (const name of ["all", "companies", "quotes-bc"]) {
        if (want.includes(name)) assert.equal(receivers[name].byId(id).length, 1, `${cb.scope} exactly once at ${name}`);
      }
    }
  });
});

describe("duplicates", () => {
  test("a repeated callback is answered `duplicate` and delivered once", async () => {
    const cb = callback("store/company/updated", { company_id: 42 });
    const first = await relay.post(cb);
    assert.equal(first.json.status, "accepted");
    const again = await relay.post(cb, { token: "token-new" });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json, { status: "duplicate", id: eventId(cb) });
    // The relay's own report: the copy was logged as a duplicate (nothing enqueued), and the
    // first one's deliveries are settled.
    await waitFor(() => relay.ingested(eventId(cb)).some((l) => l.outcome === "duplicate"), { what: "the duplicate's ingest line" });
    await relay.settled(eventId(cb), first.json.targets);
    assert.equal(receivers.all.byId(eventId(cb)).length, 1);
    assert.equal(receivers.companies.byId(eventId(cb)).length, 1);
  });

  test("two real updates with the same data hash are two events", async () => {
    const a = callback("store/company/updated", { company_id: 43 });
    const b = { ...a, created_at: a.created_at + 1 };
    assert.equal((await relay.post(a)).json.status, "accepted");
    assert.equal((await relay.post(b)).json.status, "accepted");
    await waitFor(() => receivers.all.byId(eventId(a)).length && receivers.all.byId(eventId(b)).length);
  });
});

describe("authentication", () => {
  test("a missing or wrong token gets 401 and nothing is delivered", async () => {
    const cb = callback("store/company/created", { company_id: 7 });
    for (const token of [null, "wrong", "token-old2", ""]) {
      const res = await relay.post(cb, { token });
      assert.equal(res.status, 401, String(token));
      assert.equal(res.json.error.code, "unauthorized");
    }
    const basic = await relay.post(cb, { token: null, headers: { authorization: "Basic dG9rZW4tb2xkOg==" } });
    assert.equal(basic.status, 401);
    // Then the same callback with a right token: once it is settled everywhere, any delivery
    // the refused copies had caused would have arrived before it.
    const ok = await relay.post(cb);
    assert.equal(ok.json.status, "accepted", "the refused copies left no dedup mark");
    await relay.settled(eventId(cb), ok.json.targets);
    for (const r of Object.values(receivers)) assert.ok(r.byId(eventId(cb)).length <= 1);
  });

  test("both rotation tokens are accepted", async () => {
    assert.equal((await relay.post(callback("store/company/created", { company_id: 8 }), { token: "token-old" })).status, 200);
    assert.equal((await relay.post(callback("store/company/created", { company_id: 9 }), { token: "token-new" })).status, 200);
  });
});

describe("retries and dead letters", () => {
  test("a target that fails twice gets the event on the third attempt", async () => {
    const cb = callback("store/quote/statusUpdated", { quote_id: 5, quote_uuid: "u5" });
    assert.deepEqual((await relay.post(cb)).json.targets, ["all", "quotes-bc", "flaky"]);
    const id = eventId(cb);
    await waitFor(() => receivers.flaky.byId(id).length >= 3, { what: "three attempts at flaky" });
    await relay.settled(id, ["flaky"]);
    const attempts = receivers.flaky.byId(id);
    assert.equal(attempts.length, 3, "exactly three attempts: two 503s then a 204");
    assert.ok(attempts.every((a) => a.headers["webhook-id"] === id), "same webhook-id on every attempt");
    const keys = await relay.kvKeys("DEAD_LETTERS", `dlq:flaky:${id}`);
    assert.deepEqual(keys, []);
  });

  test("a target that always fails ends as a dead-letter record after max_attempts", async () => {
    const cb = callback("store/superadmin/deleted", { user_id: 77 });
    await relay.post(cb);
    const id = eventId(cb);
    const key = `dlq:broken:${id}`;
    await waitFor(async () => (await relay.kvKeys("DEAD_LETTERS", key)).length === 1, { timeoutMs: 45_000, intervalMs: 1000, what: "dead letter" });
    assert.equal(receivers.broken.byId(id).length, 3);
    const record = JSON.parse(await relay.kvGet("DEAD_LETTERS", key));
    assert.equal(record.target, "broken");
    assert.equal(record.event_id, id);
    assert.equal(record.attempts, 3);
    assert.equal(record.last_status, 500);
    assert.equal(record.event.id, id);
    assert.deepEqual(record.event.data, cb.data);
    assert.match(record.first_attempt_at, /^\d{4}-\d\d-\d\dT/);
    assert.ok(record.last_attempt_at >= record.first_attempt_at);
  });

  test("410 Gone stops the delivery at once", async () => {
    const cb = callback("store/superadmin/assignmentUpdated", { user_id: 78 });
    await relay.post(cb);
    const id = eventId(cb);
    await waitFor(async () => (await relay.kvKeys("DEAD_LETTERS", `dlq:gone:${id}`)).length === 1, { timeoutMs: 30_000, intervalMs: 1000, what: "gone dead letter" });
    assert.equal(receivers.gone.byId(id).length, 1);
  });
});

describe("bad input", () => {
  const good = () => callback("store/company/created", { company_id: 1 });
  // Authentic bodies that are no event are kept, never refused (a 400 would make BigCommerce
  // retry for 48 h, then deactivate the hook): tests/e2e/quarantine.test.mjs has the rest.
  const cases = [
    ["not JSON", "{not json", "invalid_json"],
    ["an array", "[]", "invalid_json"],
    ["missing scope", (() => { const c = good(); delete c.scope; return c; })(), "missing_field"],
    ["numeric scope", { ...good(), scope: 5 }, "invalid_field"],
    ["data as array", { ...good(), data: [1] }, "invalid_field"],
    ["created_at as string", { ...good(), created_at: "1700000000" }, "invalid_field"],
    ["bad producer", { ...good(), producer: "abc123" }, "invalid_field"],
    ["store_id as bool", { ...good(), store_id: true }, "invalid_field"],
  ];
  for (const [what, body, code] of cases) {
    test(`${what} → 200 quarantined (${code})`, async () => {
      const res = await relay.post(body);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, "quarantined");
      assert.match(res.json.id, /^[0-9a-f]{64}$/);
      // The log line reaches the test through wrangler's output, a moment after the answer.
      const quarantined = () => relay.logLines("ingest").find((l) => l.id === res.json.id && l.outcome === "quarantined");
      await waitFor(quarantined, { timeoutMs: 10_000, what: `the quarantine log line of ${res.json.id}` });
      const line = quarantined();
      assert.ok(line.error.startsWith(`${code}: `), JSON.stringify(line));
    });
  }

  test("a callback without producer (optional in BigCommerce's schema) is accepted", async () => {
    const c = good();
    delete c.producer;
    const res = await relay.post(c);
    assert.equal(res.json.status, "accepted", res.text);
  });

  test("a numeric store_id is accepted and forwarded as a string", async () => {
    const cb = callback("store/company/created", { company_id: 2 }, { storeId: 1001 });
    const res = await relay.post(cb);
    assert.equal(res.status, 200);
    const [req] = await waitFor(() => receivers.all.byId(res.json.id).length && receivers.all.byId(res.json.id));
    assert.equal(JSON.parse(req.body).storeid, "1001");
  });

  test("a body over 64 KiB gets 413 before parsing", async () => {
    const res = await relay.post("x".repeat(64 * 1024 + 1));
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, "payload_too_large");
  });

  test("other methods get 405 and unknown paths 404", async () => {
    const get = await relay.post(null, { method: "GET" });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    const put = await relay.post(good(), { method: "PUT" });
    assert.equal(put.status, 405);
    const res = await fetch(`${relay.url}/nope`);
    assert.equal(res.status, 404);
  });

  test("an unknown scope is accepted and forwarded", async () => {
    const cb = callback("store/company/catalog/assigned", { company_id: 77, catalog_id: 5 });
    const res = await relay.post(cb);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.targets, ["all", "companies"]);
    const [req] = await waitFor(() => receivers.all.byId(res.json.id).length && receivers.all.byId(res.json.id));
    const ev = JSON.parse(req.body);
    assert.equal(ev.type, "com.bigcommerce.company.catalog.assigned");
    assert.equal(ev.subject, "companies/77");
  });

  test("without ADMIN_TOKEN every /admin/ route answers 404", async () => {
    for (const [method, path] of [["GET", "/admin/targets"], ["GET", "/admin/dead-letters"], ["POST", "/admin/dead-letters/replay"], ["POST", "/admin/test-event"], ["GET", "/admin/bigcommerce/subscriptions"]]) {
      const res = await fetch(`${relay.url}${path}`, { method, headers: { authorization: "Bearer token-old" } });
      assert.equal(res.status, 404, `${method} ${path}`);
    }
  });

  test("an unknown scope from another store is a 200 and reaches only the catch-all target", async () => {
    const cb = callback("store/order/created", { order_id: 1 }, { store: "zzz999" });
    const res = await relay.post(cb);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.targets, ["all"]);
    await relay.settled(res.json.id, ["all"]);
    for (const [name, r] of Object.entries(receivers)) assert.equal(r.byId(res.json.id).length, name === "all" ? 1 : 0, name);
  });

  test("no secret or token appears in the worker's log", () => {
    for (const secret of [API_KEY, "token-old", "token-new", KEY_ALL.slice(6), KEY_COMPANIES.slice(6)]) {
      assert.ok(!relay.logs.includes(secret), `log contains ${secret}`);
    }
  });
});

describe("delivery logs (LOG_DELIVERIES unset: one line per consumer batch)", () => {
  test("every attempt is in exactly one batch line, with its outcome; batch counts add up", async () => {
    const cb = callback("store/quote/statusUpdated", { quote_id: 6, quote_uuid: "u6" });
    await relay.post(cb);
    const id = eventId(cb);
    await waitFor(() => receivers.flaky.byId(id).length === 3, { what: "three attempts at flaky" });
    const batches = () => relay.logLines("deliveries");
    const flakyLines = () => batches().flatMap((b) => b.attempts).filter((a) => a.id === id && a.target === "flaky");
    // The line is written when the consumer's batch ends, after the delivery itself.
    await waitFor(() => flakyLines().length === 3, { what: "the third attempt's log line" });
    assert.deepEqual(
      flakyLines().map((a) => [a.attempt, a.outcome, a.status, a.next_retry_seconds]),
      [[1, "retry", 503, 1], [2, "retry", 503, 1], [3, "delivered", 204, undefined]],
    );
    assert.match(flakyLines()[0].error, /503/);
    assert.deepEqual(relay.logLines("delivery"), [], "no per-attempt lines by default");

    const all = batches();
    const attempts = all.flatMap((b) => b.attempts);
    // The earlier tests fanned ~20 callbacks out at once: batches carry several attempts.
    assert.ok(all.length < attempts.length, `${all.length} lines for ${attempts.length} attempts`);
    const keys = attempts.map((a) => `${a.id} ${a.target} ${a.attempt}`);
    assert.equal(new Set(keys).size, keys.length, "no attempt logged twice");
    for (const b of all) {
      for (const outcome of ["delivered", "retry", "dead_letter"]) {
        assert.equal(b[outcome] ?? 0, b.attempts.filter((a) => a.outcome === outcome).length, JSON.stringify(b));
      }
    }
    // Each delivery the receivers got is in the log.
    for (const r of ["all", "companies", "quotes-bc"]) {
      for (const req of receivers[r].requests) {
        const rid = req.headers["webhook-id"];
        assert.ok(keys.some((k) => k.startsWith(`${rid} ${r} `)), `${r} ${rid} not logged`);
      }
    }
  });
});
