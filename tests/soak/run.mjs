#!/usr/bin/env node
// `make soak`: the reliability runs of issue 4 at full size against the built worker in
// `wrangler dev`, with a summary table on stdout and the figures as JSON. Exits 1 if any check
// fails, 2 if the time budget runs out (everything it started is stopped either way).
//
//   node tests/soak/run.mjs [--events 1000] [--rate 50] [--bad 500] [--outage 30]
//        [--dying 20] [--crash 10] [--lanes-events 600] [--lanes-rate 20] [--seed 1]
//        [--lanes-together] [--lanes-batch N] [--lanes-repeat 2] [--budget 1020] [--json PATH]
//        [--only lanes|duplicates] [--dedup kv|durable]
//   --only duplicates: run 1 (whose callbacks run 2 repeats) and run 2 alone.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { finalAccounting, logFindings, runCrashPath, runDuplicates, runDying, runFaulty, runHostile, runLanes, setup, startCrashRelay } from "./runs.mjs";
import { formatSummary } from "./summary.mjs";

const { values: opt } = parseArgs({
  options: {
    events: { type: "string", default: "1000" },
    rate: { type: "string", default: "50" },
    bad: { type: "string", default: "500" },
    outage: { type: "string", default: "30" },
    dying: { type: "string", default: "20" },
    crash: { type: "string", default: "10" },
    "lanes-events": { type: "string", default: "600" },
    "lanes-rate": { type: "string", default: "20" },
    only: { type: "string" },
    dedup: { type: "string", default: "kv" },
    "lanes-together": { type: "boolean" },
    "lanes-batch": { type: "string" },
    "lanes-repeat": { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
    budget: { type: "string", default: "1020" },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (opt.help) {
  console.log(
    "usage: node tests/soak/run.mjs [--events N] [--rate PER_S] [--bad N] [--outage SECONDS] " +
      "[--dying N] [--crash N] [--lanes-events N] [--lanes-rate PER_S] [--lanes-together] [--lanes-batch N] [--lanes-repeat 2] [--seed N] [--budget SECONDS] [--json PATH] [--only lanes|duplicates] [--dedup kv|durable]",
  );
  process.exit(0);
}
const num = (k) => {
  const v = Number(opt[k]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${k} must be a non-negative number`);
    process.exit(64);
  }
  return v;
};
const params = {
  events: num("events"),
  rate: num("rate"),
  bad: num("bad"),
  outageSeconds: num("outage"),
  dying: num("dying"),
  crash: num("crash"),
  lanesEvents: num("lanes-events"),
  lanesRate: num("lanes-rate"),
  seed: num("seed"),
  budgetSeconds: num("budget"),
};

const started = Date.now();
const log = (m) => process.stderr.write(`[soak +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);
const report = {
  started_at: new Date(started).toISOString(),
  params,
  machine: { nproc: os.availableParallelism?.() ?? os.cpus().length, memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)), node: process.version, load_average_at_start: os.loadavg().map((x) => Number(x.toFixed(2))) },
};

let ctx;
let crash;
let stopping = false;
async function finish(code) {
  if (stopping) return;
  stopping = true;
  clearTimeout(budgetTimer);
  for (const running of [ctx, crash]) {
    try {
      await running?.stop();
    } catch {}
  }
  report.finished_at = new Date().toISOString();
  report.duration_s = Math.round((Date.now() - started) / 1000);
  report.machine.load_average_at_end = os.loadavg().map((x) => Number(x.toFixed(2)));
  console.log(formatSummary(report));
  console.log(`\nduration: ${report.duration_s} s`);
  if (opt.json) {
    fs.mkdirSync(path.dirname(path.resolve(opt.json)), { recursive: true });
    fs.writeFileSync(opt.json, JSON.stringify(report, null, 2) + "\n");
    console.log(`figures written to ${opt.json}`);
  }
  process.exit(code);
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => finish(130));
const budgetTimer = setTimeout(() => {
  log(`time budget of ${params.budgetSeconds} s exhausted: stopping`);
  report.aborted = `time budget of ${params.budgetSeconds} s exhausted`;
  finish(2);
}, params.budgetSeconds * 1000);

try {
  // Run 5 first: its latency figures are the ones that matter, taken before the long runs.
  if (!["kv", "durable"].includes(opt.dedup)) throw new Error("--dedup must be kv or durable");
  if (params.lanesEvents > 0 && opt.only !== "duplicates") report.lanes = await runLanes({ events: params.lanesEvents, rate: params.lanesRate, seed: params.seed + 4, together: Boolean(opt["lanes-together"]), batchSize: opt["lanes-batch"] ? Number(opt["lanes-batch"]) : null, repeat: num("lanes-repeat"), log });
  if (opt.only === "lanes") throw Symbol.for("done");
  ctx = await setup({ seed: params.seed, dedup: opt.dedup, log });
  report.faulty = await runFaulty(ctx, { events: params.events, rate: params.rate, outageMs: params.outageSeconds * 1000 });
  report.duplicates = await runDuplicates(ctx);
  if (opt.only === "duplicates") throw Symbol.for("done");
  report.hostile = await runHostile(ctx, { count: params.bad, seed: params.seed + 2 });
  report.dying = await runDying(ctx, { events: params.dying });
  report.final = await finalAccounting(ctx);
  report.log = logFindings(ctx);
  await ctx.stop();
  ctx = null;
  if (params.crash > 0) {
    crash = await startCrashRelay({ log });
    report.crash = await runCrashPath(crash, { events: params.crash });
  }
} catch (e) {
  if (e === Symbol.for("done")) {
    const failed = Object.values(report).some((r) => r && Array.isArray(r.checks) && r.checks.some((c) => !c.ok));
    await finish(failed ? 1 : 0);
  }
  report.error = String(e?.stack ?? e);
  log(`error: ${report.error}`);
  await finish(1);
}
const failed = Object.values(report).some((r) => r && Array.isArray(r.checks) && r.checks.some((c) => !c.ok));
await finish(failed ? 1 : 0);
