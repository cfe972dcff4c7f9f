// A broken configuration is reported by name to the operator (/admin/health, the log) and only
// counted to anyone else (/health, ingest's 503), whose texts would name secrets; ingest answers
// 503 (BigCommerce retries) until it is fixed: never a panic, never a target silently skipped.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Relay, callback } from "./harness.mjs";

let relay;

before(async () => {
  relay = await new Relay({
    INGEST_TOKENS: "t",
    ADMIN_TOKEN: "admin",
    TARGETS: JSON.stringify([
      { name: "crm", url: "http://crm.example.com/hook" },
      { name: "crm", url: "https://crm.example.com/other", signing_secret: "MISSING_KEY" },
      { name: "erp", url: "https://erp.example.com", format: "xml" },
    ]),
    DEDUP_TTL_SECONDS: "10",
    // Ingest's authentication and dedup settings are checked with the rest.
    INGEST_AUTH: "signature",
    SIGNATURE_TOLERANCE_SECONDS: "5",
    DEDUP_MODE: "sometimes",
  }).start();
});

after(() => relay?.stop());

let adminCount;
const PROBLEMS = ['TARGETS[0] "crm": url must use https', "secret `MISSING_KEY` is not set", 'TARGETS[2] "erp"', "unknown variant `xml`", "DEDUP_TTL_SECONDS",
  "INGEST_AUTH: `signature` needs BC_CLIENT_SECRETS, which is not set", "SIGNATURE_TOLERANCE_SECONDS: must be whole seconds", "DEDUP_MODE: must be kv or durable"];

test("/admin/health names every problem to the operator", async () => {
  const res = await relay.call("GET", "/admin/health", { token: "admin" });
  assert.equal(res.status, 200);
  assert.equal(res.json.status, "misconfigured");
  const errors = res.json.errors.join("\n");
  for (const want of PROBLEMS) assert.ok(errors.includes(want), `missing ${want} in:\n${errors}`);
  assert.equal(res.json.problems, res.json.errors.length);
  adminCount = res.json.problems;
  assert.equal((await relay.call("GET", "/admin/health", { token: "wrong" })).status, 401);
});

test("/health without the token counts the problems and names none (no secret name)", async () => {
  const res = await relay.call("GET", "/health");
  assert.equal(res.json.status, "misconfigured");
  assert.equal(res.json.problems, adminCount, res.text);
  assert.equal(res.json.errors, undefined);
  assert.ok(!res.text.includes("MISSING_KEY"), res.text);
});

test("ingest answers 503 while the configuration is broken, naming no problem", async () => {
  const res = await relay.post(callback("store/company/created", { company_id: 1 }));
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, "misconfigured");
  assert.match(res.json.error.message, /\d+ problems/);
  assert.ok(!res.text.includes("MISSING_KEY") && !res.text.includes("https"), res.text);
});
