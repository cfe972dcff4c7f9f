// Enrichment: the full B2B resource inside the event, fetched once per event from a mock
// B2B Edition API, never on the ingest path.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MockB2B, resourceFor } from "./mock-b2b.mjs";
import { Receiver, Relay, SCOPES, callback, eventId, waitFor } from "./harness.mjs";

const api = new MockB2B({ abc123: "token-abc", other1: "token-other" });
const richA = new Receiver("rich-a");
const richB = new Receiver("rich-b");
const plain = new Receiver("plain");
const strict = new Receiver("strict");
let relay;

const one = async (r, id, what) => (await waitFor(() => r.byId(id).length && r.byId(id), { what, timeoutMs: 30_000 }))[0];
const dataOf = (req) => JSON.parse(req.body).data;

before(async () => {
  await api.start();
  for (const r of [richA, richB, plain, strict]) await r.start();
  relay = await new Relay({
    INGEST_TOKENS: "t",
    BC_B2B_API_BASE: api.base,
    BC_ACCESS_TOKEN: "token-abc",
    BC_ACCESS_TOKEN_other1: "token-other",
    RETRY_SCHEDULE_SECONDS: "1",
    TARGETS: JSON.stringify([
      { name: "rich-a", url: richA.url, enrich: true, events: ["company.*", "quote.*", "superadmin.*", "order.*"] },
      { name: "rich-b", url: richB.url, enrich: true, events: ["company.*", "quote.*"] },
      { name: "plain", url: plain.url },
      { name: "strict", url: strict.url, enrich_required: true, events: ["quote.updated"], max_attempts: 6 },
    ]),
  }).start();
});

after(async () => {
  await relay?.stop();
  for (const r of [richA, richB, plain, strict]) await r.stop();
  await api.stop();
});

describe("enriched payloads", () => {
  test("each resource kind arrives enriched with the API's data object; plain targets get the bare event", async () => {
    const want = {
      "store/company/updated": "/companies/1234",
      "store/company/superadmin/assignmentUpdated": "/companies/1234",
      "store/company/user/updated": "/users/321",
      "store/company/address/created": "/addresses/1234",
      "store/superadmin/updated": "/super-admins/info/1234",
      "store/quote/statusUpdated": "/rfq/1234",
    };
    for (const [scope, path] of Object.entries(want)) {
      const data = SCOPES.find(([s]) => s === scope)[1];
      const cb = callback(scope, data);
      const id = eventId(cb);
      const before = api.callsTo(path).length;
      const res = await relay.post(cb);
      assert.equal(res.status, 200);
      const a = await one(richA, id, `${scope} at rich-a`);
      const ev = JSON.parse(a.body);
      assert.equal(ev.id, id, "enriched events keep their id");
      assert.equal(ev.type, `com.bigcommerce.${scope.slice(6).replaceAll("/", ".")}`);
      assert.equal(ev.data.enrichment, "ok", scope);
      assert.deepEqual(ev.data.resource, resourceFor(path).body.data, scope);
      for (const [k, v] of Object.entries(data)) assert.deepEqual(ev.data[k], v, `${scope} keeps ${k}`);
      const p = await one(plain, id, `${scope} at plain`);
      assert.deepEqual(dataOf(p), data, "a target without enrich gets exactly the callback's data");
      if (scope.startsWith("store/company/") || scope.startsWith("store/quote/")) {
        assert.deepEqual(dataOf(await one(richB, id, `${scope} at rich-b`)), ev.data);
      }
      // The relay logs one enrichment line per API call: once it reported the call, count.
      await waitFor(() => relay.logLines("enrichment").some((l) => l.id === id), { what: `${scope} enrichment line` });
      assert.equal(relay.logLines("enrichment").filter((l) => l.id === id).length, 1, `${scope}: one enrichment job`);
      assert.equal(api.callsTo(path).length - before, 1, `${scope}: one API call for two enriching targets`);
      const call = api.callsTo(path).at(-1);
      assert.equal(call.headers["x-store-hash"], "abc123");
      if (path.startsWith("/rfq/")) assert.match(call.query, /^\?date=\d\d%2F\d\d%2F\d{4}$/);
    }
  });

  test("a deleted company arrives as not_found without an API call", async () => {
    const calls = api.calls.length;
    const cb = callback("store/company/deleted", { company_id: 4321 });
    await relay.post(cb);
    assert.deepEqual(dataOf(await one(richA, eventId(cb), "deleted")), { company_id: 4321, enrichment: "not_found" });
    assert.equal(api.calls.length, calls);
  });

  test("a 404 from the API arrives as not_found", async () => {
    const cb = callback("store/company/updated", { company_id: 999001 });
    api.script.set("/companies/999001", [{ status: 404 }]);
    await relay.post(cb);
    assert.equal(dataOf(await one(richA, eventId(cb), "404")).enrichment, "not_found");
  });

  test("an unknown scope is skipped", async () => {
    const cb = callback("store/order/created", { order_id: 5 });
    await relay.post(cb);
    assert.deepEqual(dataOf(await one(richA, eventId(cb), "unknown")), { order_id: 5, enrichment: "skipped" });
  });

  test("per-store credentials override BC_ACCESS_TOKEN", async () => {
    const cb = callback("store/company/created", { company_id: 5550 }, { store: "other1" });
    await relay.post(cb);
    assert.equal(dataOf(await one(richA, eventId(cb), "other store")).enrichment, "ok");
    assert.equal(api.callsTo("/companies/5550").at(-1).headers["x-auth-token"], "token-other");
  });
});

