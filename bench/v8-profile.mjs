// `node bench/v8-profile.mjs` (after `make bench` or `BENCH_ONLY=cpu node bench/run.mjs`, which
// write bench/.tmp/upload-relay): a V8 CPU profile of the relay's worker isolate in Miniflare,
// fan-out to 3 targets (receivers on 127.0.0.1), history on, 1000 callbacks after 400 of
// warm-up, grouped by what the time is spent on. The profiler is attached through the
// inspector, which inflates `console.log` (every line becomes a DevTools message) and may keep
// wasm from its optimizing tier: read the shares of the runtime calls, not the wasm total
// (the core benchmark measures the Rust). Writes bench/.tmp/relay.cpuprofile (Chrome DevTools).
//
// `node bench/v8-profile.mjs --compare A B [rounds]`: no profiler; two upload bundles (e.g. a
// copy of `bench/.tmp/upload-relay` and `target/upload` after `make size`) in turns, A then B,
// `rounds` times (5), each a fresh Miniflare with the same warm-up and 1000 callbacks; prints the
// CPU of the whole workerd process per 1000 callbacks for each, and the medians. Taking turns is
// what tells a small change from this machine's drift between runs.
import path from "node:path";
import fs from "node:fs";
import http from "node:http";
import { execFileSync } from "node:child_process";
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const { Miniflare } = await import(path.join(ROOT, "node_modules/miniflare/dist/src/index.js"));
const WebSocket = (await import(path.join(ROOT, "node_modules/ws/index.js"))).default;
const { callback, median } = await import(path.join(ROOT, "tests/e2e/harness.mjs"));
/** Receivers, a Miniflare running the bundle in `outdir`, its schema, and the warm-up. */
async function start(outdir, profile) {
  let got = 0;
  const servers = [];
  const urls = [];
  for (let i = 0; i < 3; i++) {
    const s = http.createServer((req, res) => { req.resume(); req.on("end", () => { got++; res.writeHead(200); res.end(); }); });
    await new Promise((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    urls.push(`http://127.0.0.1:${s.address().port}/`);
  }
  const lanes = {}; for (let i = 1; i <= 7; i++) lanes[`LANE_${i}`] = { queueName: `b2b-relay-lane-${i}` };
  // The entry and the one wasm it imports: `target/upload` also keeps every earlier build's.
  const wasm = /[0-9a-f]{40}-index_bg\.wasm/.exec(fs.readFileSync(path.join(outdir, "index.js"), "utf8"))?.[0] ?? "index_bg.wasm";
  const mf = new Miniflare({
    modulesRoot: outdir,
    modules: [
      { type: "ESModule", path: path.join(outdir, "index.js") },
      { type: "CompiledWasm", path: path.join(outdir, wasm) },
    ],
    compatibilityDate: "2026-04-01",
    kvNamespaces: ["DEDUP", "DEAD_LETTERS"],
    queueProducers: { DELIVERIES: { queueName: "b2b-relay-deliveries" }, ...lanes },
    queueConsumers: Object.fromEntries(["b2b-relay-deliveries", ...Object.values(lanes).map((l) => l.queueName)].map((q) => [q, { maxBatchSize: 6, maxBatchTimeout: 1, maxRetries: 5 }])),
    d1Databases: ["HISTORY"],
    durableObjects: { TARGET_LANES: "TargetLane", DEDUP_SHARDS: "DedupShard" },
    bindings: {
      INGEST_TOKENS: "t",
      TARGETS: JSON.stringify(urls.map((url, i) => ({ name: `t${i}`, url, signing_secret: "KEY" }))),
      KEY: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    },
    ...(profile ? { inspectorPort: 9231 } : {}),
    handleRuntimeStdio: (o, e) => (o.resume(), e.resume()),
  });
  const url = (await mf.ready).href.replace(/\/$/, "");
  const db = await mf.getD1Database("HISTORY");
  for (const f of fs.readdirSync(path.join(ROOT, "migrations")).sort()) {
    const sql = fs.readFileSync(path.join(ROOT, "migrations", f), "utf8").split("\n").filter((l) => !l.trim().startsWith("--")).join("\n");
    for (const st of sql.split(/;\s*\n/).map((x) => x.trim()).filter(Boolean)) await db.prepare(st).run();
  }
  let n = 0;
  const send = async (count) => {
    const start = got;
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < count) {
        next++;
        const r = await fetch(`${url}/webhooks/bigcommerce`, { method: "POST", headers: { authorization: "Bearer t", "content-type": "application/json" }, body: JSON.stringify(callback("store/company/user/created", { company_id: 100000 + n, user_id: n++ })) });
        await r.text();
      }
    }));
    while (got < start + count * 3) await new Promise((r) => setTimeout(r, 20));
  };
  await send(400);
  const stop = async () => { await mf.dispose(); for (const s of servers) s.close(); };
  return { send, stop };
}

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
/** CPU time of a process, in ms. */
function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const compare = process.argv.indexOf("--compare");
if (compare >= 0) {
  const [a, b, rounds = "5"] = process.argv.slice(compare + 1);
  const ms = [[], []];
  for (let r = 0; r < Number(rounds); r++) {
    for (const [i, dir] of [a, b].entries()) {
      const run = await start(path.resolve(dir), false);
      // The workerd just started (the newest one): this Miniflare's.
      const pid = execFileSync("pgrep", ["-n", "workerd"]).toString().trim();
      const c0 = cpuMs(pid);
      await run.send(1000);
      ms[i].push(cpuMs(pid) - c0);
      await run.stop();
      console.log(`${dir}: ${ms[i].at(-1).toFixed(0)} ms CPU per 1000 callbacks`);
    }
  }
  const [ma, mb] = ms.map(median);
  console.log(`median: ${a} ${ma.toFixed(0)} ms, ${b} ${mb.toFixed(0)} ms, B/A ${(mb / ma).toFixed(3)}`);
  process.exit(0);
}

