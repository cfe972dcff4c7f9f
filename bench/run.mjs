// `make bench` (after the builds of scripts/bench): the relay side by side with its floors.
// Prints one table and rewrites the generated part of BENCHMARKS.md.
//
// - CPU per event in the runtime: utime+stime of the workerd processes of each `wrangler dev`
//   (from /proc), read before and after a fixed number of callbacks and, with targets, after
//   every delivery has arrived. Ingest alone and fan-out to three receivers on 127.0.0.1.
// - Latency: ingest answers and ingest → target receipt at a steady rate (relay, 3 targets).
// - Cold start: each deploy bundle in Miniflare (workerd), time to ready and to a first answer.
// - Size: what `wrangler deploy --dry-run` would upload.
// - Core: the criterion benchmark benches/hot_path.rs.
// - Cost: Cloudflare operations per callback (KV, Queues, D1 rows, requests, CPU), counted by a
//   wrapper around the relay's bindings in Miniflare, for 1 and 3 targets; priced per million.
//
// Everything is bounded: fixed request counts, timeouts on every wait.
// Settings (environment): BENCH_N callbacks per CPU run (1000), BENCH_REPS runs (5),
// BENCH_RATE per second (20) for BENCH_SECONDS (60), BENCH_COLD_REPS (5), BENCH_ONLY
// (comma-separated subset of cpu,latency,cold,size,core,cost; a partial run does not touch
// BENCHMARKS.md), BENCH_QUEUE ("size,timeout": consumer settings for the relay's runs),
// BENCH_COST_N (callbacks per cost run, 300).
import { execFileSync, execSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Receiver, Relay, answer, callback, devProxyRetries, eventId, median, sleep, waitFor } from "../tests/e2e/harness.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const TMP = path.join(ROOT, "bench/.tmp");
const WRANGLER = path.join(ROOT, "node_modules/.bin/wrangler");
const N = Number(process.env.BENCH_N ?? 1000);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const COLD_REPS = Number(process.env.BENCH_COLD_REPS ?? 5);
const ONLY = new Set((process.env.BENCH_ONLY ?? "cpu,profile,latency,cold,size,core,cost").split(","));
const FULL =
  ["cpu", "profile", "latency", "cold", "size", "core", "cost"].every((k) => ONLY.has(k)) && !process.env.BENCH_WORKERS && !process.env.BENCH_CASES;
const COST_N = Number(process.env.BENCH_COST_N ?? 300);
const QUEUE = process.env.BENCH_QUEUE?.split(",").map(Number);
// For trying things out: only some workers and cases (a partial run never writes BENCHMARKS.md).
const ONLY_WORKERS = new Set((process.env.BENCH_WORKERS ?? "relay,io,io-log,io-log-lanes,bare").split(","));
const CASES = new Set((process.env.BENCH_CASES ?? "ingest,fanout").split(","));
// CPU runs also in Miniflare without wrangler dev (no inspector): BENCH_MINIFLARE=0 skips them.
const MINIFLARE = process.env.BENCH_MINIFLARE !== "0";
const CLK_TCK = Number(execSync("getconf CLK_TCK").toString().trim());
const SIGNING_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const WORKERS = {
  relay: { dir: ROOT, label: "relay" },
  io: { dir: path.join(ROOT, "bench/floors/io"), label: "I/O floor" },
  // The I/O floor plus as many console.log lines as the relay writes (one per ingest and one
  // per consumer batch): wrangler dev relays every line through its inspector, which costs the runtime.
  "io-log": { dir: path.join(ROOT, "bench/floors/io"), label: "I/O floor + log lines", env: { LOG_LINES: "1" } },
  bare: { dir: path.join(ROOT, "bench/floors/bare"), label: "bare floor" },
  // The same floor with the relay's queue layout: each target's message in its own queue (one
  // `sendBatch` per target at ingest, a consumer per queue), as lanes need.
  "io-log-lanes": {
    dir: path.join(ROOT, "bench/floors/io"),
    label: "I/O floor + log lines, lane queues",
    env: { LOG_LINES: "1", LANE_QUEUES: "1" },
  },
  // The relay with one part taken away, for the profile (`BENCH_ONLY=profile`, Miniflare only):
  // what each part costs is the relay's CPU minus the variant's.
  "relay-one-queue": { dir: ROOT, label: "relay, lane queues unbound (one queue)", base: "relay", variant: { lanes: false } },
  "relay-no-object": { dir: ROOT, label: "relay, TargetLane unbound (no lane state)", base: "relay", variant: { objects: false } },
  "relay-no-line": { dir: ROOT, label: "relay, LOG_DELIVERIES=failures (no batch line)", base: "relay", env: { LOG_DELIVERIES: "failures" } },
  "relay-no-history": { dir: ROOT, label: "relay, HISTORY unbound", base: "relay", variant: { history: false } },
  "io-log-lanes-no-history": {
    dir: path.join(ROOT, "bench/floors/io"),
    label: "I/O floor + log lines, lane queues, HISTORY unbound",
    env: { LOG_LINES: "1", LANE_QUEUES: "1" },
    variant: { history: false },
  },
};
/** The relay or one of its profile variants. */
const isRelay = (name) => (WORKERS[name].base ?? name) === "relay";
const BUILT = ["relay", "io", "bare"];

const log = (...a) => console.error("[bench]", ...a);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const f = (x, d = 2) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d));
const spread = (xs, d = 2) => (xs?.length ? `${f(median(xs), d)} (${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)})` : "–");

