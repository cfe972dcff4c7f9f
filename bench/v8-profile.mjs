// `node bench/v8-profile.mjs` (after `make bench` or `BENCH_ONLY=cpu node bench/run.mjs`, which
// write bench/.tmp/upload-relay): a V8 CPU profile of the relay's worker isolate in Miniflare,
// fan-out to 3 targets (receivers on 127.0.0.1), history on, 1000 callbacks after 400 of
// warm-up, grouped by what the time is spent on. The profiler is attached through the
// inspector, which inflates `console.log` (every line becomes a DevTools message) and may keep
// wasm from its optimizing tier: read the shares of the runtime calls, not the wasm total
// (the core benchmark measures the Rust). Writes bench/.tmp/relay.cpuprofile (Chrome DevTools).
// A JS frame of the bundle is grouped by the wasm-bindgen import it is in (`__wbg_<name>`).
// With a bundle whose wasm keeps its names section (`KEEP_WASM_NAMES=1 npx wrangler deploy
// --dry-run --outdir /tmp/named`, over the upload budget), it also lists the Rust functions.
// `PROFILE_FLOOR=1 PROFILE_BUNDLE=<floor's upload> BODY_BYTES=… MESSAGE_BYTES=…`: the same
// for the I/O floor (bench/floors/io with log lines and lane queues; the sizes `make bench`
// prints, padded to the relay's), so both can be read side by side. With `--compare`,
// `PROFILE_FLOOR=<dir>` runs that one bundle as the floor: the relay against its floor in turns.
// Each run also counts its consumer batches (log lines) and the receivers' connections.
// `PROFILE_COUNT=1`: no profile; the calls from the wasm into JS per callback, by import.
//
// `node bench/v8-profile.mjs --compare A B [rounds]`: no profiler; two upload bundles (e.g. a
// copy of `bench/.tmp/upload-relay` and `target/upload` after `make size`) in turns, A then B,
// `rounds` times (5), each a fresh Miniflare with the same warm-up and 1000 callbacks; prints the
// CPU of the whole workerd process per 1000 callbacks for each, and the medians. Taking turns is
// what tells a small change from this machine's drift between runs. With `PROFILE_CALLGRIND=1`
// and workerd under callgrind (`MINIFLARE_WORKERD_PATH`; BENCHMARKS.md, "Instructions instead of
// seconds"): instructions counted between the warm-up and the end, which do not drift.
import path from "node:path";
import fs from "node:fs";
import http from "node:http";
import { execFileSync } from "node:child_process";
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const { Miniflare } = await import(path.join(ROOT, "node_modules/miniflare/dist/src/index.js"));
const WebSocket = (await import(path.join(ROOT, "node_modules/ws/index.js"))).default;
const { callback, median } = await import(path.join(ROOT, "tests/e2e/harness.mjs"));
// `PROFILE_COUNT=1`: instead of a profile, the calls the wasm makes into JS (its wasm-bindgen
// imports) per callback, counted by a wrapper around each import in a copy of the bundle.
const COUNT = process.env.PROFILE_COUNT === "1";
const COUNTING_PRELUDE = `globalThis.__calls = Object.create(null);
{ const I = WebAssembly.Instance;
  WebAssembly.Instance = function (m, imports) {
    for (const mod of Object.values(imports))
      for (const [k, f] of Object.entries(mod)) {
        if (typeof f !== "function") continue;
        const name = k.replace(/^__wbg(indgen)?_/, "").replace(/_[0-9a-f]{16}$/, "");
        mod[k] = function (...a) { globalThis.__calls[name] = (globalThis.__calls[name] ?? 0) + 1; return f.apply(this, a); };
      }
    return new I(m, imports);
  };
}
`;
function countingCopy(outdir) {
  const dir = fs.mkdtempSync(path.join(ROOT, "bench/.tmp/counting-"));
  for (const f of fs.readdirSync(outdir)) fs.copyFileSync(path.join(outdir, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, "index.js"), COUNTING_PRELUDE + fs.readFileSync(path.join(outdir, "index.js"), "utf8"));
  return dir;
}

