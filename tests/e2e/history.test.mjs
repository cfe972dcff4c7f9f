// History in D1 (local D1 under wrangler dev, migrations applied by the harness): search,
// event detail, replay, recover after an outage, retention, stats; and the relay without the
// binding or without its schema. Needs `make build` first (relays run with build: false).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Receiver, Relay, callback, eventId, sleep, waitFor } from "./harness.mjs";

const ADMIN = "admin-token-hist-5e1d";
const TOKEN = "ingest-token-hist-a01c";
const DAY = 86_400_000;

/** Every answer a receiver gave, to compare with the relay's stats. */
function counting(name, answer) {
  const r = new Receiver(name, (req, all) => {
    const a = answer(req, all);
    r.answers.push(a.status ?? 200);
    return a;
  });
  r.answers = [];
  return r;
}
const sameId = (req, all) => all.filter((x) => x.headers["webhook-id"] === req.headers["webhook-id"]).length;

// Healthy; flaky (the first two attempts of each event fail); dead; one with an outage.
const erp = counting("erp", () => ({ status: 200 }));
const crm = counting("crm", (req, all) => (sameId(req, all) <= 2 ? { status: 500 } : { status: 200 }));
const chat = counting("chat", () => ({ status: 503 }));
let wmsDown = false;
const wms = counting("wms", () => (wmsDown ? { status: 500 } : { status: 204 }));

let relay;
const admin = (method, path, body) => relay.call(method, path, { token: ADMIN, body });
const t0 = Date.now();

/** Polls the event's detail until `ok(detail)` holds. */
async function detailUntil(id, ok, what) {
  let last;
  await waitFor(
    async () => {
      last = await admin("GET", `/admin/events/${id}`);
      return last.status === 200 && ok(last.json);
    },
    { timeoutMs: 30_000, what: `${what} (last: ${last?.text})` },
  );
  return last.json;
}
const at = (detail, target) => detail.targets.find((t) => t.target === target);
const finalAt = (target) => (d) => ["delivered", "dead_letter"].includes(at(d, target)?.state);

async function post(cb) {
  const res = await relay.post(cb);
  assert.equal(res.status, 200, res.text);
  return eventId(cb);
}