const D1_BLOCK = /^\[\[d1_databases\]\]\n(?:(?!\[).*\n)*/m;
/** Whether a worker's wrangler.toml binds a D1 database (history). */
const hasHistory = (name) => D1_BLOCK.test(fs.readFileSync(path.join(WORKERS[name].dir, "wrangler.toml"), "utf8"));
/** The worker's lane queues (the relay's LANE_n producers): `{ BINDING: "queue-name" }`. */
function laneQueues(name) {
  const text = fs.readFileSync(path.join(WORKERS[name].dir, "wrangler.toml"), "utf8");
  const out = {};
  for (const m of text.matchAll(/^\[\[queues\.producers\]\]\nbinding = "(LANE_\d+)"\nqueue = "([^"]+)"/gm)) out[m[1]] = m[2];
  return out;
}
/** The worker's Durable Object bindings (the relay's TargetLane): `{ NAME: "Class" }`. */
function durableObjects(name) {
  const text = fs.readFileSync(path.join(WORKERS[name].dir, "wrangler.toml"), "utf8");
  const out = {};
  for (const m of text.matchAll(/^\[\[durable_objects\.bindings\]\]\nname = "([^"]+)"\nclass_name = "([^"]+)"/gm)) out[m[1]] = m[2];
  return out;
}

/**
 * A copy of a worker's wrangler.toml without its [build] step (the builds ran before, and
 * wrangler dev would otherwise rebuild on every start), `main` and `migrations_dir` made
 * absolute, optionally other queue consumer settings, and `history: false` without its D1
 * binding (the relay as it runs without history).
 */
function config(name, { queue, history = true } = {}) {
  const { dir } = WORKERS[name];
  let text = fs.readFileSync(path.join(dir, "wrangler.toml"), "utf8");
  text = text.replace(/^main = "(.*)"$/m, (_, m) => `main = "${path.join(dir, m)}"`);
  text = text.replace(/^migrations_dir = "(.*)"$/m, (_, m) => `migrations_dir = "${path.resolve(dir, m)}"`);
  // The console's static files ([assets]): the directory is relative to the config's own.
  text = text.replace(/^directory = "(.*)"$/m, (_, m) => `directory = "${path.resolve(dir, m)}"`);
  text = text.replace(/^\[build\]\ncommand = .*\n/m, "");
  if (dir !== ROOT) {
    // The relay's [assets] (the console) with its `run_worker_first` routes: under wrangler
    // dev every request then passes the same asset router before the worker, for the floors too.
    const assets = /^\[assets\]\n(?:(?!\[).*\n)*/m.exec(fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"));
    if (assets) text += `\n${assets[0].replace(/^directory = "(.*)"$/m, (_, m) => `directory = "${path.resolve(ROOT, m)}"`)}`;
  }
  if (!history) text = text.replace(D1_BLOCK, "");
  if (queue) {
    // Only the first consumer (deliveries), not the dead-letter queue's.
    text = text.replace(/max_batch_size = \d+/, `max_batch_size = ${queue[0]}`);
    text = text.replace(/max_batch_timeout = \d+/, `max_batch_timeout = ${queue[1]}`);
  }
  fs.mkdirSync(TMP, { recursive: true });
  const file = path.join(TMP, `${name}${queue ? `-${queue.join("-")}` : ""}${history ? "" : "-nohistory"}.wrangler.toml`);
  fs.writeFileSync(file, text);
  return file;
}

/** The statements of migrations/*.sql, in order, for a Miniflare D1 (which has no migrations runner). */
function schemaStatements() {
  const dir = path.join(ROOT, "migrations");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), "utf8")
        .split("\n")
        .filter((l) => !l.trim().startsWith("--"))
        .join("\n")
        .split(/;\s*\n/)
        .map((s) => s.trim())
        .filter(Boolean),
    );
}

/** Applies the history schema to a Miniflare instance's D1 `HISTORY`. */
async function migrate(mf) {
  const db = await mf.getD1Database("HISTORY");
  for (const sql of schemaStatements()) await db.prepare(sql).run();
}

/** Every process below `root`, from /proc: pid → { ppid, comm, cpuMs }. */
function processes() {
  const all = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields 14 and 15 of stat (utime, stime), counted from `state` (field 3).
      const ticks = Number(rest[11]) + Number(rest[12]);
      all.set(Number(d), { ppid: Number(rest[1]), comm, cpuMs: (ticks * 1000) / CLK_TCK });
    } catch {}
  }
  return all;
}

/**
 * The workerd processes of one `wrangler dev`: `proxy` is wrangler's dev proxy (it owns the
 * public port; it does not exist in production), `runtime` runs the worker itself.
 */
function workerdOf(relay) {
  const all = processes();
  const mine = new Set([relay.proc.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of all) if (!mine.has(pid) && mine.has(p.ppid)) (mine.add(pid), (grew = true));
  }
  const out = { runtime: [], proxy: [] };
  for (const pid of mine) {
    if (all.get(pid)?.comm !== "workerd") continue;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    (cmd.includes(`entry=127.0.0.1:${relay.port}`) ? out.proxy : out.runtime).push(pid);
  }
  return out;
}

function cpuMs(pids) {
  const all = processes();
  return pids.reduce((sum, pid) => sum + (all.get(pid)?.cpuMs ?? NaN), 0);
}

