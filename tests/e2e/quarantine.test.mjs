// Never refuse a callback BigCommerce really sent: every documented example (with and without
// `created_at`) is accepted and delivered; an authentic body that is no event is answered 200
// `quarantined`, kept 14 days with its headers redacted, and can be listed, read, deleted and
// replayed through the current parser (FAULTS=ingest_parse stands for a body today's parser
// cannot read and a later one can). Against the real worker in wrangler dev.
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { Receiver, Relay, SCOPES, callback, eventId, sleep, waitFor } from "./harness.mjs";

const TOKEN = "ingest-token-quarantine-e2e-91c2";
const SECRET = "bc-client-secret-quarantine-e2e";
const ADMIN = "admin-token-quarantine-e2e";
const rx = new Receiver("all");
let relay;

before(async () => {
  await rx.start();
  relay = await new Relay(
    {
      INGEST_TOKENS: TOKEN,
      BC_CLIENT_SECRETS: SECRET,
      ADMIN_TOKEN: ADMIN,
      TARGETS: JSON.stringify([{ name: "all", url: rx.url }]),
      // The first two callbacks this relay reads "do not parse" (see above).
      FAULTS: "ingest_parse*2",
    },
    { build: false },
  ).start();
});

after(async () => {
  await relay?.stop();
  await rx.stop();
});

const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const admin = (method, path, body) => relay.call(method, path, { token: ADMIN, body });
const delivered = (id) => rx.byId(id);
/** The event id the relay gives a body: the documented key's digest, or the body's. */
const idOf = (text) => {
  const cb = JSON.parse(text);
  return cb.producer && cb.created_at !== undefined && cb.hash ? eventId(cb) : sha256(text);
};
function signed(body) {
  const id = `msg_${randomUUID()}`;
  const at = new Date();
  return { "webhook-id": id, "webhook-timestamp": String(Math.floor(at / 1000)), "webhook-signature": new Webhook(Buffer.from(SECRET).toString("base64")).sign(id, at, body) };
}

describe("replay through the current parser", () => {
  const valid = JSON.stringify(callback("store/company/created", { company_id: 31337 }));
  const again = JSON.stringify(callback("store/company/updated", { company_id: 31338 }));

  test("a body this parser could not read is quarantined, then replayed into an event", async () => {
    const res = await relay.post(valid);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "quarantined", id: sha256(valid) });
    const record = await admin("GET", `/admin/quarantine/${sha256(valid)}`);
    assert.equal(record.status, 200, record.text);
    assert.equal(record.json.reason.code, "invalid_json");
    assert.equal(record.json.body, valid);

    const replay = await admin("POST", "/admin/quarantine/replay", { ids: [sha256(valid)] });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.json.replayed, 1, replay.text);
    assert.deepEqual(replay.json.results, [{ id: sha256(valid), outcome: "accepted", event_id: eventId(JSON.parse(valid)) }]);
    await relay.settled(eventId(JSON.parse(valid)), ["all"]);
    assert.equal((await admin("GET", `/admin/quarantine/${sha256(valid)}`)).status, 404, "an event now: the record is gone");
    const again2 = await admin("POST", "/admin/quarantine/replay", { ids: [sha256(valid)] });
    assert.equal(again2.json.not_found, 1);
  });

  test("a record whose event was accepted meanwhile replays as a duplicate and goes", async () => {
    assert.equal((await relay.post(again)).json.status, "quarantined");
    const direct = await relay.post(again); // the fault is used up: BigCommerce's retry parses
    assert.equal(direct.json.status, "accepted", direct.text);
    const replay = await admin("POST", "/admin/quarantine/replay", { ids: [sha256(again)] });
    assert.equal(replay.json.duplicates, 1, replay.text);
    assert.equal((await admin("GET", `/admin/quarantine/${sha256(again)}`)).status, 404);
    await relay.settled(direct.json.id, ["all"]);
    await sleep(1500);
    assert.equal(delivered(direct.json.id).length, 1, "delivered once");
  });
});