/** Receivers, a Miniflare running the bundle in `outdir`, its schema, and the warm-up. */
async function start(outdir, profile) {
  let got = 0;
  let bytes = 0;
  let batches = 0;
  let connections = 0;
  const servers = [];
  const urls = [];
  for (let i = 0; i < 3; i++) {
    const s = http.createServer((req, res) => { req.on("data", (d) => (bytes += d.length)); req.on("end", () => { got++; res.writeHead(200); res.end(); }); });
    s.on("connection", () => connections++);
    await new Promise((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    urls.push(`http://127.0.0.1:${s.address().port}/`);
  }
  // `PROFILE_FLOOR=1` (or the bundle's directory): the I/O floor (bench/floors/io: log lines,
  // lane queues, history).
  const floor = process.env.PROFILE_FLOOR === "1" || (process.env.PROFILE_FLOOR ?? "").split(",").map((d) => path.resolve(d)).includes(outdir);
  const prefix = floor ? "floor-io" : "b2b-relay";
  const lanes = {}; for (let i = 1; i <= (floor ? 3 : 7); i++) lanes[`LANE_${i}`] = { queueName: `${prefix}-lane-${i}` };
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
    queueProducers: { DELIVERIES: { queueName: `${prefix}-deliveries` }, ...lanes },
    queueConsumers: Object.fromEntries([`${prefix}-deliveries`, ...Object.values(lanes).map((l) => l.queueName)].map((q) => [q, { maxBatchSize: 6, maxBatchTimeout: 1, maxRetries: 5 }])),
    d1Databases: ["HISTORY"],
    ...(floor ? {} : { durableObjects: { TARGET_LANES: "TargetLane", DEDUP_SHARDS: "DedupShard" } }),
    // The floor's POST bodies and queue messages padded to the relay's: `BODY_BYTES` and
    // `MESSAGE_BYTES` as `make bench` prints them (the relay's profile prints its POST size).
    bindings: floor
      ? { TARGET_URLS: urls.join(","), LOG_LINES: "1", LANE_QUEUES: "1", BODY_BYTES: process.env.BODY_BYTES ?? "0", MESSAGE_BYTES: process.env.MESSAGE_BYTES ?? "0" }
      : {
          INGEST_TOKENS: "t",
          // Under callgrind a delivery can outlast the default 10 s timeout: 120 s there.
          TARGETS: JSON.stringify(urls.map((url, i) => ({ name: `t${i}`, url, signing_secret: "KEY", ...(CALLGRIND ? { timeout_ms: 120000 } : {}) }))),
          KEY: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        },
    ...(profile ? { inspectorPort: 9231 } : {}),
    handleRuntimeStdio: (o, e) => {
      // Consumer batches, counted from their log lines (relay and floor write one per batch).
      let tail = "";
      o.on("data", (d) => {
        const text = tail + d;
        const parts = text.split("\n");
        tail = parts.pop();
        for (const l of parts) if (l.includes('"msg":"deliveries"')) batches++;
      });
      if (process.env.PROFILE_STDERR === "1") e.on("data", (d) => process.stderr.write(d)); else e.resume();
    },
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
        const init = { method: "POST", headers: { authorization: "Bearer t", "content-type": "application/json" }, body: JSON.stringify(callback("store/company/user/created", { company_id: 100000 + n, user_id: n++ })), ...(CALLGRIND ? { dispatcher: NO_KEEP_ALIVE } : {}) };
        // Under callgrind a connection is now and then closed unanswered (when callgrind_control
        // interrupts the process): sent again, the relay's dedup takes it if it had arrived.
        for (let tries = CALLGRIND ? 3 : 1; ; tries--) {
          try {
            await (await fetch(`${url}/webhooks/bigcommerce`, init)).text();
            break;
          } catch (e) {
            if (tries <= 1) throw e;
          }
        }
      }
    }));
    while (got < start + count * 3) await new Promise((r) => setTimeout(r, 20));
  };
  await send(WARMUP);
  const stop = async () => { await mf.dispose(); for (const s of servers) s.close(); };
  return { send, stop, postBytes: () => bytes / got, batches: () => batches, connections: () => connections };
}

// `PROFILE_WARMUP`, `PROFILE_CALLBACKS`: other counts (400 and 1000), e.g. under callgrind.
const WARMUP = Number(process.env.PROFILE_WARMUP ?? 400);
const CALLBACKS = Number(process.env.PROFILE_CALLBACKS ?? 1000);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
/** CPU time of a process, in ms. */
function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