// `PROFILE_BUNDLE=dir`: another upload bundle (e.g. `target/upload` after `make size`).
const outdir = path.resolve(process.env.PROFILE_BUNDLE ?? path.join(ROOT, "bench/.tmp/upload-relay"));
const { send, stop } = await start(outdir, true);
const targets = await (await fetch("http://127.0.0.1:9231/json")).json();
// The user worker's isolate (the others are Miniflare's KV, queue and D1 services).
const t = targets.find((x) => /core:user/.test(x.title ?? "")) ?? targets[0];
const ws = new WebSocket(t.webSocketDebuggerUrl);
await new Promise((r) => ws.on("open", r));
let id = 0;
const pending = new Map();
ws.on("message", (m) => { const d = JSON.parse(m); if (pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); } });
const cmd = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
await cmd("Profiler.enable");
await cmd("Profiler.setSamplingInterval", { interval: 200 });
await cmd("Profiler.start");
await send(1000);
const { result } = await cmd("Profiler.stop");
const p = result.profile;
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const src = fs.readFileSync(path.join(outdir, "index.js"), "utf8");
const cats = new Map(); let total = 0;
const add = (k, us) => cats.set(k, (cats.get(k) ?? 0) + us);
for (const [nid, us] of dt) {
  total += us;
  const cf = byId.get(nid).callFrame; const fn = cf.functionName; const url = cf.url;
  let k;
  if (fn === "(idle)") k = "idle";
  else if (fn === "(program)" || fn === "(garbage collector)") k = "runtime: program, GC";
  else if (/^wasm-function|^js-to-wasm|^wasm-to-js/.test(fn)) k = "wasm (the relay's Rust) and its boundary";
  else if (/d1-api/.test(url)) k = "D1 JS API (cloudflare-internal)";
  else if (/index\.js/.test(url) && !fn) {
    const text = src.slice(cf.columnNumber, cf.columnNumber + 120);
    if (/console\.log|console\.error/.test(text)) k = "console.log (inspector attached: inflated)";
    else if (/cancel\(\)/.test(text)) k = "response body cancel";
    else if (/queueMicrotask/.test(text)) k = "microtasks (async Rust: wasm-bindgen-futures)";
    else if (/Reflect\.get|Reflect\.set|Reflect\.apply|\.apply\(/.test(text)) k = "Reflect get/set/apply (env, bindings)";
    else if (/setTimeout|clearTimeout/.test(text)) k = "timers (fetch timeout race)";
    else if (/new Date/.test(text)) k = "new Date (clock)";
    else if (/\.get\(w\(/.test(text)) k = "env/headers get";
    else k = "other JS glue: " + text.slice(0, 40);
  }
  else if (fn === "queueMicrotask") k = "microtasks (async Rust: wasm-bindgen-futures)";
  else if (["fetch", "Request", "text", "Headers", "set"].includes(fn)) k = "fetch, Request, headers, body text";
  else if (["get", "put", "set kv"].includes(fn)) k = "KV get/put";
  else if (fn === "sendBatch") k = "queue sendBatch";
  else if (fn === "clearTimeout" || fn === "setTimeout") k = "timers (fetch timeout race)";
  else k = "other: " + fn;
  add(k, us);
}
const busy = total - (cats.get("idle") ?? 0);
console.log(`busy ${(busy / 1000).toFixed(0)} ms for 1000 callbacks (3 targets), ms per 1000 callbacks and share of busy time:`);
for (const [k, us] of [...cats].sort((a, b) => b[1] - a[1])) if (k !== "idle") console.log(`${(us / 1000).toFixed(0).padStart(6)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${k}`);

fs.writeFileSync(path.join(ROOT, "bench/.tmp/relay.cpuprofile"), JSON.stringify(p));
ws.close();
await stop();
