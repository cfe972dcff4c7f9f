// Injected storage faults (`FAULTS`, a test-only setting): what BigCommerce and the
// operator see when Cloudflare's queue or KV fails.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Receiver, Relay, callback, eventId, waitFor } from "./harness.mjs";

const target = new Receiver("t");
let down; // the queue refuses every send
let markless; // dedup marks are never written; replays cannot be enqueued
const flaky = new Receiver("flaky", () => ({ status: 500 }));

before(async () => {
  await target.start();
  await flaky.start();
  const env = (faults, extra = {}) => ({
    ...extra,
    INGEST_TOKENS: "t",
    ADMIN_TOKEN: "a",
    FAULTS: faults,
    RETRY_SCHEDULE_SECONDS: "1",
    TARGETS: JSON.stringify([
      { name: "t", url: target.url, events: ["company.*"] },
      { name: "flaky", url: flaky.url, events: ["quote.*"], max_attempts: 1 },
    ]),
  });
  // One after the other: each `wrangler dev` start runs the [build] command into build/.
  down = await new Relay(env("ingest_enqueue")).start();
  // Also the relay that logs only failed delivery attempts (the last test).
  markless = await new Relay(env("dedup_mark,replay_enqueue", { LOG_DELIVERIES: "failures" })).start();
});

after(async () => {
  await Promise.all([down?.stop(), markless?.stop()]);
  await target.stop();
  await flaky.stop();
});

test("a failed enqueue answers 503 (BigCommerce retries), writes no mark and delivers nothing", async () => {
  const cb = callback("store/company/created", { company_id: 1 });
  const res = await down.post(cb);
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, "queue_unavailable");
  assert.deepEqual(await down.kvKeys("DEDUP"), []);
  // The relay's report: that request's ingest line says it was refused, so nothing was queued.
  await waitFor(() => down.logLines("ingest").some((l) => l.outcome === "queue_unavailable" && l.status === 503), { what: "the refused ingest line" });
  assert.equal(down.attempts().length, 0, "no delivery attempt at all");
  assert.equal(target.byId(eventId(cb)).length, 0);
  // An unrouted event needs no enqueue and is still a success.
  assert.equal((await down.post(callback("store/order/created", { order_id: 1 }))).status, 200);
});

test("a lost dedup mark still answers 200; the retry is delivered again with the same webhook-id", async () => {
  const cb = callback("store/company/created", { company_id: 2 });
  assert.equal((await markless.post(cb)).json.status, "accepted");
  assert.equal((await markless.post(cb)).json.status, "accepted");
  await waitFor(() => target.byId(eventId(cb)).length === 2, { what: "two deliveries" });
});

test("a replay whose enqueue fails keeps the record", async () => {
  const cb = callback("store/quote/created", { quote_id: 3 });
  assert.equal((await markless.post(cb)).json.status, "accepted");
  const key = `dlq:flaky:${eventId(cb)}`;
  try {
    await waitFor(() => flaky.byId(eventId(cb)).length === 1, { what: "the failing attempt" });
    await waitFor(async () => (await markless.kvKeys("DEAD_LETTERS", key)).length === 1, { timeoutMs: 30_000, intervalMs: 1000, what: "dead letter" });
  } catch (e) {
    // What the relay logged says which step stalled.
    console.log(markless.logs.slice(-6000));
    throw e;
  }
  const res = await fetch(`${markless.url}/admin/dead-letters/replay`, { method: "POST", headers: { authorization: "Bearer a" }, body: JSON.stringify({ target: "flaky", ids: [eventId(cb)] }) });
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.replayed, 0);
  assert.equal(body.failed, 1);
  assert.match(body.errors[0], /replay_enqueue/);
  assert.equal((await markless.kvKeys("DEAD_LETTERS", key)).length, 1);
});

test("LOG_DELIVERIES=failures: one line per failed attempt, nothing for a delivered one", async () => {
  const ok = callback("store/company/updated", { company_id: 4 });
  const bad = callback("store/quote/updated", { quote_id: 4 });
  assert.equal((await markless.post(ok)).status, 200);
  await waitFor(() => target.byId(eventId(ok)).length === 1, { what: "the delivery to t" });
  assert.equal((await markless.post(bad)).status, 200);
  const failed = () => markless.logLines("delivery").filter((l) => l.id === eventId(bad));
  await waitFor(() => failed().length === 1, { what: "the failed attempt's log line" });
  assert.deepEqual(
    [failed()[0].target, failed()[0].attempt, failed()[0].outcome, failed()[0].status],
    ["flaky", 1, "dead_letter", 500],
  );
  // Written after t's delivery was logged, had it been: t's line would be there by now.
  assert.deepEqual(markless.logLines("delivery").filter((l) => l.id === eventId(ok)), []);
  assert.ok(markless.logLines("delivery").every((l) => l.outcome !== "delivered"));
  assert.deepEqual(markless.logLines("deliveries"), []);
});
