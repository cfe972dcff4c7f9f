// The last ways a message could be lost or leak (RELIABILITY.md, "Paths that lose nothing"):
// unreadable queue messages, the dead-letter queue facing a KV outage, a configuration broken
// for longer than the queue's retries, and error texts that quote a target's URL.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { Receiver, Relay, callback, eventId, freePort, waitFor } from "./harness.mjs";

const ADMIN = "admin-token";
const TOKEN = "ingest-token";
const SEKRIT = "query-secret-7f3a";
const HEADER_VALUE = "header-value-9c1d";
const target = new Receiver("t");
let deadPort; // a port nothing listens on: every attempt is a network error
let odd, broken, dlq;

const base = (extra) => ({ INGEST_TOKENS: TOKEN, ADMIN_TOKEN: ADMIN, REQUEUE_SECONDS: "1", RETRY_SCHEDULE_SECONDS: "1", ...extra });

before(async () => {
  await target.start();
  deadPort = await freePort();
  // One built worker for every relay of this file (build: false).
  [odd, broken, dlq] = await Promise.all([
    new Relay(
      base({
        FAULTS: "raw_enqueue",
        TARGETS: JSON.stringify([
          { name: "leaky", url: `http://127.0.0.1:${deadPort}/hook?token=${SEKRIT}`, max_attempts: 2, headers: { "X-Api-Key": HEADER_VALUE } },
        ]),
      }),
      { build: false },
    ).start(),
    // The consumer sees the configuration as broken for its first 15 batches: far longer
    // than max_retries (5) × REQUEUE_SECONDS (1 s), after which a handed-back message would
    // have been dead-lettered.
    new Relay(base({ FAULTS: "consume_config_broken*15", TARGETS: JSON.stringify([{ name: "t", url: target.url }]) }), { build: false }).start(),
    // Every delivery "crashes" the consumer (handed back until Queues moves it to the
    // dead-letter queue); then KV refuses the dead-letter record 6 times, more than Queues'
    // default of 3 retries would survive.
    new Relay(base({ FAULTS: "consume_hand_back,dead_letter_put*6", TARGETS: JSON.stringify([{ name: "t", url: target.url }]) }), { build: false }).start(),
  ]);
});

after(async () => {
  await Promise.all([odd?.stop(), broken?.stop(), dlq?.stop()]);
  await target.stop();
});

const admin = (relay, method, path, body) => relay.call(method, path, { token: ADMIN, body });

describe("1. unreadable queue messages", () => {
  test("a message the consumer cannot read is kept and listed, not acked away", async () => {
    const garbage = '{"deliver":{"target":42}}';
    assert.equal((await odd.call("POST", "/admin/test-message", { token: ADMIN, body: garbage })).status, 200);
    // (call() JSON-encodes bodies: the queue got the JSON string of `garbage`, also unreadable.)
    const listed = await waitFor(async () => {
      const res = await admin(odd, "GET", "/admin/unreadable");
      return res.json?.records?.length ? res.json.records : null;
    }, { what: "the unreadable record" });
    assert.equal(listed.length, 1);
    const one = await admin(odd, "GET", `/admin/unreadable/${listed[0].id}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.body, JSON.stringify(garbage));
    assert.match(one.json.reason, /not a job|neither/);
    assert.equal(one.json.queue, "deliveries");
    assert.ok(odd.logs.includes("unreadable queue message kept"));
    assert.equal((await admin(odd, "DELETE", `/admin/unreadable/${listed[0].id}`)).status, 200);
    assert.deepEqual((await admin(odd, "GET", "/admin/unreadable")).json.records, []);
  });

  test("without FAULTS=raw_enqueue the test-only route does not exist", async () => {
    assert.equal((await admin(broken, "POST", "/admin/test-message", "x")).status, 404);
  });
});

describe("4-5. error texts are redacted", () => {
  test("a network error to a URL with ?token= leaves the token and header values in no log, message or record", async () => {
    const cb = callback("store/company/created", { company_id: 5 });
    const res = await odd.post(cb);
    assert.equal(res.status, 200);
    const key = `dlq:leaky:${eventId(cb)}`;
    await waitFor(async () => (await odd.kvKeys("DEAD_LETTERS", key)).length === 1, { timeoutMs: 45_000, intervalMs: 1000, what: "the leaky dead letter" });
    const record = await odd.kvGet("DEAD_LETTERS", key);
    assert.match(JSON.parse(record).last_error, /network error/);
    const attempts = odd.attempts().filter((a) => a.id === eventId(cb));
    assert.equal(attempts.length, 2);
    // Attempt 2's message carried attempt 1's error: the dead letter's error is attempt 2's,
    // the log holds both; none may contain the secrets.
    for (const [where, text] of [["record", record], ["log", odd.logs], ["admin view", (await admin(odd, "GET", "/admin/targets")).text]]) {
      assert.ok(!text.includes(SEKRIT), `${where} contains the query token`);
      assert.ok(!text.includes(HEADER_VALUE), `${where} contains a header value`);
    }
  });
});

describe("3. a configuration broken for longer than the queue's retries", () => {
  test("ends with every delivery made and no dead letter", async () => {
    const cbs = [1, 2, 3].map((n) => callback("store/company/updated", { company_id: 100 + n }));
    for (const cb of cbs) assert.equal((await broken.post(cb)).json.status, "accepted");
    for (const cb of cbs) await waitFor(() => target.byId(eventId(cb)).length === 1, { timeoutMs: 60_000, what: `delivery of ${eventId(cb)}` });
    for (const cb of cbs) await broken.settled(eventId(cb), ["t"]);
    assert.deepEqual(await broken.kvKeys("DEAD_LETTERS"), []);
    for (const cb of cbs) assert.deepEqual(broken.attempts().filter((a) => a.id === eventId(cb)).map((a) => a.outcome), ["delivered"]);
  });
});

describe("2. the dead-letter queue survives a KV outage", () => {
  test("a crashed delivery is recorded once KV is back, after more failures than Queues' default retries", async () => {
    const cb = callback("store/company/created", { company_id: 9 });
    assert.equal((await dlq.post(cb)).json.status, "accepted");
    const key = `dlq:t:${eventId(cb)}`;
    await waitFor(async () => (await dlq.kvKeys("DEAD_LETTERS", key)).length === 1, { timeoutMs: 120_000, intervalMs: 1000, what: "the crashed delivery's record" });
    const record = JSON.parse(await dlq.kvGet("DEAD_LETTERS", key));
    assert.match(record.last_error, /dead-letter queue/);
    const failures = dlq.logs.split("\n").filter((l) => l.includes("dead letter not written")).length;
    assert.ok(failures >= 4, `KV failed ${failures} times; the record survived them`);
    assert.equal(target.byId(eventId(cb)).length, 0);
  });
});