describe("every documented callback is accepted and delivered", () => {
  const docs = [
    // BigCommerce's HTTPS webhooks overview: no created_at.
    '{"store_id":"11111","producer":"stores/abcde","scope":"store/order/statusUpdated","data":{"type":"order","id":173331,"status":{"previous_status_id":0,"new_status_id":11}},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}',
    '{"store_id":"11111","producer":"stores/abcde","scope":"store/order/statusUpdated","data":{"type":"order","id":173331},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}',
    // The events reference's shapes, with created_at.
    '{"created_at":1561479335,"store_id":"1025646","producer":"stores/abc123","scope":"store/order/created","hash":"dd70c0976e06b67aaf671e73f49dcb79230ebf9d","data":{"type":"order","id":250}}',
    '{"created_at":1561482670,"store_id":"1025646","producer":"stores/abc123","scope":"store/cart/created","hash":"352e4afc6dd3fc85ea26bfdf3f91852604d57528","data":{"type":"cart","id":"09346904-4175-44fd-be53-f7e598531b6c"}}',
    '{"created_at":1561482670,"store_id":"1025646","producer":"stores/abc123","scope":"store/customer/address/updated","hash":"416ca9c01779515de91824aa1cef9012","data":{"type":"customer","id":60,"address":{"customer_id":32}}}',
    // The delivery exception's example, with a real store hash for `{store_hash}`.
    '{"scope":"store/hook/deliveryException","store_id":"1025646","data":{"type":"webhook","id":123,"error_code":90001,"message":"Non-200 response received when delivering to https://app.com/bc/webhook, will retry"},"hash":"e0c298b8097a6a2f39d17e593a9b360f5b2fef7d","created_at":1561482670,"producer":"stores/abc123"}',
    // Fields the schema leaves optional, left out.
    '{"scope":"store/company/created","data":{"company_id":1234}}',
    '{"scope":"store/quote/created","store_id":1025646,"data":{"quote_id":1234,"quote_uuid":"1a2b3c4d"}}',
  ];
  // The 19 B2B examples, each with and without created_at.
  for (const [scope, data] of SCOPES) {
    const cb = callback(scope, data);
    docs.push(JSON.stringify(cb));
    const { created_at: _, ...without } = cb;
    docs.push(JSON.stringify(without));
  }

  test(`${docs.length} bodies: 200 accepted with the expected id, then delivered`, async () => {
    const ids = [];
    for (const body of docs) {
      const res = await relay.post(body);
      assert.equal(res.status, 200, `${body}: ${res.text}`);
      assert.equal(res.json.status, "accepted", `${body}: ${res.text}`);
      assert.equal(res.json.id, idOf(body), body);
      ids.push(res.json.id);
    }
    await waitFor(() => ids.every((id) => delivered(id).length), { timeoutMs: 60_000, what: "every example delivered" });
    const order = JSON.parse(delivered(ids[0])[0].body);
    assert.equal(order.type, "com.bigcommerce.order.statusUpdated");
    assert.equal(order.storehash, "abcde");
    assert.match(order.time, /^\d{4}-\d\d-\d\dT/, "the receipt time stands in for created_at");
  });

  test("the exception example exactly as documented (a `{store_hash}` placeholder) is kept, not refused", async () => {
    const body = docs[5].replace("stores/abc123", "stores/{store_hash}");
    const res = await relay.post(body);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, "quarantined");
  });
});

