// Bodies shaped for third parties and content filters, declared in TARGETS: a template
// target (a Zapier-style catch hook with flat fields), a Slack preset for companies awaiting
// approval, an ERP that only wants approved companies, and a filter decided at ingest.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MockB2B, resourceFor } from "./mock-b2b.mjs";
import { Receiver, Relay, callback, eventId, waitFor } from "./harness.mjs";

const api = new MockB2B({ abc123: "token-abc" });
const zap = new Receiver("zap");
const sales = new Receiver("sales");
const erp = new Receiver("erp");
const big = new Receiver("big");
let relay;

const TEMPLATE = {
  event: "{{ type }}",
  company_id: "{{ data.company_id }}",
  company: '{{ data.resource.companyName ?? "unknown" }}',
  status: "{{ data.resource.companyStatus }}",
  summary: "Company {{ data.company_id }} ({{ data.resource.companyName }}) in store {{ storehash }}",
  missing: "{{ data.resource.nope }}",
};

before(async () => {
  await api.start();
  for (const r of [zap, sales, erp, big]) await r.start();
  // Company 300 is awaiting approval (companyStatus 0); every other company is approved (1).
  const pending = resourceFor("/companies/300");
  pending.body.data.companyStatus = 0;
  pending.body.data.companyName = 'Quote "Me" & <Co>';
  api.script.set("/companies/300", [pending]);
  relay = await new Relay(
    {
      INGEST_TOKENS: "t",
      ADMIN_TOKEN: "a",
      BC_B2B_API_BASE: api.base,
      BC_ACCESS_TOKEN: "token-abc",
      PUBLIC_URL: "https://relay.example.com",
      RETRY_SCHEDULE_SECONDS: "1",
      TARGETS: JSON.stringify([
        { name: "zap", url: zap.url, events: ["company.*"], enrich: true, format: "template", template: TEMPLATE },
        { name: "sales", url: sales.url, events: ["company.created"], enrich: true, format: "slack", where: { data: { resource: { companyStatus: 0 } } } },
        { name: "erp", url: erp.url, events: ["company.*"], enrich: true, where: { data: { resource: { companyStatus: 1 } } } },
        { name: "big", url: big.url, events: ["company.*"], where: { data: { company_id: { $gte: 100 } } } },
      ]),
    },
    { build: false },
  ).start();
});

after(async () => {
  await relay?.stop();
  for (const r of [zap, sales, erp, big]) await r.stop();
  await api.stop();
});

const only = async (r, id) => {
  const got = await waitFor(() => r.byId(id).length && r.byId(id), { what: `${id} at ${r.name}` });
  assert.equal(got.length, 1);
  return got[0];
};

test("an approved company: the template gets flat fields with JSON types, the ERP its event, Slack nothing", async () => {
  const cb = callback("store/company/created", { company_id: 200 });
  const res = await relay.post(cb);
  const id = eventId(cb);
  // `big` is decided at ingest (no enrichment needed); the enriching ones after enrichment.
  assert.deepEqual(res.json.targets, ["zap", "sales", "erp", "big"]);
  const z = await only(zap, id);
  assert.equal(z.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(z.body), {
    event: "com.bigcommerce.company.created",
    company_id: 200,
    company: "Great Buys Inc.",
    status: 1,
    summary: "Company 200 (Great Buys Inc.) in store abc123",
    missing: null,
  });
  assert.equal(z.headers["webhook-id"], id, "templates are delivered like any format");
  assert.equal(JSON.parse((await only(erp, id)).body).data.resource.companyStatus, 1);
  await only(big, id);
  await relay.settled(id, ["zap", "erp", "big"]);
  assert.equal(sales.byId(id).length, 0, "not awaiting approval: no Slack message");
});

test("a company awaiting approval reaches the sales Slack channel, readable and safely escaped, with a console link", async () => {
  const cb = callback("store/company/created", { company_id: 300 });
  await relay.post(cb);
  const id = eventId(cb);
  const s = await only(sales, id);
  assert.equal(s.headers["content-type"], "application/json");
  const msg = JSON.parse(s.body);
  assert.equal(typeof msg.text, "string");
  assert.ok(Array.isArray(msg.blocks) && msg.blocks.length > 0, s.body);
  assert.ok(s.body.includes("&lt;Co&gt;") && !s.body.includes("<Co>"), "Slack control characters escaped");
  assert.ok(s.body.includes(`https://relay.example.com/console/#/events/${id}`), "links to the event in the console");
  const z = JSON.parse((await only(zap, id)).body);
  assert.equal(z.company, 'Quote "Me" & <Co>', "a name with quotes stays one valid JSON string");
  assert.equal(z.status, 0);
  await relay.settled(id, ["sales", "zap", "big"]);
  assert.equal(erp.byId(id).length, 0, "the ERP only wants approved companies");
});

test("a filter on plain fields is decided at ingest: nothing is enqueued for that target", async () => {
  const cb = callback("store/company/updated", { company_id: 7 });
  const res = await relay.post(cb);
  assert.deepEqual(res.json.targets, ["zap", "erp"]);
  await relay.settled(eventId(cb), ["zap", "erp"]);
  assert.equal(big.byId(eventId(cb)).length, 0);
});

test("the admin view shows each target's template and filter as configured", async () => {
  const res = await relay.call("GET", "/admin/targets", { token: "a" });
  const byName = Object.fromEntries(res.json.targets.map((t) => [t.name, t]));
  assert.equal(byName.zap.format, "template");
  assert.deepEqual(byName.zap.template, TEMPLATE);
  assert.equal(byName.sales.format, "slack");
  assert.deepEqual(byName.erp.where, { data: { resource: { companyStatus: 1 } } });
  assert.equal(byName.big.template, undefined);
});