// `PROFILE_CALLGRIND=1` (with `MINIFLARE_WORKERD_PATH` naming a script that runs workerd under
// `valgrind --tool=callgrind`): instructions instead of CPU time, millions per 1000 callbacks.
const CALLGRIND = process.env.PROFILE_CALLGRIND === "1";
/** `callgrind_control -z` (zero) or `-d` (dump) the process; a dump's instruction count, in millions. */
function callgrind(pid, what) {
  const before = new Set(fs.readdirSync(CALLGRIND_DIR));
  execFileSync("callgrind_control", [what, pid]);
  if (what === "-z") return 0;
  const dump = fs.readdirSync(CALLGRIND_DIR).find((f) => f.startsWith(`cg.${pid}.`) && !before.has(f));
  const text = fs.readFileSync(path.join(CALLGRIND_DIR, dump), "utf8");
  return (Number(/^summary: (\d+)/m.exec(text)?.[1] ?? /^totals: (\d+)/m.exec(text)?.[1]) / 1e6);
}
// Under callgrind workerd is ~50 times slower and closes idle keep-alive connections while a
// request is on its way: one connection per callback there (both bundles alike).
const NO_KEEP_ALIVE = CALLGRIND ? new (await import(path.join(ROOT, "node_modules/undici/index.js"))).Agent({ pipelining: 0 }) : undefined;
const CALLGRIND_DIR = process.env.CALLGRIND_DIR ?? "/tmp/vg";
const compare = process.argv.indexOf("--compare");
if (compare >= 0) {
  const [a, b, rounds = "5"] = process.argv.slice(compare + 1);
  const ms = [[], []];
  for (let r = 0; r < Number(rounds); r++) {
    for (const [i, dir] of [a, b].entries()) {
      const run = await start(path.resolve(dir), false);
      // The workerd just started (the newest one): this Miniflare's.
      const pid = execFileSync("pgrep", CALLGRIND ? ["-n", "-f", "workerd serve"] : ["-n", "workerd"]).toString().trim();
      // `PROFILE_SEGMENTS=k`: k measurements in a row in one process (how the cost moves as the
      // isolate warms up); the last one counts.
      const b0 = run.batches();
      for (let k = Number(process.env.PROFILE_SEGMENTS ?? 1); k > 0; k--) {
        const c0 = CALLGRIND ? callgrind(pid, "-z") : cpuMs(pid);
        await run.send(CALLBACKS);
        const x = (((CALLGRIND ? callgrind(pid, "-d") : cpuMs(pid)) - c0) * 1000) / CALLBACKS;
        if (k > 1) console.log(`${dir}: segment of ${CALLBACKS}: ${x.toFixed(0)} per 1000 callbacks`);
        else ms[i].push(x);
      }
      const b = run.batches() - b0;
      await run.stop();
      console.log(`${dir}: ${ms[i].at(-1).toFixed(0)} ${CALLGRIND ? "M instructions" : "ms CPU"} per 1000 callbacks, ${b} consumer batches, ${run.connections()} connections at the receivers`);
    }
  }
  const [ma, mb] = ms.map(median);
  // Each round's B over its A as well: the machine drifts over a run, a round's pair less so.
  const paired = median(ms[1].map((x, r) => x / ms[0][r]));
  console.log(`median: ${a} ${ma.toFixed(0)} ms, ${b} ${mb.toFixed(0)} ms, B/A ${(mb / ma).toFixed(3)}; median of the rounds' B/A ${paired.toFixed(3)}`);
  process.exit(0);
}