describe("rate limits and failures", () => {
  test("a 429 with Retry-After, then 200, arrives ok after waiting as told", async () => {
    api.script.set("/companies/777", [{ status: 429, headers: { "retry-after": "2" } }, "resource"]);
    const cb = callback("store/company/updated", { company_id: 777 });
    await relay.post(cb);
    const got = await one(richA, eventId(cb), "after 429");
    assert.equal(dataOf(got).enrichment, "ok");
    const [first, second] = api.callsTo("/companies/777");
    assert.ok(second.at - first.at >= 1900, `waited ${second.at - first.at} ms, Retry-After said 2 s`);
  });

  test("a permanently failing API arrives as failed with the reason, after a few attempts", async () => {
    api.script.set("/companies/666", [{ status: 500 }]);
    const cb = callback("store/company/updated", { company_id: 666 });
    await relay.post(cb);
    const data = dataOf(await one(richA, eventId(cb), "failed"));
    assert.equal(data.enrichment, "failed");
    assert.equal(data.enrichment_error, "HTTP 500");
    assert.equal(data.resource, undefined);
    assert.equal(api.callsTo("/companies/666").length, 4);
  });

  test("enrich_required keeps retrying, then dead-letters; the others still get `failed`", async () => {
    api.script.set("/rfq/4040", [{ status: 503 }]);
    const cb = callback("store/quote/updated", { quote_id: 4040, quote_uuid: "x" });
    const res = await relay.post(cb);
    assert.deepEqual(res.json.targets, ["rich-a", "rich-b", "plain", "strict"]);
    const id = eventId(cb);
    assert.equal(dataOf(await one(richB, id, "rich-b failed")).enrichment, "failed");
    await waitFor(async () => (await relay.kvKeys("DEAD_LETTERS", `dlq:strict:${id}`)).length === 1, { timeoutMs: 45_000, intervalMs: 1000, what: "strict dead letter" });
    assert.equal(strict.byId(id).length, 0, "never delivered without the resource");
    assert.equal(api.callsTo("/rfq/4040").length, 6, "max_attempts of the strict target");
    const record = JSON.parse(await relay.kvGet("DEAD_LETTERS", `dlq:strict:${id}`));
    assert.match(record.last_error, /^enrichment failed: HTTP 503/);
  });
});

describe("ingest stays fast", () => {
  test("acknowledging BigCommerce costs the same with enrichment as without", async () => {
    // Slow API: if enrichment were on the ingest path, answers would take over a second.
    api.script.set("/companies/8888", [{ status: 200, delayMs: 1500, body: resourceFor("/companies/8888").body }]);
    const time = async (scope, data) => {
      const t = performance.now();
      const res = await relay.post(callback(scope, data));
      assert.equal(res.status, 200);
      return performance.now() - t;
    };
    const withEnrich = [];
    const without = [];
    for (let i = 0; i < 30; i++) {
      withEnrich.push(await time("store/company/updated", { company_id: 8888 })); // rich-a, rich-b, plain
      without.push(await time("store/company/user/updated", { company_id: 1, user_id: 2 })); // plain only
    }
    const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const [a, b] = [median(withEnrich), median(without)];
    console.log(`ingest median: ${a.toFixed(1)} ms with enrichment, ${b.toFixed(1)} ms without (30 each)`);
    assert.ok(a < 500, `ingest with enrichment took ${a} ms: enrichment must not be on the ingest path`);
    assert.ok(a < b * 1.5 + 10, `with ${a.toFixed(1)} ms vs without ${b.toFixed(1)} ms`);
  });
});