describe("with history", () => {
  const ids = {};

  before(async () => {
    for (const r of [erp, crm, chat, wms]) await r.start();
    relay = await new Relay(
      {
        INGEST_TOKENS: TOKEN,
        ADMIN_TOKEN: ADMIN,
        RETRY_SCHEDULE_SECONDS: "1",
        TARGETS: JSON.stringify([
          { name: "erp", url: erp.url, events: ["*"] },
          { name: "crm", url: crm.url, events: ["company.updated"] },
          { name: "chat", url: chat.url, events: ["quote.*"], max_attempts: 2 },
          { name: "wms", url: wms.url, events: ["company.user.*"], max_attempts: 1 },
        ]),
      },
      { build: false, args: ["--test-scheduled"] },
    ).start();
    ids.user = await post(callback("store/company/user/created", { company_id: 1234, user_id: 77 }));
    ids.company = await post(callback("store/company/updated", { company_id: 1234 }));
    ids.other = await post(callback("store/company/user/updated", { company_id: 12345, user_id: 8 }));
    ids.quote = await post(callback("store/quote/created", { quote_id: 1234, quote_uuid: "q1" }));
    await detailUntil(ids.company, (d) => finalAt("crm")(d) && finalAt("erp")(d), "the company update settled");
    await detailUntil(ids.quote, finalAt("chat"), "the quote dead-lettered at chat");
    await detailUntil(ids.user, (d) => finalAt("wms")(d) && finalAt("erp")(d), "the user event settled");
    await detailUntil(ids.other, finalAt("wms"), "the other company's event settled");
  });

  after(async () => {
    await relay?.stop();
    for (const r of [erp, crm, chat, wms]) await r.stop();
  });

  test("every history route needs the admin token", async () => {
    for (const [method, path] of [
      ["GET", "/admin/events"],
      ["GET", `/admin/events/${ids.user}`],
      ["POST", `/admin/events/${ids.user}/replay`],
      ["POST", "/admin/recover"],
      ["GET", "/admin/stats"],
    ]) {
      for (const token of [null, "wrong", TOKEN]) {
        const res = await relay.call(method, path, { token, body: method === "POST" ? {} : undefined });
        assert.equal(res.status, 401, `${method} ${path} with ${token}`);
      }
    }
  });

  test("/admin/health says history is on, with its schema and retention", async () => {
    const res = await admin("GET", "/admin/health");
    assert.equal(res.status, 200);
    assert.equal(res.json.history.status, "on", res.text);
    assert.equal(res.json.history.days, 7);
  });

  test("did the ERP get company 1234's update? search by subject finds the company's own and its user's events", async () => {
    const res = await admin("GET", "/admin/events?subject=companies/1234");
    assert.equal(res.status, 200, res.text);
    // Newest first; companies/12345/… and quotes/1234 are other subjects.
    assert.deepEqual(res.json.events.map((e) => e.id), [ids.company, ids.user]);
    assert.equal(res.json.next_cursor, null);
    const user = res.json.events[1];
    assert.equal(user.type, "com.bigcommerce.company.user.created");
    assert.equal(user.subject, "companies/1234/users/77");
    assert.deepEqual(user.targets, ["erp", "wms"]);
    assert.deepEqual(user.states, [
      { target: "erp", state: "delivered", attempts: 1 },
      { target: "wms", state: "delivered", attempts: 1 },
    ]);
    const erpGot = await admin("GET", "/admin/events?subject=companies/1234&type=company.updated&target=erp&status=delivered");
    assert.deepEqual(erpGot.json.events.map((e) => e.id), [ids.company]);
    const users = await admin("GET", "/admin/events?subject=companies/1234/users/77");
    assert.deepEqual(users.json.events.map((e) => e.id), [ids.user]);
    // Paging: one per page, then the cursor.
    const first = await admin("GET", "/admin/events?subject=companies/1234&limit=1");
    assert.deepEqual(first.json.events.map((e) => e.id), [ids.company]);
    const second = await admin("GET", `/admin/events?subject=companies/1234&limit=1&cursor=${first.json.next_cursor}`);
    assert.deepEqual(second.json.events.map((e) => e.id), [ids.user]);
    // A misspelt filter is an error, not a wider search.
    const bad = await admin("GET", "/admin/events?subjet=companies/1234");
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "invalid_query");
  });

  test("the detail of a flaky delivery shows its failed attempts, then delivered", async () => {
    const d = await detailUntil(ids.company, finalAt("crm"), "crm settled");
    assert.equal(d.event.id, ids.company);
    assert.equal(d.event.subject, "companies/1234");
    const c = at(d, "crm");
    assert.equal(c.state, "delivered");
    assert.deepEqual(
      c.attempts.map((a) => [a.attempt, a.outcome, a.status]),
      [
        [1, "retry", 500],
        [2, "retry", 500],
        [3, "delivered", 200],
      ],
    );
    assert.equal(c.attempts[0].error, "HTTP 500");
    assert.equal(c.attempts[0].next_retry_seconds, 1);
    assert.ok(c.latency_ms >= 2000, `three attempts a second apart: ${c.latency_ms} ms`);
    assert.equal(at(d, "erp").attempts.length, 1);
    // What the receiver saw, attempt for attempt.
    assert.deepEqual(crm.byId(ids.company).length, 3);
    // The dead target: its two attempts and the dead letter in the log.
    const q = await detailUntil(ids.quote, (x) => x.log.some((l) => l.kind === "dead_letter"), "the dead letter logged");
    assert.equal(at(q, "chat").state, "dead_letter");
    assert.deepEqual(at(q, "chat").attempts.map((a) => a.outcome), ["retry", "dead_letter"]);
    const dl = q.log.find((l) => l.kind === "dead_letter");
    assert.equal(dl.target, "chat");
    assert.equal(dl.detail.attempts, 2);
    assert.equal(dl.detail.last_status, 503);
  });

  test("a duplicate callback is counted on its event", async () => {
    const cb = callback("store/company/deleted", { company_id: 4321 });
    const id = await post(cb);
    const again = await relay.post(cb);
    assert.equal(again.json.status, "duplicate");
    const d = await detailUntil(id, (x) => x.duplicates === 1, "the duplicate counted");
    assert.ok(d.last_duplicate_at >= d.received_at);
    await detailUntil(id, finalAt("erp"), "delivered");
  });

  test("replay of a delivered event delivers it again with the same webhook-id", async () => {
    assert.equal(erp.byId(ids.user).length, 1);
    const res = await admin("POST", `/admin/events/${ids.user}/replay`, { targets: ["erp"] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "replayed", id: ids.user, targets: ["erp"] });
    await waitFor(() => erp.byId(ids.user).length === 2, { what: "the replayed delivery" });
    const [first, again] = erp.byId(ids.user);
    assert.equal(again.headers["webhook-id"], first.headers["webhook-id"]);
    assert.equal(JSON.parse(again.body).id, ids.user);
    // Only the target asked for.
    assert.equal(wms.byId(ids.user).length, 1);
    const d = await detailUntil(ids.user, (x) => at(x, "erp").attempts.length === 2, "the replay's attempt recorded");
    const runs = at(d, "erp").attempts.map((a) => [a.run, a.attempt, a.outcome]);
    assert.equal(runs[0][1], 1);
    assert.equal(runs[1][1], 1, "a replay counts its attempts from 1 again");
    assert.ok(runs[1][0] > runs[0][0], "in a later run");
    assert.equal(at(d, "erp").state, "delivered");
    assert.ok(d.log.some((l) => l.kind === "replay" && l.target === "erp"));
    // No body: every target it was routed to.
    const all = await admin("POST", `/admin/events/${ids.other}/replay`);
    assert.deepEqual(all.json.targets, ["erp", "wms"]);
    await waitFor(() => wms.byId(ids.other).length === 2 && erp.byId(ids.other).length === 2, { what: "replay to both" });
    // Refusals.
    const unknown = await admin("POST", `/admin/events/${ids.user}/replay`, { targets: ["nope"] });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error.code, "unknown_target");
    const missing = await admin("POST", `/admin/events/${"0".repeat(64)}/replay`, {});
    assert.equal(missing.status, 404);
  });

  test("recover after an outage re-sends exactly the events that did not reach the target", async () => {
    const since = Date.now();
    const before = await post(callback("store/company/user/created", { company_id: 555, user_id: 1 }));
    await detailUntil(before, finalAt("wms"), "delivered before the outage");
    wmsDown = true;
    const lost = [];
    for (let i = 0; i < 3; i++) lost.push(await post(callback("store/company/user/updated", { company_id: 555, user_id: 10 + i })));
    for (const id of lost) await detailUntil(id, (d) => at(d, "wms")?.state === "dead_letter", "dead-lettered in the outage");
    wmsDown = false;
    const seen = wms.requests.length;
    const res = await admin("POST", "/admin/recover", { target: "wms", since });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { target: "wms", requeued: 3, failed: 0, next_cursor: null });
    await waitFor(() => wms.requests.length >= seen + 3, { what: "three re-sent deliveries" });
    await sleep(1500);
    const resent = wms.requests.slice(seen).map((r) => r.headers["webhook-id"]);
    assert.deepEqual(resent.sort(), [...lost].sort(), "exactly the undelivered ones, once each");
    for (const id of lost) {
      const d = await detailUntil(id, (x) => at(x, "wms").state === "delivered", "recovered");
      assert.deepEqual(at(d, "wms").attempts.map((a) => a.outcome), ["dead_letter", "delivered"]);
      assert.ok(d.log.some((l) => l.kind === "recover" && l.target === "wms"));
    }
    // Nothing left to recover in the window.
    const again = await admin("POST", "/admin/recover", { target: "wms", since });
    assert.equal(again.json.requeued, 0);
    const bad = await admin("POST", "/admin/recover", { target: "wms" });
    assert.equal(bad.status, 400);
  });

  test("stats add up to the attempts the receivers saw", async () => {
    const want = (r) => ({
      attempts: r.answers.length,
      delivered: r.answers.filter((s) => s < 300).length,
    });
    let last;
    await waitFor(
      async () => {
        last = await admin("GET", `/admin/stats?since=${t0 - 60_000}&bucket=minute`);
        const got = Object.fromEntries(last.json.targets.map((t) => [t.target, t.totals]));
        return [erp, crm, chat, wms].every((r) => got[r.name]?.attempts === want(r).attempts);
      },
      { timeoutMs: 20_000, what: "every attempt in the stats" },
    );
    const got = Object.fromEntries(last.json.targets.map((t) => [t.target, t]));
    for (const r of [erp, crm, chat, wms]) {
      const t = got[r.name].totals;
      assert.equal(t.attempts, want(r).attempts, r.name);
      assert.equal(t.delivered, want(r).delivered, r.name);
      assert.equal(t.attempts, t.delivered + t.failed + t.dead_letters, r.name);
      // Buckets sum to the totals; durations and latencies are there for delivered ones.
      assert.equal(got[r.name].buckets.reduce((n, b) => n + b.attempts, 0), t.attempts);
    }
    // The relay's own log lines tell the same story.
    const logged = relay.attempts();
    for (const r of [erp, crm, chat, wms]) assert.equal(logged.filter((a) => a.target === r.name).length, r.answers.length, r.name);
    assert.equal(got.chat.totals.dead_letters, 1);
    assert.equal(got.crm.totals.failed, 2);
    assert.ok(got.erp.buckets.every((b) => b.latency_ms.p50 !== null && b.duration_ms.p95 !== null));
    const bad = await admin("GET", "/admin/stats?bucket=week");
    assert.equal(bad.status, 400);
  });

  test("the cron deletes history older than HISTORY_DAYS and keeps the rest", async () => {
    // Rows made old by hand (`wrangler d1 execute`, another process): eight days back.
    const old = Date.now() - 8 * DAY;
    const oldId = "0ld".padEnd(64, "0");
    await relay.d1(
      `INSERT INTO events (id, type, store, subject, received_at, targets, json) VALUES ('${oldId}', 'com.bigcommerce.company.created', 'abc123', 'companies/1', ${old}, '["erp"]', '{}');` +
        `INSERT INTO deliveries (event_id, target, state, run, attempts, received_at, updated_at) VALUES ('${oldId}', 'erp', 'delivered', ${old}, 1, ${old}, ${old});` +
        `INSERT INTO attempts (event_id, target, run, attempt, outcome, status, duration_ms, at) VALUES ('${oldId}', 'erp', ${old}, 1, 'delivered', 200, 5, ${old});` +
        `INSERT INTO log (kind, at, target, event_id) VALUES ('replay', ${old}, 'erp', '${oldId}');`,
    );
    assert.equal((await admin("GET", `/admin/events/${oldId}`)).status, 200);
    const before = relay.logLines("history retention").length;
    const run = await relay.scheduled("17 3 * * *");
    assert.equal(run.status, 200, run.text);
    const [line] = (await waitFor(() => relay.logLines("history retention").slice(before).length && relay.logLines("history retention").slice(before)));
    assert.equal(line.days, 7);
    assert.deepEqual(
      [line.deleted.events, line.deleted.deliveries, line.deleted.attempts, line.deleted.log],
      [1, 1, 1, 1],
      JSON.stringify(line),
    );
    assert.equal((await admin("GET", `/admin/events/${oldId}`)).status, 404);
    const [{ results }] = await relay.d1(`SELECT count(*) AS n FROM attempts WHERE event_id = '${oldId}'`);
    assert.equal(results[0].n, 0);
    // This run's events stay.
    assert.equal((await admin("GET", `/admin/events/${ids.user}`)).status, 200);
  });
});

