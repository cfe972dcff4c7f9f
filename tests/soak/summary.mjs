// Renders a soak report (the JSON that run.mjs writes) as plain-text tables.

function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => (c === null || c === undefined ? "–" : String(c))));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

const fmt = (obj) =>
  Object.entries(obj ?? {})
    .map(([k, v]) => `${k}×${v}`)
    .join(", ");

function targetRows(targets) {
  return Object.entries(targets).map(([name, t]) => [name, t.expected, t.delivered, t.requests, t.duplicates, fmt(t.faults) || "none", t.p50_ms, t.p99_ms]);
}
const TARGET_HEAD = ["target", "expected", "delivered", "requests", "duplicates", "injected faults (answer×n)", "p50 ms", "p99 ms"];

function checks(list) {
  return list.map((c) => `  ${c.ok ? "PASS" : "FAIL"}  ${c.name}${c.ok || !c.detail ? "" : ` — ${c.detail}`}`).join("\n");
}

export function formatSummary(report) {
  const out = [];
  const r5 = report.lanes;
  if (r5) {
    out.push(
      `Run 5: one failing target never slows the others — ${r5.events} events at ${r5.rate}/s into H alone and into H beside D (never answers, timeout 5 s) ` +
        `and F (30 % 500/503), two relays ${r5.together ? "side by side" : "one after the other"}, ${r5.pairs.length} pair(s)${r5.batch_size ? `, lane max_batch_size ${r5.batch_size}` : ""}`,
    );
    const rows = r5.pairs.flatMap((p, i) =>
      [
        [`${i + 1}: H alone`, p.alone],
        [`${i + 1}: H beside D and F`, p.beside],
      ].map(([name, x]) => [name, x.h_delivered, x.h_p50_ms, x.h_p99_ms, x.h_max_ms, x.settled_after_s, x.workerd_cpu_s, x.load_average?.[0]]),
    );
    out.push(table(["run", "H delivered", "H p50 ms", "H p99 ms", "H max ms", "settled s", "workerd CPU s", "load avg (1 min)"], rows));
    for (const [i, p] of r5.pairs.entries()) {
      const b = p.beside;
      out.push(
        `pair ${i + 1}: ratio beside/alone p50 ${p.p50_ratio}, p99 ${p.p99_ratio}; F delivered ${b.f_delivered}/${r5.events} in ${b.f_requests} requests (${b.f_faults} faults); ` +
          `D: ${b.d_requests} requests on ${b.d_connections} connections (first batch ${b.d_first_burst}, then probes ${b.d_probe_gaps_ms.map((g) => `${(g / 1000).toFixed(1)} s`).join(", ")} apart)`,
      );
    }
    out.push(`median ratio beside/alone: p50 ${r5.p50_ratio}, p99 ${r5.p99_ratio}`);
    out.push(checks(r5.checks));
  }
  const r1 = report.faulty;
  if (r1) {
    out.push(
      `Run 1: faulty downstreams — ${r1.events_sent} events sent at ${r1.achieved_rate_per_s}/s (target ${r1.target_rate_per_s}/s), ` +
        `${r1.accepted} accepted; ingest answer p50 ${r1.ingest_p50_ms} ms, p99 ${r1.ingest_p99_ms} ms; ` +
        `C up after ${r1.c_came_up_after_ms} ms; all delivered and quiet ${r1.settled_after_s} s after the first send; dead letters: ${r1.dead_letters}`,
    );
    out.push(table(TARGET_HEAD, targetRows(r1.targets)));
    out.push("latency = first accepted delivery at the target − the relay's 200 to the sender");
    out.push(checks(r1.checks));
  }
  const r2 = report.duplicates;
  if (r2) {
    const cf = r2.concurrent_first;
    out.push(
      `Run 2: duplicate storms — sequential repeats: ${r2.sequential.requests} (${fmt(r2.sequential.answers)}), forwarded again: ${r2.sequential.forwarded_again}; ` +
        `concurrent repeats of seen events: ${r2.concurrent_seen.requests} (${fmt(r2.concurrent_seen.answers)}), forwarded again: ${r2.concurrent_seen.forwarded_again}; ` +
        `new events × 3 copies at once: ${cf.events} events, ${cf.requests} requests (${fmt(cf.answers)}), ` +
        `copies that got through (DEDUP_MODE=${cf.dedup_mode}): ${cf.copies_got_through} of ${cf.extra_copies} (in ${cf.events_with_copies_through} events)`,
    );
    out.push(table(TARGET_HEAD, targetRows(cf.targets)));
    out.push(table(["target", "events", "distinct webhook-ids", "unknown ids"], Object.entries(cf.dedupe_by_webhook_id).map(([n, d]) => [n, d.events, d.distinct_webhook_ids, d.unknown_ids])));
    out.push(checks(r2.checks));
  }
  const r3 = report.hostile;
  if (r3) {
    out.push(`Run 3: hostile input — ${r3.bad_requests} bad requests: ${fmt(r3.statuses)}`);
    out.push(
      table(
        ["category", "tried", "status codes (code×n)", "no answer"],
        Object.entries(r3.by_category).map(([c, v]) => [c, v.tried, fmt(v.statuses) || "none", fmt(v.exceptions) || "none"]),
      ),
    );
    out.push(`valid callback afterwards: ${r3.valid_after.status} ${r3.valid_after.answer}, delivered: ${r3.valid_after.delivered}; /health: ${r3.health_after}`);
    out.push(`valid callbacks near the 64 KiB limit, 5 matching targets: ${r3.large_valid_callbacks.map((b) => `${b.body_bytes} B → ${b.status} ${b.answer}`).join("; ")}`);
    out.push(checks(r3.checks));
  }
  const r4 = report.dying;
  if (r4) {
    out.push(`Run 4: consumers that die mid-delivery — ${r4.events} events, ${r4.accepted} accepted, gone: ${r4.gone}`);
    out.push(
      table(
        ["target", "expected", "delivered", "dead letters", "attempts per event (attempts×events)", "p50 ms", "p99 ms"],
        Object.entries(r4.targets).map(([n, t]) => [n, t.expected, t.delivered, t.dead_letters, fmt(t.attempts_per_event), t.p50_ms, t.p99_ms]),
      ),
    );
    for (const [n, s] of Object.entries(r4.dead_letter_samples)) out.push(`  ${s.key.slice(0, 30)}…: attempts ${s.attempts}, last_error "${s.last_error}"`);
    out.push(checks(r4.checks));
  }
  const r4b = report.crash;
  if (r4b) {
    out.push(
      `Run 4b: consumer crash path (injected) — ${r4b.accepted}/${r4b.events} accepted, ${r4b.dead_letter_records}/${r4b.deliveries} deliveries recorded as dead letters, ` +
        `${r4b.requests_at_target} requests at the target; sample: ${JSON.stringify(r4b.sample)}`,
    );
    out.push(checks(r4b.checks));
  }
  const f = report.final;
  if (f) {
    out.push(
      `All runs: ${f.events} accepted events, ${f.deliveries_due} deliveries due: ${f.delivered} delivered, ${f.dead_letters} dead letters ` +
        `(${f.dead_letters_of_recovering_targets} at targets that recover), lost: ${f.lost}`,
    );
    out.push(checks(f.checks));
  }
  if (report.log) {
    out.push(`Worker log: ${JSON.stringify({ ...report.log, checks: undefined })}`);
    out.push(checks(report.log.checks));
  }
  const all = Object.values(report).flatMap((r) => (r && Array.isArray(r.checks) ? r.checks : []));
  out.push(`${all.filter((c) => c.ok).length}/${all.length} checks passed`);
  return out.join("\n\n");
}
