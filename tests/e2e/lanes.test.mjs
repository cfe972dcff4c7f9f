// One failing target never slows the others (issue 13): each target is its own lane, with a
// circuit breaker, pause and resume, a rate limit, auto-disable and operational events, in the
// real worker under wrangler dev. Every target gets its own store, so each scenario's events
// reach only the target it is about; they run side by side (each target has its own lane
// queue, and wrangler dev runs different queues' consumers concurrently).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FaultReceiver } from "../soak/receiver.mjs";
import { Receiver, Relay, callback, eventId, sleep, waitFor } from "./harness.mjs";

const ADMIN = "admin-token-lanes";
const TOKEN = "ingest-token-lanes";

// A target that accepts connections and never answers while `hanging`.
let hanging = true;
const hang = new FaultReceiver("hang", () => (hanging ? "hang" : { status: 200 }));
let hangConnections = 0;
hang.server.on("connection", () => hangConnections++);
const paused = new Receiver("paused");
const rated = new Receiver("rated");
let doomedUp = false;
const doomed = new Receiver("doomed", () => ({ status: doomedUp ? 200 : 503 }));
const ops = new Receiver("ops");
const healthy = new Receiver("healthy");
const steady = new Receiver("steady");
let relay;

const admin = (method, path, body) => relay.call(method, path, { token: ADMIN, body });
const company = (store, i) => callback("store/company/updated", { company_id: 50_000 + i }, { store });
// When the relay answered each event's ingest (id → ms).
const answeredAt = new Map();

async function ingest(cb) {
  const res = await relay.post(cb, { token: TOKEN });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.status, "accepted");
  answeredAt.set(eventId(cb), Date.now());
  return eventId(cb);
}

/** Operational events the ops target received: { type, data, at }. */
const opsEvents = () => ops.requests.map((r) => ({ ...JSON.parse(r.body), at: r.at }));
const opsEvent = (type, target) => opsEvents().find((e) => e.type === `com.b2brelay.target.${type}` && e.data.target === target);

before(async () => {
  const started = Date.now();
  for (const r of [hang, paused, rated, doomed, ops, healthy, steady]) await r.start();
  relay = await new Relay({
    INGEST_TOKENS: TOKEN,
    ADMIN_TOKEN: ADMIN,
    RETRY_SCHEDULE_SECONDS: "1",
    PUBLIC_URL: "https://relay.example.com",
    TARGETS: JSON.stringify([
      { name: "hang", url: `${hang.url}/hang`, stores: ["hang"], timeout_ms: 1000, breaker_seconds: 2, max_attempts: 20 },
      { name: "paused", url: paused.url, stores: ["pause"] },
      { name: "rated", url: rated.url, stores: ["rate"], rate_limit: "5/s" },
      // 0.0005 h = 1.8 s of failing continuously, two failures at least.
      { name: "doomed", url: doomed.url, stores: ["doom"], breaker_failures: 2, breaker_seconds: 1, disable_after_hours: 0.0005, max_attempts: 50 },
      { name: "ops", url: ops.url, events: ["relay.*"] },
      { name: "healthy", url: healthy.url, stores: ["hang"] },
      { name: "steady", url: steady.url, stores: ["steady"] },
    ]),
    // The build of `make build` (or of a relay started before): no second build.
  }, { build: false }).start();
  process.stderr.write(`[lanes] wrangler dev up after ${Date.now() - started} ms\n`);
});

after(async () => {
  await relay?.stop();
  for (const r of [hang, paused, rated, doomed, ops, healthy, steady]) await r.stop();
});

