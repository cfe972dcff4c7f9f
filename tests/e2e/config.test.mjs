// A broken configuration is reported by name and ingest answers 503 (BigCommerce retries)
// until it is fixed: never a panic, never a target silently skipped.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Relay, callback } from "./harness.mjs";

let relay;

before(async () => {
  relay = await new Relay({
    INGEST_TOKENS: "t",
    TARGETS: JSON.stringify([
      { name: "crm", url: "http://crm.example.com/hook" },
      { name: "crm", url: "https://crm.example.com/other", signing_secret: "MISSING_KEY" },
      { name: "erp", url: "https://erp.example.com", format: "xml" },
    ]),
    DEDUP_TTL_SECONDS: "10",
  }).start();
});

after(() => relay?.stop());

test("/health names every problem", async () => {
  const body = await (await fetch(`${relay.url}/health`)).json();
  assert.equal(body.status, "misconfigured");
  const errors = body.errors.join("\n");
  for (const want of ['TARGETS[0] "crm": url must use https', "secret `MISSING_KEY` is not set", 'TARGETS[2] "erp"', "unknown variant `xml`", "DEDUP_TTL_SECONDS"]) {
    assert.ok(errors.includes(want), `missing ${want} in:\n${errors}`);
  }
});

test("ingest answers 503 while the configuration is broken", async () => {
  const res = await relay.post(callback("store/company/created", { company_id: 1 }));
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, "misconfigured");
  assert.match(res.json.error.message, /url must use https/);
});