// `PROFILE_BUNDLE=dir`: another upload bundle (e.g. `target/upload` after `make size`).
const outdir = path.resolve(process.env.PROFILE_BUNDLE ?? path.join(ROOT, "bench/.tmp/upload-relay"));
const bundle = COUNT ? countingCopy(outdir) : outdir;
const { send, stop, postBytes } = await start(bundle, true);
console.log(`${outdir}: ${postBytes().toFixed(0)} B per POST body`);
const targets = await (await fetch("http://127.0.0.1:9231/json")).json();
// The user worker's isolate (the others are Miniflare's KV, queue and D1 services).
const t = targets.find((x) => /core:user/.test(x.title ?? "")) ?? targets[0];
const ws = new WebSocket(t.webSocketDebuggerUrl);
await new Promise((r) => ws.on("open", r));
let id = 0;
const pending = new Map();
const contexts = [];
ws.on("message", (m) => {
  const d = JSON.parse(m);
  if (d.method === "Runtime.executionContextCreated") contexts.push(d.params.context.id);
  if (pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); }
});
const cmd = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
if (COUNT) {
  const read = async () => {
    const r = await cmd("Runtime.evaluate", { expression: "JSON.stringify(globalThis.__calls)", returnByValue: true, contextId: contexts.at(-1) });
    if (!r.result?.result?.value) throw new Error(`no counts from the isolate: ${JSON.stringify(r).slice(0, 300)}`);
    return JSON.parse(r.result.result.value);
  };
  await cmd("Runtime.enable");
  const before = await read();
  await send(1000);
  const after = await read();
  const rows = Object.keys(after).map((k) => [k, (after[k] - (before[k] ?? 0)) / 1000]).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  console.log(`calls from the wasm into JS per callback (3 targets): ${rows.reduce((a, [, n]) => a + n, 0).toFixed(1)}`);
  for (const [k, n] of rows) console.log(`${n.toFixed(2).padStart(8)}  ${k}`);
  ws.close();
  await stop();
  fs.rmSync(bundle, { recursive: true, force: true });
  process.exit(0);
}
await cmd("Profiler.enable");
await cmd("Profiler.setSamplingInterval", { interval: 200 });
await cmd("Profiler.start");
await send(1000);
const { result } = await cmd("Profiler.stop");
const p = result.profile;
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const dt = new Map();
// A sample's time is capped at 100 ms: on this 2-core machine the sampling thread is now and
// then held up for about a second, and that whole gap would be charged to whatever frame the
// next sample hits (a "lump" of ~1 s in a different place each run). Shorter delays are common
// (the 200 µs interval is rarely kept) and spread evenly enough to keep.
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + Math.min(p.timeDeltas[i] ?? 0, 100_000));
// By line and column: the relay's bundle is minified into one line, the floor's is not.
const src = fs.readFileSync(path.join(outdir, "index.js"), "utf8");
const lineStart = [0];
for (let i = src.indexOf("\n"); i >= 0; i = src.indexOf("\n", i + 1)) lineStart.push(i + 1);
/** wasm-bindgen import names (`__wbg_<name>_<hash>`) grouped as the table below reads them. */
const GLUE = {
  log: "console.log (inspector attached: inflated)",
  error: "console.log (inspector attached: inflated)",
  cancel: "response body cancel",
  queueMicrotask: "microtasks (async Rust: wasm-bindgen-futures)",
  setTimeout: "timers (fetch timeout race)",
  clearTimeout: "timers (fetch timeout race)",
  new_0: "new Date (clock)",
  getTime: "new Date (clock)",
};
const cats = new Map(); let total = 0;
const wasmFns = new Map();
const add = (k, us) => cats.set(k, (cats.get(k) ?? 0) + us);
for (const [nid, us] of dt) {
  total += us;
  const cf = byId.get(nid).callFrame; const fn = cf.functionName; const url = cf.url;
  let k;
  if (fn === "(idle)") k = "idle";
  else if (fn === "(program)" || fn === "(garbage collector)") k = "runtime: program, GC";
  else if (/^wasm:/.test(url) || /^wasm-function|^js-to-wasm|^wasm-to-js/.test(fn)) {
    k = "wasm (the relay's Rust) and its boundary";
    // Named only in a build that keeps the names section (KEEP_WASM_NAMES=1, below).
    const name = fn.replace(/\[[0-9a-f]{16}\]/g, "");
    wasmFns.set(name, (wasmFns.get(name) ?? 0) + us);
  }
  else if (/d1-api/.test(url)) k = "D1 JS API (cloudflare-internal)";
  else if (/index\.js/.test(url)) {
    // A wasm-bindgen import is `function(…){…},"__wbg_<name>_<hash>"`: the first such name after
    // the frame's position is its own (a window of text would catch the neighbours' calls).
    const rest = src.slice((lineStart[cf.lineNumber] ?? 0) + cf.columnNumber);
    const glue = /"__wbg(?:indgen)?_([A-Za-z0-9_]+?)(?:_[0-9a-f]{16})?"/.exec(rest)?.[1] ?? `${fn || "anonymous"}`;
    k = GLUE[glue] ?? `other JS glue: ${glue}`;
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

if ([...wasmFns.keys()].some((n) => n.includes("::"))) {
  console.log("\nthe wasm's functions by self time, ms per 1000 callbacks:");
  for (const [n, us] of [...wasmFns].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(us / 1000).toFixed(0).padStart(6)} ms  ${n.slice(0, 150)}`);
}

fs.writeFileSync(path.join(ROOT, "bench/.tmp/relay.cpuprofile"), JSON.stringify(p));
ws.close();
await stop();