describe("authentic bodies that are no event are quarantined, nothing is delivered", () => {
  const deep = `{"scope":"store/company/created","data":{"x":${"[".repeat(200)}${"]".repeat(200)}}}`;
  const cases = [
    ["not JSON", "{not json", "invalid_json"],
    ["empty", "", "invalid_json"],
    ["an array", "[]", "invalid_json"],
    ["no scope", '{"store_id":"1","data":{"company_id":1}}', "missing_field"],
    ["data not an object", '{"scope":"store/company/created","data":[1]}', "invalid_field"],
    ["a bad producer", '{"scope":"store/company/created","data":{},"producer":"abc123"}', "invalid_field"],
    ["too deep", deep, "invalid_json"],
  ];
  const kept = [];

  for (const [what, body, code] of cases) {
    test(`${what} → 200 quarantined, kept with its reason`, async () => {
      const res = await relay.post(body, { headers: { "x-forwarded-for": "203.0.113.7", "x-relay-copy": `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { status: "quarantined", id: sha256(body) });
      const rec = await admin("GET", `/admin/quarantine/${sha256(body)}`);
      assert.equal(rec.status, 200, rec.text);
      assert.equal(rec.json.reason.code, code);
      assert.equal(rec.json.body, body);
      assert.equal(rec.json.body_encoding, "utf8");
      assert.equal(rec.json.size, Buffer.byteLength(body));
      assert.equal(rec.json.authenticated_by, "token");
      assert.equal(rec.json.headers.authorization, "***");
      assert.equal(rec.json.headers["x-relay-copy"], "***", "a header holding a token is redacted too");
      assert.equal(rec.json.headers["x-forwarded-for"], "203.0.113.7");
      assert.ok(!rec.text.includes(TOKEN));
      kept.push(sha256(body));
    });
  }

  test("a signed body keeps its webhook-id, never the signature", async () => {
    const body = '{"scope":"store/company/created","data":"not an object"}';
    const headers = signed(body);
    const res = await relay.post(body, { headers, token: null });
    assert.equal(res.json.status, "quarantined", res.text);
    const rec = await admin("GET", `/admin/quarantine/${res.json.id}`);
    assert.equal(rec.json.authenticated_by, "signature");
    assert.equal(rec.json.webhook_id, headers["webhook-id"]);
    assert.equal(rec.json.headers["webhook-signature"], "***");
    assert.ok(!rec.text.includes(headers["webhook-signature"].slice(3)));
    kept.push(res.json.id);
  });

  test("invalid UTF-8 is kept byte for byte, as base64", async () => {
    const body = Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const res = await relay.post(body);
    assert.equal(res.json.status, "quarantined", res.text);
    assert.equal(res.json.id, sha256(body));
    const rec = await admin("GET", `/admin/quarantine/${res.json.id}`);
    assert.equal(rec.json.body_encoding, "base64");
    assert.deepEqual(Buffer.from(rec.json.body, "base64"), body);
    kept.push(res.json.id);
  });

  test("unauthenticated: 401 and nothing kept; oversized: 413 and nothing kept", async () => {
    const body = '{"scope":"store/company/created","data":7}';
    for (const token of [null, "wrong-token"]) {
      const res = await relay.post(body, { token });
      assert.equal(res.status, 401, res.text);
    }
    const forged = await relay.post(body, { token: null, headers: { ...signed("another body"), "content-type": "application/json" } });
    assert.equal(forged.status, 401);
    assert.equal(forged.json.error.code, "invalid_signature");
    assert.equal((await admin("GET", `/admin/quarantine/${sha256(body)}`)).status, 404);
    const big = "{" + " ".repeat(64 * 1024) + "}";
    const res = await relay.post(big);
    assert.equal(res.status, 413);
    assert.equal((await admin("GET", `/admin/quarantine/${sha256(big)}`)).status, 404);
  });

  test("nothing quarantined was delivered; each has a log line", async () => {
    await sleep(1500);
    const ids = new Set(kept);
    assert.deepEqual(rx.requests.filter((q) => ids.has(q.headers["webhook-id"])), []);
    const lines = relay.logLines("ingest").filter((l) => l.outcome === "quarantined");
    for (const id of kept) assert.ok(lines.some((l) => l.id === id && l.status === 200 && /^(invalid_json|missing_field|invalid_field): /.test(l.error)), id);
  });

  test("the list pages through the records with their summaries", async () => {
    const all = await admin("GET", "/admin/quarantine?limit=1000");
    assert.equal(all.status, 200, all.text);
    const ids = all.json.records.map((r) => r.id);
    for (const id of kept) assert.ok(ids.includes(id), `${id} not listed`);
    const one = all.json.records.find((r) => r.id === kept[0]);
    assert.deepEqual(Object.keys(one).sort(), ["authenticated_by", "code", "id", "message", "received_at", "size"]);
    let cursor = null;
    const paged = [];
    do {
      const page = await admin("GET", `/admin/quarantine?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      assert.ok(page.json.records.length <= 3);
      paged.push(...page.json.records.map((r) => r.id));
      cursor = page.json.cursor;
    } while (cursor);
    assert.deepEqual(paged, ids);
    assert.equal((await admin("GET", "/admin/quarantine?limit=0")).status, 400);
  });

  test("replaying all keeps what still does not parse", async () => {
    const res = await admin("POST", "/admin/quarantine/replay", {});
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.replayed + res.json.duplicates, 0, res.text);
    assert.ok(res.json.still_quarantined >= 1);
    assert.ok(res.json.results.every((r) => r.outcome === "quarantined" && r.error));
    for (const id of kept) assert.equal((await admin("GET", `/admin/quarantine/${id}`)).status, 200, `${id} should stay`);
  });

  test("delete, and the routes' guards", async () => {
    const id = kept[0];
    const del = await admin("DELETE", `/admin/quarantine/${id}`);
    assert.deepEqual(del.json, { deleted: `quarantine:${id}` });
    assert.equal((await admin("GET", `/admin/quarantine/${id}`)).status, 404);
    assert.equal((await admin("DELETE", `/admin/quarantine/${id}`)).status, 404);
    assert.equal((await admin("GET", "/admin/quarantine/not-an-id")).status, 404);
    assert.equal((await admin("PUT", `/admin/quarantine/${kept[1]}`)).status, 405);
    assert.equal((await relay.call("GET", "/admin/quarantine", { token: "nope" })).status, 401);
    assert.equal((await admin("POST", "/admin/quarantine/replay", { ids: Array(21).fill(kept[1]) })).json.error.code, "too_many_ids");
    assert.equal((await admin("POST", "/admin/quarantine/replay", { target: "all" })).status, 400);
    const unknown = await admin("POST", "/admin/quarantine/replay", { ids: ["0".repeat(64)] });
    assert.equal(unknown.json.not_found, 1);
  });
});

test("no token or client secret in the log", () => {
  for (const s of [TOKEN, SECRET, ADMIN]) assert.ok(!relay.logs.includes(s), "secret in the log");
});
