// Copies that arrive together. With DEDUP_MODE=kv (the default) copies in flight in one isolate
// wait for the first and answer from its outcome; with DEDUP_MODE=durable the DedupShard Durable
// Object decides across isolates (claim → enqueue → commit), a waiting copy never answers
// `duplicate` while the first might still fail, and a failed enqueue releases the claim.
// wrangler dev runs one isolate, so the durable relay turns the in-isolate coalescing off
// (FAULTS=no_coalesce, tests only) to make copies meet at the object, and every enqueue takes
// 400 ms (FAULTS=ingest_enqueue_slow) so later copies arrive while the first is in flight.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Receiver, Relay, callback, eventId, sleep, waitFor } from "./harness.mjs";

const TOKEN = "ingest-token-dedup-e2e";
const rx = new Receiver("dedup");
const relays = {};

before(async () => {
  await rx.start();
  const env = (name, extra) => ({ INGEST_TOKENS: TOKEN, TARGETS: JSON.stringify([{ name, url: `${rx.url}/${name}` }]), ...extra });
  relays.kv = await new Relay(env("kv", { FAULTS: "ingest_enqueue*1,ingest_enqueue_slow" }), { build: false }).start();
  relays.durable = await new Relay(env("durable", { DEDUP_MODE: "durable", FAULTS: "no_coalesce,ingest_enqueue*1,ingest_enqueue_slow" }), { build: false }).start();
});

after(async () => {
  for (const r of Object.values(relays)) await r?.stop();
  await rx.stop();
});

let n = 0;
const fresh = () => callback("store/quote/updated", { quote_id: 9000 + n, quote_uuid: `q-${n++}` });
const at = (name, id) => rx.requests.filter((q) => q.url === `/hook/${name}` && q.headers["webhook-id"] === id);
const copies = (relay, cb, k) => Promise.all(Array.from({ length: k }, () => relay.post(cb)));
const tally = (answers) => answers.map((a) => (a.status === 200 ? a.json.status : `${a.status} ${a.json?.error?.code}`)).sort();

describe("DEDUP_MODE=kv: copies in flight in one isolate", () => {
  test("a first copy that fails fails the copies waiting for it; BigCommerce's retry is accepted", async () => {
    const cb = fresh();
    const answers = await copies(relays.kv, cb, 3);
    assert.deepEqual(tally(answers), Array(3).fill("503 queue_unavailable"), JSON.stringify(tally(answers)));
    const retry = await relays.kv.post(cb);
    assert.equal(retry.json.status, "accepted", retry.text);
    await relays.kv.settled(eventId(cb), ["kv"]);
  });

  test("20 events × 4 copies at once: one accepted, three duplicates, one delivery each", async () => {
    const cbs = Array.from({ length: 20 }, fresh);
    const all = await Promise.all(cbs.map((cb) => copies(relays.kv, cb, 4)));
    for (const answers of all) assert.deepEqual(tally(answers), ["accepted", "duplicate", "duplicate", "duplicate"]);
    await waitFor(() => cbs.every((cb) => at("kv", eventId(cb)).length), { what: "kv deliveries" });
    await sleep(2000);
    for (const cb of cbs) assert.equal(at("kv", eventId(cb)).length, 1);
  });
});

describe("DEDUP_MODE=durable: the DedupShard object decides", () => {
  test("the first copy's enqueue fails: its claim is released and a waiting copy takes it", async () => {
    const cb = fresh();
    const answers = await copies(relays.durable, cb, 3);
    // Never `duplicate` for a copy whose first failed: one 503, one accepted, one duplicate of it.
    assert.deepEqual(tally(answers), ["503 queue_unavailable", "accepted", "duplicate"], JSON.stringify(tally(answers)));
    await relays.durable.settled(eventId(cb), ["durable"]);
    await sleep(1500);
    assert.equal(at("durable", eventId(cb)).length, 1);
  });

  test("20 events × 5 copies reaching the object together: exactly one accepted each", async () => {
    const cbs = Array.from({ length: 20 }, fresh);
    const all = await Promise.all(cbs.map((cb) => copies(relays.durable, cb, 5)));
    for (const answers of all) assert.deepEqual(tally(answers), ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]);
    await waitFor(() => cbs.every((cb) => at("durable", eventId(cb)).length), { what: "durable deliveries" });
    await sleep(2000);
    for (const cb of cbs) assert.equal(at("durable", eventId(cb)).length, 1);
    // KV stays the cache in front: later copies are answered from the marks.
    for (const cb of cbs.slice(0, 3)) assert.equal((await relays.durable.post(cb)).json.status, "duplicate");
  });

  test("the object remembers without KV: a copy whose mark is gone is still a duplicate", async () => {
    const cb = fresh();
    assert.equal((await relays.durable.post(cb)).json.status, "accepted");
    await relays.durable.kv("DEDUP", "delete", `dedup:${eventId(cb)}`);
    const keys = await relays.durable.kvKeys("DEDUP", `dedup:${eventId(cb)}`);
    assert.deepEqual(keys, [], "the mark was deleted");
    const again = await relays.durable.post(cb);
    assert.equal(again.json.status, "duplicate", again.text);
  });
});