// The scenarios run side by side (the pause one waits about a minute for its holds to come
// back), each as a subtest of this one.
test("lanes", { concurrency: true }, async (t) => {
  const scenario = (name, fn) => t.test(name, fn);
  await Promise.all([
  scenario("a hanging target opens after 5 failures, is probed (not hammered), recovers and gets every event; its neighbour is not slowed", async (t) => {
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push(await ingest(company("hang", i)));
    // The breaker opens: the relay says so to the relay.* target.
    await waitFor(() => opsEvent("opened", "hang"), { timeoutMs: 30_000, what: "target.opened for hang" });
    const opened = opsEvent("opened", "hang");
    assert.equal(opened.source, "https://relay.example.com");
    assert.equal(opened.subject, "targets/hang");
    assert.equal(opened.data.mode, "open");
    assert.equal(opened.data.consecutive_failures, 5);
    assert.equal(opened.data.last_error, "timed out");
    // The healthy target on the same store, in another lane, got everything meanwhile, as
    // fast as a batch gathers (1 s), not at the pace of the hanging one's 1 s timeouts.
    await waitFor(() => ids.every((id) => healthy.byId(id).length > 0), { timeoutMs: 10_000, what: "healthy target's deliveries" });
    const lag = Math.max(...ids.map((id) => healthy.byId(id)[0].at - answeredAt.get(id)));
    assert.ok(lag < 4000, `healthy target got an event ${lag} ms after its ingest`);
    // Open for 2 s, then 4 s after a failed probe: about 8 s of probing sees few connections.
    const burst = hang.requests.length;
    const openAt = Date.now();
    await sleep(8_000);
    const during = hang.requests.slice(burst);
    const connections = hangConnections;
    const elapsed = Date.now() - openAt;
    // One probe per open period (2 s doubling), never two at once.
    assert.ok(during.length <= 1 + Math.floor(elapsed / 2000), `${during.length} requests in ${elapsed} ms while open: ${during.map((r) => r.at - openAt)}`);
    for (let i = 1; i < during.length; i++) assert.ok(during[i].at - during[i - 1].at >= 1900, `probes ${during[i].at - during[i - 1].at} ms apart`);
    // A connection may be counted before its request is read.
    assert.ok(connections <= burst + during.length + 1, `${connections} connections for ${burst + during.length} requests`);
    const view = await admin("GET", "/admin/targets/hang");
    assert.equal(view.status, 200, view.text);
    assert.ok(["open", "probing"].includes(view.json.lane.mode), view.text);
    assert.ok(view.json.lane.held_backlog > 0, view.text);
    assert.equal(view.json.lane.last_error, "timed out");
    // It comes back: the next probe succeeds, the backlog drains, every event arrives.
    hanging = false;
    await waitFor(() => opsEvent("recovered", "hang"), { timeoutMs: 30_000, what: "target.recovered for hang" });
    await waitFor(() => ids.every((id) => hang.byId(id).some((r) => r.accepted)), { timeoutMs: 30_000, what: "every event at hang" });
    assert.deepEqual(await relay.kvKeys("DEAD_LETTERS", "dlq:hang:"), []);
    t.diagnostic(`hang: ${burst} requests before it opened, ${during.length} probes in ${elapsed} ms open, ${hang.requests.length} requests and ${hangConnections} connections in all for 12 events; healthy neighbour's worst lag ${lag} ms`);
  }),

  scenario("pause holds everything (no attempt, no dead letter); resume delivers all of it", async (t) => {
    const p = await admin("POST", "/admin/targets/paused/pause");
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.changed, true);
    assert.equal(p.json.lane.mode, "paused");
    assert.equal((await admin("POST", "/admin/targets/paused/pause")).json.changed, false);
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push(await ingest(company("pause", i)));
    // The relay reports them held: only then is "nothing arrived" a finding.
    await waitFor(async () => (await admin("GET", "/admin/targets/paused")).json.lane.held_backlog >= 8, { timeoutMs: 20_000, what: "8 held deliveries" });
    assert.equal(paused.requests.length, 0);
    const view = (await admin("GET", "/admin/targets/paused")).json.lane;
    assert.equal(view.counts.attempts, 0);
    const resumedAt = Date.now();
    const r = await admin("POST", "/admin/targets/paused/resume");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.lane.mode, "healthy");
    // A held delivery asks again every 60 s: within about a minute everything has arrived.
    await waitFor(() => ids.every((id) => paused.byId(id).length > 0), { timeoutMs: 90_000, intervalMs: 500, what: "every paused event after resume" });
    assert.equal(paused.requests.length, 8, "each delivered once");
    t.diagnostic(`paused: 8 held (held_backlog ${view.held_backlog}), all delivered ${Math.max(...paused.requests.map((q) => q.at)) - resumedAt} ms after resume`);
    assert.deepEqual(await relay.kvKeys("DEAD_LETTERS", "dlq:paused:"), []);
    assert.ok(opsEvent("paused", "paused") && opsEvent("resumed", "paused"), JSON.stringify(opsEvents().map((e) => e.type)));
  }),

  scenario("a rate_limit of 5/s is never exceeded at the receiver in any 1 s window, and nothing is lost", async (t) => {
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => ingest(company("rate", i))));
    await waitFor(() => ids.every((id) => rated.byId(id).length > 0), { timeoutMs: 60_000, what: "30 rate-limited deliveries" });
    const at = rated.requests.map((r) => r.at).sort((a, b) => a - b);
    let worst = 0;
    for (let i = 0; i < at.length; i++) worst = Math.max(worst, at.filter((t) => t >= at[i] && t < at[i] + 1000).length);
    assert.ok(worst <= 5, `${worst} requests within one second: ${at.map((x) => x - at[0])}`);
    t.diagnostic(`rated: 30 deliveries in ${at[at.length - 1] - at[0]} ms, at most ${worst} in any 1 s window`);
    assert.equal(rated.requests.length, 30, "no duplicates");
    assert.deepEqual(await relay.kvKeys("DEAD_LETTERS", "dlq:rated:"), []);
    // Held, not attempted: every attempt delivered.
    const attempts = relay.attempts().filter((a) => a.target === "rated");
    assert.ok(attempts.every((a) => a.outcome === "delivered" && a.attempt === 1), JSON.stringify(attempts.filter((a) => a.outcome !== "delivered")));
    const view = (await admin("GET", "/admin/targets/rated")).json;
    assert.equal(view.rate_limit, "5/s");
    assert.equal(view.lane.rate_limit, "5/s");
  }),

  scenario("a clear lane is not asked per batch, and its counts still add up (the isolate's tally reaches the lane)", async () => {
    const ids = [];
    for (let i = 0; i < 24; i++) ids.push(await ingest(company("steady", i)));
    await waitFor(() => ids.every((id) => steady.byId(id).length > 0), { timeoutMs: 20_000, what: "24 deliveries to steady" });
    // A batch more than a second later reports the tally of the ones before it.
    await sleep(1_200);
    const last = await ingest(company("steady", 24));
    await relay.settled(last, ["steady"]);
    await waitFor(async () => (await admin("GET", "/admin/targets/steady")).json.lane.counts.delivered >= 24, { timeoutMs: 10_000, what: "steady's counts" });
    const lane = (await admin("GET", "/admin/targets/steady")).json.lane;
    assert.equal(lane.mode, "healthy");
    // The last delivery may still be in the isolate's tally: 24 or 25, never fewer, never more.
    assert.ok(lane.counts.delivered >= 24 && lane.counts.delivered <= 25, JSON.stringify(lane.counts));
    assert.ok(lane.counts.attempts >= lane.counts.delivered && lane.counts.attempts <= 25, JSON.stringify(lane.counts));
    assert.equal(lane.counts.failed, 0);
    assert.ok(lane.last_success_at, JSON.stringify(lane));
    assert.equal(steady.requests.length, 25, "each delivered once");
  }),

  scenario("a target failing longer than disable_after_hours is disabled: its deliveries become dead letters; resume re-enables it and they replay", async () => {
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await ingest(company("doom", i)));
    await waitFor(async () => (await relay.kvKeys("DEAD_LETTERS", "dlq:doomed:")).length === 6, { timeoutMs: 45_000, intervalMs: 1000, what: "6 dead letters at doomed" });
    const record = JSON.parse(await relay.kvGet("DEAD_LETTERS", `dlq:doomed:${ids[5]}`));
    assert.equal(record.last_error, "target disabled");
    assert.equal(record.event.id, ids[5]);
    const disabled = opsEvent("disabled", "doomed");
    assert.ok(disabled, JSON.stringify(opsEvents().map((e) => e.type)));
    assert.equal(disabled.data.mode, "disabled");
    assert.equal(disabled.data.last_error, "HTTP 503");
    assert.ok(relay.logLines("com.b2brelay.target.disabled").some((l) => l.target === "doomed"));
    const before = doomed.requests.length;
    // Still disabled: a new event is dead-lettered at once, never attempted.
    const late = await ingest(company("doom", 99));
    await relay.settled(late, ["doomed"]);
    assert.equal(doomed.requests.length, before);
    assert.equal((await admin("GET", "/admin/targets/doomed")).json.lane.mode, "disabled");
    // The operator fixes it and resumes: re-enabled, and the dead letters replay.
    doomedUp = true;
    const resumedAt = Date.now();
    const r = await admin("POST", "/admin/targets/doomed/resume");
    assert.equal(r.json.lane.mode, "healthy");
    const replay = await admin("POST", "/admin/dead-letters/replay", { target: "doomed" });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.json.replayed, 7);
    await waitFor(() => [...ids, late].every((id) => doomed.byId(id).some((q) => q.at >= resumedAt)), { timeoutMs: 30_000, what: "replayed deliveries" });
    await waitFor(() => opsEvent("resumed", "doomed"), { timeoutMs: 10_000, what: "target.resumed for doomed" });
  }),
  ]);
});

