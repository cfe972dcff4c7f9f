// A mock of the B2B Edition REST Management API v3 (../shared/bigcommerce/b2b-api-v3-*.yaml)
// on 127.0.0.1: the five GETs the relay uses, with bodies shaped like the spec's, per-path
// faults (404, 429 with Retry-After, 500, slow) and a log of every call.
import http from "node:http";
import { sleep } from "./harness.mjs";

const ok = (data) => ({ status: 200, body: { code: 200, data, meta: { message: "SUCCESS" } } });

/** Realistic resources, keyed by the path the relay must request. */
export function resourceFor(path) {
  let m;
  if ((m = path.match(/^\/companies\/(\d+)$/)))
    return ok({
      companyId: Number(m[1]), companyName: "Great Buys Inc.", companyEmail: "admin@greatbuys.com", companyPhone: "8001234567",
      companyStatus: 1, bcGroupId: "123", catalogId: 5, uuid: "497f6eca-6276-4993-bfeb-53cbbbba6f08",
      addressLine1: "123 Main St", city: "Austin", state: "Texas", country: "United States", zipCode: "78701",
      extraFields: [{ fieldName: "Tier", fieldValue: "Gold" }], createdAt: 1618794615, updatedAt: 1618794615,
    });
  if ((m = path.match(/^\/users\/(\d+)$/)))
    return ok({ id: Number(m[1]), companyId: 123456, email: "buyer@greatbuys.com", firstName: "Jane", lastName: "Doe", phoneNumber: "5125550100", role: 1, uuid: "8c0f2f2b", channelList: [1], extraFields: [], createdAt: 1618794615, updatedAt: 1618794615 });
  if ((m = path.match(/^\/addresses\/(\d+)$/)))
    return ok({ addressId: Number(m[1]), companyId: 123456, firstName: "Jane", lastName: "Doe", addressLine1: "500 Congress Ave", addressLine2: "", city: "Austin", stateName: "Texas", stateCode: "TX", countryName: "United States", countryCode: "US", zipCode: "78701", phoneNumber: "5125550100", isShipping: true, isBilling: true, isDefaultShipping: false, isDefaultBilling: true });
  if ((m = path.match(/^\/super-admins\/info\/(\d+)$/)))
    return ok({ id: Number(m[1]), email: "rep@merchant.com", firstName: "Sam", lastName: "Rep", phoneNumber: "5125550101", customerId: 343, extraFields: [] });
  if ((m = path.match(/^\/rfq\/(\d+)$/)))
    return ok({ quoteId: Number(m[1]), quoteNumber: "Q-1001", quoteTitle: "Spring order", status: 0, currency: { currencyCode: "USD", token: "$" }, grandTotal: "1200.00", subtotal: "1200.00", companyInfo: { companyId: "123456", companyName: "Great Buys Inc." }, productList: [{ sku: "SKU-1", productName: "Widget", quantity: 100, basePrice: "12.00" }], createdAt: 1618794615 });
  return { status: 404, body: { code: 404, data: {}, meta: { message: "Not Found" } } };
}

export class MockB2B {
  /** tokens: store hash → X-Auth-Token the store accepts. */
  constructor(tokens) {
    this.tokens = tokens;
    this.calls = [];
    /** path (without query) → array of scripted answers, consumed in order, the last repeating. */
    this.script = new Map();
    this.server = http.createServer(async (req, res) => {
      const url = new URL(req.url, "http://x");
      const path = url.pathname.replace(/^\/api\/v3\/io/, "");
      this.calls.push({ path, query: url.search, headers: req.headers, at: Date.now() });
      const store = req.headers["x-store-hash"];
      let answer;
      if (!store || this.tokens[store] !== req.headers["x-auth-token"]) {
        answer = { status: 401, body: { code: 401, data: {}, meta: { message: "Invalid token" } } };
      } else if (this.script.has(path)) {
        const steps = this.script.get(path);
        answer = steps.length > 1 ? steps.shift() : steps[0];
        if (answer === "resource") answer = resourceFor(path);
      } else {
        answer = resourceFor(path);
      }
      if (answer.delayMs) await sleep(answer.delayMs);
      res.writeHead(answer.status, { "content-type": "application/json", ...(answer.headers ?? {}) });
      res.end(JSON.stringify(answer.body ?? { code: answer.status, data: {}, meta: { message: "error" } }));
    });
  }
  async start() {
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${this.server.address().port}/api/v3/io`;
    return this;
  }
  stop() {
    this.server.closeAllConnections?.();
    return new Promise((r) => this.server.close(r));
  }
  callsTo(path) {
    return this.calls.filter((c) => c.path === path);
  }
}
