// Issue 4's reliability runs at small size, so `make test` fails when a change loses events,
// forwards a duplicate or a bad request, or lets a dying consumer swallow a delivery. The same
// runs at full size: `make soak` (tests/soak/run.mjs); figures in RELIABILITY.md.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { finalAccounting, logFindings, runCrashPath, runDuplicates, runDying, runFaulty, runHostile, setup, startCrashRelay } from "../soak/runs.mjs";

const log = process.env.SOAK_VERBOSE ? (m) => process.stderr.write(`[reliability] ${m}\n`) : () => {};
let ctx;
let crash; // the second relay of run 4b, booting while runs 1-4 go on

/** One subtest per check of a run, named after it, failing with its detail. */
async function assertChecks(t, report) {
  t.diagnostic(JSON.stringify({ ...report, checks: undefined }).slice(0, 2000));
  for (const c of report.checks) await t.test(c.name, () => assert.ok(c.ok, c.detail));
}

describe("reliability", () => {
  before(async () => {
    ctx = await setup({ seed: 11, log });
    // Only once the first relay has built build/: the second serves it without building.
    crash = startCrashRelay({ log }).then(
      (c) => ({ c }),
      (e) => ({ e }),
    );
  });
  after(async () => {
    await ctx?.stop();
    await (await crash)?.c?.stop();
  });

  test("run 1: 100 events at 50/s into a healthy, a 30 %-faulty and an 8 s-down target all arrive", async (t) => {
    const r = await runFaulty(ctx, { events: 100, rate: 50, outageMs: 8_000, settleMs: 90_000, quietMs: 3_000 });
    assert.ok(r.achieved_rate_per_s >= 45, `sent at ${r.achieved_rate_per_s}/s`);
    await assertChecks(t, r);
  });

  test("run 2: 50 events × 3: repeats are answered duplicate; concurrent copies stay dedupable by webhook-id", async (t) => {
    assert.ok(ctx.run1, "run 1 must have run");
    await assertChecks(t, await runDuplicates(ctx, { events: 50, settleMs: 90_000, quietMs: 3_000 }));
  });

  let hostile;
  test("run 3: 100 bad requests get a 4xx and deliver nothing; the relay still works", async (t) => {
    hostile = await runHostile(ctx, { count: 100, seed: 13, quietMs: 3_000 });
    assert.ok(hostile.bad_requests >= 100);
    await assertChecks(t, hostile);
  });

  // Five ~61 KB messages exceed one 256 KB queue batch: ingest must split them.
  test("valid callbacks near the 64 KiB limit fanned out to 5 targets are accepted", () => {
    for (const b of hostile?.large_valid_callbacks ?? [{ status: "not run" }]) assert.equal(b.status, 200, JSON.stringify(b));
  });

  test("run 4: consumers killed or hung mid-delivery: retried or dead-lettered, never gone", async (t) => {
    await assertChecks(t, await runDying(ctx, { events: 5, settleMs: 60_000, quietMs: 3_000 }));
  });

  test("all runs: every accepted event delivered or dead-lettered at each matching target", async (t) => {
    await assertChecks(t, await finalAccounting(ctx, { settleMs: 60_000 }));
  });

  test("the worker's log: no consumer crash, no secret", async (t) => {
    await assertChecks(t, logFindings(ctx));
  });

  test("run 4b: deliveries the consumer crashed on (injected) become dead-letter records", async (t) => {
    const { c, e } = await crash;
    assert.ok(c, `the second relay did not start: ${e}`);
    await assertChecks(t, await runCrashPath(c, { events: 3, settleMs: 45_000 }));
  });
});