test("GET /admin/targets shows each target's lane; unknown targets are 404; operational events went only to relay.* targets", async () => {
  const res = await admin("GET", "/admin/targets");
  assert.equal(res.status, 200, res.text);
  const byName = Object.fromEntries(res.json.targets.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(byName), ["hang", "paused", "rated", "doomed", "ops", "healthy", "steady"]);
  for (const t of res.json.targets) {
    assert.ok(t.lane, `${t.name}: ${t.lane_error}`);
    for (const k of ["mode", "consecutive_failures", "held_backlog", "counts"]) assert.ok(k in t.lane, `${t.name} lane lacks ${k}`);
    assert.equal(t.breaker_failures, t.name === "doomed" ? 2 : 5);
  }
  assert.ok(byName.hang.lane.last_success_at && byName.hang.lane.last_failure_at, JSON.stringify(byName.hang.lane));
  assert.equal(byName.rated.rate_limit, "5/s");
  for (const [method, path, status] of [
    ["GET", "/admin/targets/nope", 404],
    ["POST", "/admin/targets/nope/pause", 404],
    ["POST", "/admin/targets/nope/resume", 404],
    ["GET", "/admin/targets/hang/pause", 405],
    ["DELETE", "/admin/targets/hang", 405],
  ]) {
    const r = await admin(method, path);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  }
  assert.equal((await relay.call("POST", "/admin/targets/hang/pause", { token: "wrong" })).status, 401);
  // Only ops subscribes with relay.*; the others' default or store-bound patterns get none.
  for (const r of [hang, paused, rated, doomed, healthy]) assert.ok(r.requests.every((q) => !q.body.includes('"com.b2brelay.')), r.name);
  const kinds = new Set(opsEvents().map((e) => `${e.type.slice("com.b2brelay.target.".length)}:${e.data.target}`));
  for (const k of ["opened:hang", "recovered:hang", "paused:paused", "resumed:paused", "disabled:doomed", "resumed:doomed"]) assert.ok(kinds.has(k), `${k} in ${[...kinds]}`);
  // Each transition is told once (one id each), and every request was an operational event.
  const ids = ops.requests.map((r) => r.headers["webhook-id"]);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(opsEvents().every((e) => e.type.startsWith("com.b2brelay.target.") && e.specversion === "1.0"));
});