describe("without history", () => {
  const r = new Receiver("plain");
  let off;
  let empty;

  before(async () => {
    await r.start();
    const env = { INGEST_TOKENS: TOKEN, ADMIN_TOKEN: ADMIN, TARGETS: JSON.stringify([{ name: "plain", url: r.url }]) };
    [off, empty] = await Promise.all([
      new Relay(env, { build: false, history: false }).start(),
      new Relay(env, { build: false, migrate: false }).start(),
    ]);
  });

  after(async () => {
    await off?.stop();
    await empty?.stop();
    await r.stop();
  });

  test("no HISTORY binding: the relay runs as before, history routes answer 409 not_configured", async () => {
    const health = await off.call("GET", "/admin/health", { token: ADMIN });
    assert.equal(health.json.history.status, "off");
    for (const [method, path] of [
      ["GET", "/admin/events"],
      ["GET", "/admin/events/x"],
      ["POST", "/admin/events/x/replay"],
      ["POST", "/admin/recover"],
      ["GET", "/admin/stats"],
    ]) {
      const res = await off.call(method, path, { token: ADMIN, body: method === "POST" ? {} : undefined });
      assert.equal(res.status, 409, `${method} ${path}`);
      assert.equal(res.json.error.code, "not_configured");
      assert.match(res.json.error.message, /HISTORY/);
    }
    const cb = callback("store/company/created", { company_id: 9 });
    assert.equal((await off.post(cb)).json.status, "accepted");
    await waitFor(() => r.byId(eventId(cb)).length === 1, { what: "delivery without history" });
  });

  test("a database without the schema: /admin/health says so, and every D1 failure leaves ingest and delivery alone", async () => {
    const health = await empty.call("GET", "/admin/health", { token: ADMIN });
    assert.equal(health.json.history.status, "schema_missing", health.text);
    assert.match(health.json.history.message, /apply migrations/);
    const cb = callback("store/company/created", { company_id: 10 });
    const res = await empty.post(cb);
    assert.equal(res.status, 200);
    assert.equal(res.json.status, "accepted");
    await waitFor(() => r.byId(eventId(cb)).length === 1, { what: "delivery while D1 fails" });
    await waitFor(() => empty.logs.includes("history not written"), { what: "the failed write logged" });
    const search = await empty.call("GET", "/admin/events", { token: ADMIN });
    assert.equal(search.status, 503);
    assert.equal(search.json.error.code, "storage_unavailable");
  });
});