/** Runs `count` tasks, `concurrency` at a time. */
async function pool(count, concurrency, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const TOKEN = "bench-token";

/** The vars and secrets of worker `name` with `receivers` as its targets (0 or more). */
function workerEnv(name, receivers) {
  const urls = receivers.map((r) => r.url);
  const env = { INGEST_TOKENS: TOKEN };
  if (isRelay(name)) {
    if (urls.length) {
      env.TARGETS = JSON.stringify(urls.map((url, i) => ({ name: `t${i}`, url, signing_secret: "KEY" })));
      env.KEY = SIGNING_KEY;
    }
    Object.assign(env, WORKERS[name].env);
  } else {
    env.TARGET_URLS = urls.join(",");
    Object.assign(env, WORKERS[name].env, PAD);
  }
  return env;
}

/** Starts `name` in wrangler dev with `receivers` as its targets (0 or more). */
async function start(name, receivers, opts = {}) {
  return new Relay(workerEnv(name, receivers), { args: ["--config", config(name, opts)] }).start();
}

/**
 * Miniflare options for an upload bundle (`dryRun`'s outdir): its modules, KV, queue producer,
 * and D1 `HISTORY` when the worker has it. `script`: another entry module in the outdir.
 */
function bundleOptions(outdir, queue, bindings, { history = false, script = "index.js", objects = {}, lanes = {} } = {}) {
  return {
    modules: true,
    scriptPath: path.join(outdir, script),
    // The bundle's index.js is an ES module (when the counting entry imports it, too).
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2026-04-01",
    kvNamespaces: ["DEDUP", "DEAD_LETTERS"],
    queueProducers: {
      DELIVERIES: { queueName: queue },
      ...Object.fromEntries(Object.entries(lanes).map(([b, q]) => [b, { queueName: q }])),
    },
    ...(history ? { d1Databases: ["HISTORY"] } : {}),
    // The relay's lane queues and their Durable Object, as wrangler.toml binds them: a lane's
    // consumer batch holds one target, so the lane is asked once per batch, not once per
    // target in a mixed batch.
    ...(Object.keys(objects).length ? { durableObjects: objects } : {}),
    bindings,
  };
}

/** Direct children of this process that are `workerd` (the Miniflare instances it started). */
function myWorkerd() {
  const mine = [];
  for (const [pid, p] of processes()) if (p.ppid === process.pid && p.comm === "workerd") mine.push(pid);
  return mine;
}

/**
 * A worker's upload bundle (`wrangler deploy --dry-run` output) in Miniflare, without wrangler
 * dev: no dev proxy and, above all, no DevTools inspector attached. Under wrangler dev every
 * `console.log` is also turned into an inspector message for the terminal, which costs the
 * runtime more than most of a worker's own work and does not happen in production; here the
 * lines go to workerd's stdout, which the bench reads and drops. Same bindings and queue
 * consumer settings as in the worker's wrangler.toml, KV and queues in memory.
 */
class MiniflareSubject {
  /** `counting`: through the wrapper that counts the relay's binding calls (`costCase`). */
  constructor(name, env, { counting = false } = {}) {
    this.name = name;
    this.env = env;
    this.counting = counting;
    this.logs = "";
  }
  async start() {
    const { Miniflare } = await import(path.join(ROOT, "node_modules/miniflare/dist/src/index.js"));
    const relay = isRelay(this.name);
    const queue = relay ? "b2b-relay-deliveries" : "floor-io-deliveries";
    const [batch, timeout] = relay && QUEUE ? QUEUE : [6, 1];
    const before = new Set(myWorkerd());
    const variant = WORKERS[this.name].variant ?? {};
    const history = variant.history !== false && hasHistory(this.name);
    const lanes = variant.lanes === false ? {} : laneQueues(this.name);
    const objects = variant.objects === false ? {} : durableObjects(this.name);
    const upload = UPLOAD[relay ? "relay" : this.name];
    const outdir = this.counting ? countingBundle(upload) : upload;
    this.mf = new Miniflare({
      ...bundleOptions(outdir, queue, this.env, {
        history,
        script: this.counting ? COUNTING_SCRIPT : "index.js",
        objects,
        lanes,
      }),
      queueConsumers: Object.fromEntries(
        [queue, ...Object.values(lanes)].map((q) => [q, { maxBatchSize: batch, maxBatchTimeout: timeout, maxRetries: 5 }]),
      ),
      handleRuntimeStdio: (stdout, stderr) => {
        // Kept short: only the tail explains an odd answer.
        const keep = (d) => (this.logs = (this.logs + d).slice(-8000));
        stdout.on("data", keep);
        stderr.on("data", keep);
      },
    });
    this.url = (await this.mf.ready).href.replace(/\/$/, "");
    this.history = history;
    if (history) await migrate(this.mf);
    this.pids = myWorkerd().filter((pid) => !before.has(pid));
    if (this.pids.length !== 1) throw new Error(`${this.name} in Miniflare: ${this.pids.length} new workerd processes`);
    return this;
  }
  async post(body) {
    return answer(
      await fetch(`${this.url}/webhooks/bigcommerce`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
  }
  /** Rows in the history tables, so a floor whose D1 writes failed unseen shows it. */
  async historyRows() {
    if (!this.history) return undefined;
    const db = await this.mf.getD1Database("HISTORY");
    const count = async (sql) => (await db.prepare(sql).first()).n;
    return {
      events: await count("SELECT count(*) AS n FROM events"),
      delivered: await count("SELECT count(*) AS n FROM deliveries WHERE state = 'delivered'"),
      attempts: await count("SELECT count(*) AS n FROM attempts"),
    };
  }
  async stop() {
    await this.mf?.dispose();
  }
}

/** Upload bundles by worker (`dryRun`), for the Miniflare subjects and cold starts. */
const UPLOAD = {};

/** POSTs one fresh callback; throws unless the worker accepted it. */
async function post(relay, cb) {
  const res = await relay.post(cb);
  if (res.status !== 200 || (res.json && res.json.status !== "accepted")) {
    // What the worker and wrangler said last explains an odd answer (a restart, a panic).
    throw new Error(`unexpected answer ${res.status} ${res.text}\n--- the worker's output (tail):\n${relay.logs.slice(-4000)}`);
  }
  return res;
}

/** Sizes of the floors' POST bodies and queue messages: the relay's, measured (see below). */
let PAD = {};

/**
 * What the relay moves per delivery for the benchmark's callback: the POST body (its
 * CloudEvent) as a receiver gets it, and the queue message, which is exactly
 * `{"deliver":{"target","attempt","received_at_ms","event"}}` (core::delivery).
 */
async function relaySizes() {
  const r = await new Receiver("r0").start();
  const relay = await start("relay", [r]);
  try {
    await post(relay, callback(SCOPE, DATA));
    await waitFor(() => r.requests.length >= 1, { timeoutMs: 60_000, what: "one delivery" });
    const body = r.requests[0].body;
    const message = JSON.stringify({ deliver: { target: "t0", attempt: 1, received_at_ms: Date.now(), event: JSON.parse(body) } });
    return { BODY_BYTES: String(Buffer.byteLength(body)), MESSAGE_BYTES: String(Buffer.byteLength(message)) };
  } finally {
    await relay.stop();
    await r.stop();
  }
}

const SCOPE = "store/company/user/created";
const DATA = { company_id: 123456, user_id: 321 };

/**
 * CPU per event of several workers for one case (`targetCount` receivers each). All of them
 * run at once (idle ones cost nothing) and their runs alternate, the order rotating each round,
 * so load that other users put on the machine meanwhile hits every worker alike.
 */
async function cpuCase(names, targetCount, { wranglerDev = true } = {}) {
  const subjects = [];
  try {
    for (const name of wranglerDev ? names : []) {
      const receivers = await Promise.all(Array.from({ length: targetCount }, (_, i) => new Receiver(`r${i}`).start()));
      const relay = await start(name, receivers, name === "relay" && QUEUE ? { queue: QUEUE } : {});
      const procs = workerdOf(relay);
      if (!procs.runtime.length || !procs.proxy.length) throw new Error(`workerd processes not found: ${JSON.stringify(procs)}`);
      subjects.push({ name, key: name, receivers, relay, procs, sent: 0, runs: [] });
    }
    if (MINIFLARE || !wranglerDev) {
      for (const name of names) {
        const receivers = await Promise.all(Array.from({ length: targetCount }, (_, i) => new Receiver(`m${i}`).start()));
        const relay = await new MiniflareSubject(name, workerEnv(name, receivers)).start();
        // No dev proxy: `proxy` is empty, so "all" equals "runtime".
        subjects.push({ name, key: `${name}@mf`, receivers, relay, procs: { runtime: relay.pids, proxy: [] }, sent: 0, runs: [] });
      }
    }
    const burst = async (x, count) => {
      await pool(count, 8, () => post(x.relay, callback(SCOPE, DATA)));
      x.sent += count;
      if (targetCount) {
        await waitFor(() => x.receivers.every((r) => r.requests.length >= x.sent), {
          timeoutMs: 180_000,
          intervalMs: 20,
          what: `${x.sent} deliveries to each of ${targetCount} targets`,
        });
      }
    };
    for (const x of subjects) await burst(x, 500); // warm-up: JIT and wasm tier-up, KV and queue state
    await sleep(1500);
    const idle0 = subjects.map((x) => [cpuMs(x.procs.runtime), cpuMs(x.procs.proxy)]);
    await sleep(2000);
    subjects.forEach((x, i) => {
      x.idle = [(cpuMs(x.procs.runtime) - idle0[i][0]) / 2, (cpuMs(x.procs.proxy) - idle0[i][1]) / 2];
    });
    for (let rep = 0; rep < REPS; rep++) {
      for (let k = 0; k < subjects.length; k++) {
        const x = subjects[(rep + k) % subjects.length];
        const before = [cpuMs(x.procs.runtime), cpuMs(x.procs.proxy)];
        const t0 = performance.now();
        await burst(x, N);
        const wall = performance.now() - t0;
        const after = [cpuMs(x.procs.runtime), cpuMs(x.procs.proxy)];
        const runtime = (after[0] - before[0]) / N;
        const proxy = (after[1] - before[1]) / N;
        x.runs.push({ runtime, all: runtime + proxy, perSecond: (N * 1000) / wall });
        log(`${x.key} targets=${targetCount} run ${rep + 1}: runtime ${f(runtime, 3)} ms/event, all workerd ${f(runtime + proxy, 3)}, ${f((N * 1000) / wall, 0)} callbacks/s`);
        await sleep(1000);
      }
    }
    for (const x of subjects) if (x.relay.historyRows) x.historyRows = await x.relay.historyRows();
    return Object.fromEntries(
      subjects.map((x) => [
        x.key,
        {
          runs: x.runs,
          historyRows: x.historyRows,
          idleMsPerSecond: x.idle,
          // Queues deliver at least once: a redelivered message is counted, not hidden.
          redelivered: x.receivers.reduce((n, r) => n + r.requests.length, 0) - x.sent * targetCount,
        },
      ]),
    );
  } finally {
    for (const x of subjects) {
      await x.relay.stop();
      for (const r of x.receivers) await r.stop();
    }
  }
}

async function latency(queue, { history = true } = {}) {
  const receivers = await Promise.all([0, 1, 2].map((i) => new Receiver(`r${i}`).start()));
  const relay = await start("relay", receivers, { queue, history });
  try {
    // Warm-up so the first measured events do not pay for the isolate's start.
    for (let i = 0; i < 20; i++) await post(relay, callback(SCOPE, DATA));
    await waitFor(() => receivers.every((r) => r.requests.length >= 20), { timeoutMs: 60_000, what: "warm-up deliveries" });
    for (const r of receivers) r.requests.length = 0;
    const sentAt = new Map();
    const answers = [];
    const total = RATE * SECONDS;
    const start = Date.now();
    const inflight = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const cb = callback(SCOPE, DATA);
      inflight.push(
        (async () => {
          const t0 = performance.now();
          sentAt.set(eventId(cb), performance.timeOrigin + t0);
          await post(relay, cb);
          answers.push(performance.now() - t0);
        })(),
      );
    }
    await Promise.all(inflight);
    await waitFor(() => receivers.every((r) => r.requests.length >= total), {
      timeoutMs: 120_000,
      intervalMs: 50,
      what: "every delivery of the latency run",
    });
    const deliveries = receivers.flatMap((r) => r.requests.map((q) => q.at - sentAt.get(q.headers["webhook-id"])));
    return {
      queue: queue ?? [6, 1],
      history,
      answer: { p50: pct(answers, 50), p99: pct(answers, 99) },
      delivery: { p50: pct(deliveries, 50), p99: pct(deliveries, 99), max: Math.max(...deliveries) },
      count: deliveries.length,
    };
  } finally {
    await relay.stop();
    for (const r of receivers) await r.stop();
  }
}

/**
 * The entry module of the cost runs: the relay's own default export, with every binding it
 * uses wrapped to count calls (KV reads, writes, lists, deletes; queue messages; D1 batches and
 * the rows D1 says each read and wrote, `meta.rows_read` / `rows_written`, and the database size
 * after, `meta.size_after`), plus requests and consumer invocations. `GET /__counts` answers
 * the totals. Only the bench uses it; the relay is unchanged.
 */
const COUNTING_SCRIPT = "counting.mjs";
const COUNTING = `import Relay from "./index.js";
import { WorkerEntrypoint } from "cloudflare:workers";
export { TargetLane } from "./index.js";
const c = { requests: 0, consumerInvocations: 0, messagesConsumed: 0, kvReads: 0, kvWrites: 0, kvLists: 0, kvDeletes: 0,
  queueSends: 0, queueMessages: 0, d1Batches: 0, d1Statements: 0, d1RowsRead: 0, d1RowsWritten: 0, d1SizeAfter: 0,
  doRequests: 0 };
const kv = (ns) => ({
  get: (...a) => (c.kvReads++, ns.get(...a)),
  getWithMetadata: (...a) => (c.kvReads++, ns.getWithMetadata(...a)),
  put: (...a) => (c.kvWrites++, ns.put(...a)),
  list: (...a) => (c.kvLists++, ns.list(...a)),
  delete: (...a) => (c.kvDeletes++, ns.delete(...a)),
});
const queue = (q) => ({
  send: (b, o) => (c.queueSends++, c.queueMessages++, q.send(b, o)),
  sendBatch: (ms, o) => (c.queueSends++, (c.queueMessages += ms.length), q.sendBatch(ms, o)),
});
const d1 = (db) => ({
  prepare: (sql) => db.prepare(sql),
  batch: async (stmts) => {
    c.d1Batches++;
    c.d1Statements += stmts.length;
    const rs = await db.batch(stmts);
    for (const r of rs) {
      c.d1RowsRead += r.meta?.rows_read ?? 0;
      c.d1RowsWritten += r.meta?.rows_written ?? 0;
      c.d1SizeAfter = Math.max(c.d1SizeAfter, r.meta?.size_after ?? 0);
    }
    return rs;
  },
});
const objects = (ns) => ({
  idFromName: (n) => ns.idFromName(n),
  get: (id) => {
    const stub = ns.get(id);
    return { fetch: (...a) => (c.doRequests++, stub.fetch(...a)) };
  },
});
const wrap = (env) => {
  const w = { DEDUP: kv(env.DEDUP), DEAD_LETTERS: kv(env.DEAD_LETTERS), DELIVERIES: queue(env.DELIVERIES) };
  if (env.HISTORY) w.HISTORY = d1(env.HISTORY);
  if (env.TARGET_LANES) w.TARGET_LANES = objects(env.TARGET_LANES);
  // The lane queues by name: the bindings object does not list its keys.
  for (let i = 1; i <= 7; i++) if (env["LANE_" + i]) w["LANE_" + i] = queue(env["LANE_" + i]);
  return new Proxy(env, { get: (t, k) => (k in w ? w[k] : t[k]) });
};
export default class extends WorkerEntrypoint {
  fetch(req) {
    if (new URL(req.url).pathname === "/__counts") return Response.json(c);
    c.requests++;
    return new Relay(this.ctx, wrap(this.env)).fetch(req);
  }
  queue(batch) {
    c.consumerInvocations++;
    c.messagesConsumed += batch.messages.length;
    return new Relay(this.ctx, wrap(this.env)).queue(batch);
  }
}
`;

/** A copy of an upload bundle with the counting entry module beside it. */
function countingBundle(outdir) {
  const dir = `${outdir}-counting`;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(outdir, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, COUNTING_SCRIPT), COUNTING);
  return dir;
}

/**
 * Operations per callback: `COST_N` distinct callbacks (8 in flight) to the relay in Miniflare
 * with `targetCount` healthy targets, counted by the wrapper, after a warm-up; CPU from /proc
 * as in the CPU runs (the wrapper's few JS calls included).
 */
async function costCase(targetCount) {
  const receivers = await Promise.all(Array.from({ length: targetCount }, (_, i) => new Receiver(`c${i}`).start()));
  const subject = await new MiniflareSubject("relay", workerEnv("relay", receivers), { counting: true }).start();
  const counts = async () => (await fetch(`${subject.url}/__counts`)).json();
  const run = async (n, sent) => {
    await pool(n, 8, () => post(subject, callback(SCOPE, DATA)));
    await waitFor(() => receivers.every((r) => r.requests.length >= sent + n), { timeoutMs: 180_000, intervalMs: 20, what: `cost run deliveries` });
    // The consumer's D1 batch follows its last delivery; the ingest writes follow the answers.
    await sleep(2000);
  };
  try {
    await run(50, 0);
    const before = await counts();
    const cpu0 = cpuMs(subject.pids);
    await run(COST_N, 50);
    const cpu = (cpuMs(subject.pids) - cpu0) / COST_N;
    const after = await counts();
    const per = {};
    for (const k of Object.keys(after)) per[k] = k === "d1SizeAfter" ? (after[k] - before[k]) / COST_N : (after[k] - before[k]) / COST_N;
    per.cpuMs = cpu;
    per.redelivered = receivers.reduce((n, r) => n + r.requests.length, 0) - (COST_N + 50) * targetCount;
    return per;
  } finally {
    await subject.stop();
    for (const r of receivers) await r.stop();
  }
}

/**
 * Cloudflare's published prices (Workers paid plan, 2025; check the pricing pages) applied to
 * a million callbacks a month; `per`: the operations of one callback (costCase).
 */
const PRICES = {
  base: 5, // Workers paid plan, per month: includes what follows
  requests: { included: 10e6, perMillion: 0.3 },
  cpuMs: { included: 30e6, perMillion: 0.02 },
  kvReads: { included: 10e6, perMillion: 0.5 },
  kvWrites: { included: 1e6, perMillion: 5 },
  queueOps: { included: 1e6, perMillion: 0.4 },
  d1RowsRead: { included: 25e9, perMillion: 0.001 },
  d1RowsWritten: { included: 50e6, perMillion: 1 },
  d1GBMonth: { included: 5, perGB: 0.75 },
  doRequests: { included: 1e6, perMillion: 0.15 },
};
const over = (used, { included, perMillion }) => (Math.max(0, used - included) / 1e6) * perMillion;
function monthly(per, callbacks = 1e6, days = 7) {
  const requests = (per.requests + per.consumerInvocations) * callbacks;
  // Each message is written, read and deleted: three operations (each up to 64 KB).
  const queueOps = per.queueMessages * 3 * callbacks;
  // Rows live `days` days: about days/30 of a month's callbacks are stored at any time.
  const storedGB = (per.d1SizeAfter * callbacks * Math.min(days, 30)) / 30 / 2 ** 30;
  const items = {
    requests: over(requests, PRICES.requests),
    cpu: over(per.cpuMs * callbacks, PRICES.cpuMs),
    kv: over((per.kvReads + per.kvLists) * callbacks, PRICES.kvReads) + over((per.kvWrites + per.kvDeletes) * callbacks, PRICES.kvWrites),
    queues: over(queueOps, PRICES.queueOps),
    d1: over(per.d1RowsRead * callbacks, PRICES.d1RowsRead) + over(per.d1RowsWritten * callbacks, PRICES.d1RowsWritten) + Math.max(0, storedGB - PRICES.d1GBMonth.included) * PRICES.d1GBMonth.perGB,
    durableObjects: over(per.doRequests * callbacks, PRICES.doRequests),
  };
  return { items, storedGB, total: PRICES.base + Object.values(items).reduce((a, b) => a + b, 0) };
}

function costTable(C) {
  const one = C[1];
  const three = C[3];
  const rows = [
    "| per callback (Miniflare, counted) | 1 target | 3 targets |",
    "|---|---|---|",
  ];
  const r = (label, f, d = 2) => rows.push(`| ${label} | ${f(one).toFixed(d)} | ${f(three).toFixed(d)} |`);
  r("Workers requests: the callback + queue consumer invocations (batches of up to 6)", (x) => x.requests + x.consumerInvocations);
  r("CPU ms (ingest and its deliveries)", (x) => x.cpuMs);
  r("KV reads (dedup look-up)", (x) => x.kvReads + x.kvLists, 0);
  r("KV writes (dedup mark)", (x) => x.kvWrites + x.kvDeletes, 0);
  r("Queues messages (×3 operations: write, read, delete)", (x) => x.queueMessages, 0);
  r("D1 batches (one per ingest, one per consumer batch)", (x) => x.d1Batches);
  r("D1 rows written (index entries included, as D1 counts them)", (x) => x.d1RowsWritten, 1);
  r("D1 rows read", (x) => x.d1RowsRead, 1);
  r("D1 bytes stored", (x) => x.d1SizeAfter, 0);
  r("Durable Object requests (TargetLane: admit and record; a clear lane about once a second per isolate)", (x) => x.doRequests);
  const m1 = monthly(one);
  const m3 = monthly(three);
  rows.push("", "| one million callbacks a month | 1 target | 3 targets |", "|---|---|---|");
  const money = (x) => `$${x.toFixed(2)}`;
  rows.push(`| Workers paid plan (base) | ${money(PRICES.base)} | ${money(PRICES.base)} |`);
  for (const [k, label] of [
    ["requests", "Workers requests beyond 10 M"],
    ["cpu", "Workers CPU beyond 30 M ms"],
    ["kv", "KV beyond 10 M reads, 1 M writes"],
    ["queues", "Queues beyond 1 M operations"],
    ["d1", "D1 rows and storage beyond 25 B read, 50 M written, 5 GB"],
    ["durableObjects", "Durable Objects beyond 1 M requests"],
  ]) {
    rows.push(`| ${label} | ${money(m1.items[k])} | ${money(m3.items[k])} |`);
  }
  rows.push(`| D1 storage held (HISTORY_DAYS = 7) | ${m1.storedGB.toFixed(2)} GB | ${m3.storedGB.toFixed(2)} GB |`);
  rows.push(`| **total, Cloudflare** | **${money(m1.total)}** | **${money(m3.total)}** |`);
  return rows.join("\n");
}

/** `wrangler deploy --dry-run` of a built worker: upload size and the bundle it would upload. */
function dryRun(name) {
  const outdir = path.join(TMP, `upload-${name}`);
  fs.rmSync(outdir, { recursive: true, force: true });
  const r = spawnSync(WRANGLER, ["deploy", "--dry-run", "--outdir", outdir, "--config", config(name)], {
    cwd: WORKERS[name].dir,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`no upload size from wrangler for ${name}:\n${r.stdout}${r.stderr}`);
  const wasm = fs.readdirSync(outdir).find((x) => x.endsWith(".wasm"));
  return { totalKiB: Number(m[1]), gzipKiB: Number(m[2]), wasmBytes: fs.statSync(path.join(outdir, wasm)).size, outdir };
}

/** One cold start of an upload bundle in Miniflare (a new workerd): ms to ready, to a first answer. */
async function coldStart(name, outdir) {
  const { Miniflare } = await import(path.join(ROOT, "node_modules/miniflare/dist/src/index.js"));
  const body = JSON.stringify(callback(SCOPE, DATA));
  const t0 = performance.now();
    const mf = new Miniflare({
      // D1 bound but without its schema: history is written after the answer, which is what
      // this measures, and a failed write only logs.
      ...bundleOptions(outdir, "bench-deliveries", { INGEST_TOKENS: TOKEN, TARGET_URLS: "" }, {
        history: hasHistory(name),
        objects: durableObjects(name),
      }),
      // The workers' own log lines are not part of the table.
      handleRuntimeStdio: (stdout, stderr) => (stdout.resume(), stderr.resume()),
    });
    try {
      await mf.ready;
      const ready = performance.now() - t0;
      const res = await mf.dispatchFetch("http://relay.test/webhooks/bigcommerce", {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body,
      });
      await res.text();
      if (res.status !== 200) throw new Error(`${name}: first answer ${res.status}`);
      return { ready, first: performance.now() - t0 };
    } finally {
      await mf.dispose();
    }
}

/** criterion's estimates (µs) and the bench's allocation report. */
function core() {
  const r = spawnSync("cargo", ["bench", "--bench", "hot_path"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 900_000,
    env: { ...process.env, PATH: `${os.homedir()}/.cargo/bin:${process.env.PATH}` },
  });
  const out = r.stdout + r.stderr;
  if (r.status !== 0) throw new Error(`cargo bench failed:\n${out}`);
  const toUs = (v, unit) => Number(v) * { ps: 1e-6, ns: 1e-3, µs: 1, us: 1, ms: 1e3, s: 1e6 }[unit];
  const times = {};
  for (const m of out.matchAll(/^(\S+)\s*\n?\s+time:\s+\[([\d.]+) (\S+) ([\d.]+) (\S+) ([\d.]+) (\S+)\]/gm)) {
    times[m[1]] = { low: toUs(m[2], m[3]), mid: toUs(m[4], m[5]), high: toUs(m[6], m[7]) };
  }
  const allocs = {};
  for (const m of out.matchAll(/^\s+(\S.*?)\s+(\d+) allocs\s+(\d+) bytes$/gm)) allocs[m[1].trim()] = { n: Number(m[2]), bytes: Number(m[3]) };
  return { times, allocs };
}

function machine() {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  const v = (cmd) => {
    try {
      return execSync(cmd, { cwd: ROOT, encoding: "utf8" }).trim().split("\n")[0];
    } catch {
      return "?";
    }
  };
  return {
    nproc: os.availableParallelism(),
    cpu,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    wrangler: v(`${WRANGLER} --version`),
    workerd: JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/workerd/package.json"), "utf8")).version,
    rustc: v("rustc --version"),
    load: os.loadavg().map((x) => x.toFixed(2)).join(" "),
    commit: v("git rev-parse --short HEAD") + (v("git status --porcelain") === "" ? "" : " (with uncommitted changes)"),
  };
}

function table(R) {
  const rows = [];
  const cols = ["relay", "io", "io-log", "io-log-lanes", "bare"];
  const pad = (xs, n, x) => [...xs, ...Array(Math.max(0, n - xs.length)).fill(x)];
  const row = (metric, cells, ratios = []) => rows.push(`| ${metric} | ${pad(cells, cols.length, "–").join(" | ")} | ${pad(ratios, 3, "").join(" | ")} |`);
  rows.push(
    "| metric | relay | I/O floor | I/O floor + log lines | I/O floor + log lines, lane queues | bare floor | relay / I/O floor | relay / (I/O floor + log lines) | relay / (the same, lane queues) |",
    "|---|---|---|---|---|---|---|---|---|",
  );
  const ratio = (a, b) => {
    if (!a || !b) return "–";
    // Run i of the relay against run i of the floor: the spread of the ratio.
    const each = a.map((x, i) => x / b[i]);
    return `**${f(median(a) / median(b), 2)}** (${f(Math.min(...each), 2)}–${f(Math.max(...each), 2)})`;
  };
  if (R.cpu) {
    for (const [key, label] of [
      ["ingest", "ingest alone"],
      ["fanout", "fan-out to 3 targets"],
    ]) {
      for (const [field, what, suffix] of [
        ["runtime", "Miniflare, no inspector (closest to production)", "@mf"],
        ["runtime", "wrangler dev, worker runtime", ""],
        ["all", "wrangler dev, all workerd (incl. its dev proxy)", ""],
      ]) {
        const get = (w) => R.cpu[w + suffix]?.[key]?.runs.map((r) => r[field]);
        if (!get("relay")) continue;
        row(
          `CPU ms/event, ${label}, ${what}: median (min–max) of ${REPS} runs × ${N}`,
          cols.map((w) => spread(get(w), 3)),
          [ratio(get("relay"), get("io")), ratio(get("relay"), get("io-log")), ratio(get("relay"), get("io-log-lanes"))],
        );
      }
    }
  }
  if (R.latency) {
    const L = R.latency;
    row(`ingest answer p50 / p99 ms (${RATE}/s for ${SECONDS} s, 3 targets, queue batch ${L.queue[0]}, timeout ${L.queue[1]} s)`, [`${f(L.answer.p50, 1)} / ${f(L.answer.p99, 1)}`, "–", "–", "–"]);
    row(`ingest → target receipt p50 / p99 ms (${L.count} deliveries)`, [`${f(L.delivery.p50, 0)} / ${f(L.delivery.p99, 0)}`, "–", "–", "–"]);
  }
  if (R.latencyNoHistory) {
    const L = R.latencyNoHistory;
    row(
      "ingest answer p50 / p99 ms, the same relay without the HISTORY binding (run right after)",
      [`${f(L.answer.p50, 1)} / ${f(L.answer.p99, 1)}`, "–", "–", "–"],
      [R.latency ? `history / none, p50: **${f(R.latency.answer.p50 / L.answer.p50, 2)}**` : "", ""],
    );
    row(`ingest → target receipt p50 / p99 ms without history (${L.count} deliveries)`, [`${f(L.delivery.p50, 0)} / ${f(L.delivery.p99, 0)}`, "–", "–", "–"]);
  }
  if (R.cold) {
    const c = (k) => cols.map((w) => (R.cold[w] ? spread(R.cold[w].map((r) => r[k]), 0) : "–"));
    row(`cold start: Miniflare (workerd) ready, ms, median (min–max) of ${COLD_REPS}`, c("ready"));
    row("cold start: first answer to a callback, ms after start", c("first"));
  }
  if (R.size) {
    row("upload, gzip (`wrangler deploy --dry-run`)", cols.map((w) => (R.size[w] ? `${f(R.size[w].gzipKiB, 2)} KiB` : "–")));
    row("upload, uncompressed (wasm bytes)", cols.map((w) => (R.size[w] ? `${f(R.size[w].totalKiB, 2)} KiB (${R.size[w].wasmBytes} B)` : "–")));
  }
  if (R.core) {
    const t = R.core.times["hot_path/one_event_five_targets"];
    const a = R.core.allocs["hot path (one event)"];
    row("core hot path µs/event (criterion, host; parse → sign 5 bodies)", [t ? `${f(t.mid, 2)} (${f(t.low, 2)}–${f(t.high, 2)})` : "?", "–", "–", "–"]);
    row("core hot path heap allocations/event", [a ? `${a.n} (${a.bytes} B)` : "?", "–", "–", "–"]);
  }
  return rows.join("\n");
}

/**
 * Where the relay's fan-out CPU goes (`R.profile`, Miniflare): each variant lacks one part, so
 * the relay's CPU minus the variant's is that part's cost (paired by round: run i against run i).
 */
function profileTable(R) {
  const runs = (n) => R.profile[`${n}@mf`]?.runs.map((r) => r.runtime);
  const relay = runs("relay");
  if (!relay) return "";
  const paired = (xs) => median(relay.map((x, i) => x - xs[i]));
  const out = [
    "| worker (Miniflare, fan-out to 3 targets) | CPU ms/event, median (min–max) | relay minus it, ms/event (median of paired runs) |",
    "|---|---|---|",
  ];
  for (const n of Object.keys(R.profile).map((k) => k.replace(/@mf$/, ""))) {
    const xs = runs(n);
    if (!xs) continue;
    out.push(`| ${WORKERS[n].label} | ${spread(xs, 3)} | ${n === "relay" ? "–" : f(paired(xs), 3)} |`);
  }
  return out.join("\n");
}

function details(R) {
  const out = [];
  if (R.cpu) {
    out.push("CPU runs (ms/event: worker runtime / all workerd; callbacks per second; \"in Miniflare\": no wrangler dev, no inspector):", "");
    if (R.padding) out.push(`The floors' POST bodies and queue messages are padded to the relay's: ${R.padding.BODY_BYTES} B and ${R.padding.MESSAGE_BYTES} B.`, "");
    if (devProxyRetries() > 0) out.push(`wrangler dev's proxy dropped ${devProxyRetries()} requests on their way to a worker (workers-sdk#14641); they were sent again.`, "");
    for (const w of Object.keys(R.cpu)) {
      for (const [key, v] of Object.entries(R.cpu[w])) {
        const runs = v.runs.map((r) => `${f(r.runtime, 3)} / ${f(r.all, 3)} @ ${f(r.perSecond, 0)}/s`).join("; ");
        const again = v.redelivered ? `; ${v.redelivered} deliveries repeated by the queue (at least once)` : "";
        const rows = v.historyRows ? `; history rows: ${v.historyRows.events} events, ${v.historyRows.attempts} attempts, ${v.historyRows.delivered} delivered` : "";
        const [name, mf] = w.split("@");
        out.push(`- ${WORKERS[name].label}${mf ? " in Miniflare" : ""}, ${key}: ${runs}; idle CPU ${f(v.idleMsPerSecond[0], 2)} / ${f(v.idleMsPerSecond[1], 2)} ms per second${again}${rows}`);
      }
    }
    out.push("");
  }
  if (R.profile) {
    out.push("Profile runs (Miniflare, fan-out to 3 targets, ms/event):", "");
    for (const [w, v] of Object.entries(R.profile)) {
      const rows = v.historyRows ? `; history rows: ${v.historyRows.events} events, ${v.historyRows.attempts} attempts, ${v.historyRows.delivered} delivered` : "";
      out.push(`- ${WORKERS[w.replace(/@mf$/, "")].label}: ${v.runs.map((r) => `${f(r.runtime, 3)} @ ${f(r.perSecond, 0)}/s`).join("; ")}${rows}`);
    }
    out.push("");
  }
  if (R.core) {
    out.push("Core steps (criterion, µs, median estimate):", "");
    for (const [k, v] of Object.entries(R.core.times)) out.push(`- ${k}: ${f(v.mid, 3)} (${f(v.low, 3)}–${f(v.high, 3)})`);
    out.push("", "Allocations per call:", "");
    for (const [k, v] of Object.entries(R.core.allocs)) out.push(`- ${k}: ${v.n} (${v.bytes} B)`);
    out.push("");
  }
  return out.join("\n");
}

const R = {};
if (ONLY.has("size") || ONLY.has("cold") || ONLY.has("profile") || (ONLY.has("cpu") && MINIFLARE)) {
  R.size = {};
  for (const w of BUILT) {
    log(`size: wrangler deploy --dry-run ${w}`);
    R.size[w] = dryRun(w);
    UPLOAD[w] = R.size[w].outdir;
  }
  UPLOAD["io-log"] = UPLOAD.io;
  UPLOAD["io-log-lanes"] = UPLOAD.io;
  UPLOAD["io-log-lanes-no-history"] = UPLOAD.io;
}
if (ONLY.has("core")) {
  log("core: cargo bench --bench hot_path");
  R.core = core();
}
if (ONLY.has("cold")) {
  R.cold = { relay: [], io: [], bare: [] };
  // Interleaved, so a burst of load from other users of the machine hits all three alike.
  for (let i = 0; i < COLD_REPS; i++) {
    for (const w of BUILT) {
      log(`cold start ${i + 1}/${COLD_REPS}: ${w}`);
      R.cold[w].push(await coldStart(w, R.size[w].outdir));
    }
  }
}
if (ONLY.has("cpu")) {
  PAD = await relaySizes();
  log(`the relay's POST body ${PAD.BODY_BYTES} B and queue message ${PAD.MESSAGE_BYTES} B: the floors' are padded to these`);
  R.padding = PAD;
  R.cpu = {};
  for (const [key, targets, names] of [
    ["ingest", 0, Object.keys(WORKERS)],
    ["fanout", 3, ["relay", "io", "io-log", "io-log-lanes"]],
  ]) {
    const chosen = names.filter((w) => ONLY_WORKERS.has(w));
    if (!CASES.has(key) || !chosen.length) continue;
    log(`cpu: ${key} (${targets} targets): ${chosen.join(", ")}, runs interleaved`);
    for (const [w, result] of Object.entries(await cpuCase(chosen, targets))) (R.cpu[w] ??= {})[key] = result;
  }
}
if (ONLY.has("profile")) {
  if (!PAD.BODY_BYTES) PAD = await relaySizes();
  const names = ["relay", "relay-one-queue", "relay-no-object", "relay-no-line", "relay-no-history", "io-log", "io-log-lanes", "io-log-lanes-no-history"];
  log(`profile: fan-out (3 targets) in Miniflare: ${names.join(", ")}, runs interleaved`);
  R.profile = await cpuCase(names, 3, { wranglerDev: false });
}
if (ONLY.has("latency")) {
  log(`latency: relay, ${RATE}/s for ${SECONDS} s`);
  R.latency = await latency(QUEUE);
  log(`latency: relay without history, ${RATE}/s for ${SECONDS} s`);
  R.latencyNoHistory = await latency(QUEUE, { history: false });
}
if (ONLY.has("cost")) {
  if (!UPLOAD.relay) UPLOAD.relay = dryRun("relay").outdir;
  R.cost = {};
  for (const targets of [1, 3]) {
    log(`cost: operations per callback, ${targets} target(s), ${COST_N} callbacks in Miniflare`);
    R.cost[targets] = await costCase(targets);
  }
}
if (!ONLY.has("size")) delete R.size;

const M = machine();
const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const text =
  table(R) +
  (R.profile ? `\n\nWhere the relay's fan-out CPU goes (each variant lacks one part; ${REPS} runs × ${N} callbacks each, interleaved):\n\n${profileTable(R)}` : "") +
  (R.cost ? `\n\nCost per callback and per million callbacks a month (prices as published in 2025; check the pricing pages):\n\n${costTable(R.cost)}` : "");
console.log(text);
console.log();
console.log(details(R));
fs.writeFileSync(path.join(TMP, "last-run.json"), JSON.stringify({ when, machine: M, results: R }, null, 2));

if (FULL) {
  const generated = [
    "<!-- bench:begin (generated by `make bench`; edit outside these markers) -->",
    `Run ${when} at ${M.commit}. Machine: ${M.nproc} cores (${M.cpu}), ${M.memGiB} GiB, load average at the end ${M.load};`,
    `node ${M.node}, wrangler ${M.wrangler}, workerd ${M.workerd}, ${M.rustc}.`,
    "",
    text,
    "",
    details(R),
    "<!-- bench:end -->",
  ].join("\n");
  const file = path.join(ROOT, "BENCHMARKS.md");
  const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const re = /<!-- bench:begin[\s\S]*?<!-- bench:end -->/;
  fs.writeFileSync(file, re.test(old) ? old.replace(re, generated) : `${old}\n${generated}\n`);
  log("BENCHMARKS.md updated");
}
